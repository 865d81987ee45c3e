package kernelmodel

import (
	"sort"

	"github.com/tlbemu/emu/internal/phys"
)

// memfd files (mm/memfd.c, mm/shmem.c, v5.10) and the file-fault paths of
// mm/memory.c (do_fault → do_read_fault / do_cow_fault / do_shared_fault,
// do_wp_page → wp_page_shared / wp_pfn_shared).
//
// A memfd is a shmem inode: a page cache (index → frame, the cache holding
// one reference on each page) and i_size. The file lives while an fd-table
// slot refers to it or a VMA maps it (shmemRelease checks both); then the
// cache is truncated.
//
// The same page cache holds tmpfs files and the host's read-only files
// (vfs.go); fault-around is in pagecache.go. Not modelled: the page lock, dirty/writeback accounting (shmem has
// none that matters here), seals, MFD_HUGETLB, swap.

// Syscall numbers and constants for memfd and file I/O.
const (
	sysPread64     = 17
	sysPwrite64    = 18
	sysFtruncate   = 77
	sysMemfdCreate = 319

	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdHugetlb      = 0x4
	mfdNameMaxLen   = 249 // NAME_MAX - strlen("memfd:")

	EFBIG     = 27
	ESPIPE    = 29
	EOVERFLOW = 75

	// maxShmemSize bounds i_size (MAX_LFS_FILESIZE in Linux; the model's
	// frames run out long before).
	maxShmemSize = uint64(1) << 62
)

// shmemFile is a memfd's inode and address_space.
type shmemFile struct {
	name  string
	size  uint64              // i_size
	cache map[uint64]phys.PFN // page cache; iterated only through indexes()
	opens int                 // fd-table slots referring to the file
	freed bool
	// host is the host file whose pages the cache holds (read-only: the
	// pages are read in on first access, never written back); "" for
	// shmem.
	host    string
	backing []byte // the host file's bytes when already read (the executable, the interpreter)
	tmpfs   bool   // a tmpfs file: its pages count against the size limit
	linked  bool   // a tmpfs file with a name (not unlinked)
	// ra and raMark are a host file's readahead state (struct
	// file_ra_state, per inode here) and its PG_readahead pages.
	ra     raState
	raMark map[uint64]bool
	ino    *inode // the inode (tmpfs and host files)
}

// indexes returns the cached page indexes >= from, sorted.
func (s *shmemFile) indexes(from uint64) []uint64 {
	var ix []uint64
	for i := range s.cache {
		if i >= from {
			ix = append(ix, i)
		}
	}
	sort.Slice(ix, func(a, b int) bool { return ix[a] < ix[b] })
	return ix
}

// pgoff returns vm_pgoff: the file page index mapped at vma.start.
func (vma *VMA) pgoff() uint64 { return uint64(int64(vma.start>>12) + vma.fileBias) }

// linearPageIndex models linear_page_index.
func (vma *VMA) linearPageIndex(addr uint64) uint64 {
	return uint64(int64(addr>>12) + vma.fileBias)
}

// sysMemfdCreate models memfd_create(name, flags).
func (v *VCPU) sysMemfdCreate(uname, flags uint64) int64 {
	if flags&^uint64(mfdCloexec|mfdAllowSealing|mfdHugetlb) != 0 {
		return -EINVAL
	}
	if flags&mfdHugetlb != 0 {
		return -EINVAL // hugetlbfs is not modelled
	}
	name, err := v.strncpyFromUser(uname, mfdNameMaxLen+1)
	if err == -ENAMETOOLONG {
		return -EINVAL
	}
	if err != 0 {
		return err
	}
	s := &shmemFile{name: "memfd:" + name, cache: map[uint64]phys.PFN{}, opens: 1}
	return v.curr.mm.installFDFrom(&file{kind: fileMemfd, shm: s, flags: oRdwr}, 0, flags&mfdCloexec != 0)
}

// shmemGetPage models find_get_page and, on a miss, the page's creation:
// for shmem shmem_getpage_gfp (if alloc, SGP_CACHE/SGP_WRITE: a new
// zeroed page, charged against the tmpfs size limit; !alloc, SGP_READ: 0
// for a hole), for a host file the read of a page cache miss
// (filemap_fault → page_cache_sync_readahead → ->readpage, one page):
// a new page filled from the host file, a hole only at or beyond i_size.
// The cache holds one reference on each page; the page goes on the LRU.
func (v *VCPU) shmemGetPage(s *shmemFile, index uint64, alloc bool) (phys.PFN, error) {
	m := v.m
	fs := m.fs()
	if p, ok := s.cache[index]; ok {
		fs.pagecache.hits++
		return p, nil
	}
	if s.host != "" {
		if index >= (s.size+0xfff)>>12 {
			return 0, nil
		}
	} else if !alloc {
		return 0, nil
	}
	fs.pagecache.misses++
	if s.tmpfs && fs.tmpfsLimit != 0 && fs.tmpfsPages >= fs.tmpfsLimit {
		return 0, errNoSpace // shmem_inode_acct_block: the size= limit
	}
	p, err := m.allocPage() // refcount 1: the page cache's reference
	if err != nil {
		return 0, err
	}
	if s.host != "" {
		if err := s.readPage(index, m.mem.Frame(p)[:]); err != nil {
			m.putPage(p)
			return 0, err
		}
		v.spend(m.cfg.Costs.AllocPage + m.cfg.Costs.CopyPage)
	} else {
		v.spend(m.cfg.Costs.AllocPage + m.cfg.Costs.ZeroPage)
	}
	if s.tmpfs {
		fs.tmpfsPages++
	}
	s.cache[index] = p
	v.lruCacheAdd(p)
	return p, nil
}

// shmemRelease frees the page cache of a file that no fd and no VMA refers
// to any more (the final iput → shmem_evict_inode → truncate).
func (v *VCPU) shmemRelease(s *shmemFile) {
	if s.freed || s.opens > 0 || s.linked || s.host != "" {
		return // a named tmpfs file keeps its pages; a host file's cache stays
	}
	for _, mm := range v.m.mms {
		for _, vma := range mm.vmas {
			if vma.file == s {
				return
			}
		}
	}
	s.freed = true
	v.shmemTruncatePages(s, 0)
}

// releaseDetached drops the file references of VMAs that were unmapped.
func (v *VCPU) releaseDetached(gone []*VMA) {
	for _, vma := range gone {
		if vma.file != nil {
			v.shmemRelease(vma.file)
		}
	}
}

// shmemTruncatePages removes the cached pages at index >= from and drops
// the cache's reference on each (shmem_undo_range).
func (v *VCPU) shmemTruncatePages(s *shmemFile, from uint64) {
	for _, i := range s.indexes(from) {
		p := s.cache[i]
		delete(s.cache, i)
		v.m.putPage(p)
		if s.tmpfs {
			v.m.fs().tmpfsPages--
		}
	}
}

// sysFtruncate models ftruncate(fd, length) on a memfd (shmem_setattr):
// on a shrink, i_size drops, every mapping of the file beyond the new end
// is zapped (unmap_mapping_range with even_cows: private COW copies too),
// the cache beyond the end is truncated and the tail of a partial last
// page is zeroed.
func (v *VCPU) sysFtruncate(fd int, length uint64) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if f.shm == nil || !f.canWrite() || f.shm.host != "" {
		return -EINVAL // do_sys_ftruncate: not FMODE_WRITE
	}
	if int64(length) < 0 {
		return -EINVAL
	}
	if length > maxShmemSize {
		return -EFBIG
	}
	s := f.shm
	old := s.size
	s.size = length
	if length < old {
		holeBegin := (length + 0xfff) >> 12
		v.unmapMappingRange(s, holeBegin)
		v.shmemTruncatePages(s, holeBegin)
		if off := length & 0xfff; off != 0 {
			if p, ok := s.cache[length>>12]; ok {
				fr := v.m.mem.Frame(p)
				clear(fr[off:])
			}
		}
	}
	return 0
}

// unmapMappingRange models unmap_mapping_range(mapping, from, 0, 1): zap
// every PTE of every VMA mapping file pages >= from, with an mmu_gather per
// range (which flushes). Linux walks the i_mmap tree under i_mmap_rwsem;
// the model walks every mm's VMA list (in mm order) under that mm's
// mmap_lock for read.
func (v *VCPU) unmapMappingRange(s *shmemFile, from uint64) {
	for _, mm := range v.m.mms {
		if mm.dead {
			continue
		}
		v.mmapReadLock(mm)
		type rng struct{ start, end uint64 }
		var rs []rng
		for _, vma := range mm.vmas {
			if vma.file != s {
				continue
			}
			start := vma.start
			if vma.pgoff() < from {
				d := from - vma.pgoff()
				if d >= (vma.end-vma.start)>>12 {
					continue
				}
				start += d << 12
			}
			rs = append(rs, rng{start, vma.end})
		}
		for _, r := range rs {
			t := v.tlbGatherMMU(mm, r.start, r.end)
			v.zapRange(t, r.start, r.end)
			v.tlbFinishMMU(t)
		}
		v.mmapReadUnlock(mm)
	}
}

// shmemRead copies up to n bytes from the file at pos to buf (shmem_file_read_iter:
// holes read as zeros without allocating).
func (v *VCPU) shmemRead(s *shmemFile, buf, n, pos uint64) int64 {
	if pos >= s.size {
		return 0
	}
	n = min(n, s.size-pos, 1<<20)
	b := make([]byte, n)
	for done := uint64(0); done < n; {
		at := pos + done
		chunk := min(n-done, 4096-at&0xfff)
		p, _ := v.shmemGetPage(s, at>>12, false)
		if p != 0 {
			copy(b[done:done+chunk], v.m.mem.Frame(p)[at&0xfff:])
		}
		done += chunk
	}
	v.spend(v.m.cfg.Costs.CopyPage * ((n + 4095) / 4096))
	if err := v.copyToUser(buf, b); err != 0 {
		return err
	}
	return int64(n)
}

// shmemWrite copies n bytes from buf into the file at pos, allocating
// pages (SGP_WRITE) and extending i_size (shmem_write_begin/_end).
func (v *VCPU) shmemWrite(s *shmemFile, buf, n, pos uint64) int64 {
	n = min(n, 1<<20)
	if pos > maxShmemSize || n > maxShmemSize-pos {
		return -EFBIG
	}
	b := make([]byte, n)
	if err := v.copyFromUser(b, buf); err != 0 {
		return err
	}
	for done := uint64(0); done < n; {
		at := pos + done
		chunk := min(n-done, 4096-at&0xfff)
		if s.host != "" {
			return -EBADF // never reached: host files are opened read-only
		}
		p, err := v.shmemGetPage(s, at>>12, true)
		if err != nil {
			if done == 0 {
				return -ENOSPC
			}
			n = done
			break
		}
		copy(v.m.mem.Frame(p)[at&0xfff:], b[done:done+chunk])
		done += chunk
	}
	v.spend(v.m.cfg.Costs.CopyPage * ((n + 4095) / 4096))
	s.size = max(s.size, pos+n)
	return int64(n)
}

// fileRW is read/write/pread64/pwrite64 on a memfd; pos < 0 uses and
// advances the file position.
func (v *VCPU) fileRW(f *file, buf, n uint64, pos int64, write bool) int64 {
	at := f.pos
	if pos >= 0 {
		at = uint64(pos)
	}
	if write && f.flags&oAppend != 0 {
		// generic_write_checks: IOCB_APPEND writes at i_size (pwrite too,
		// as pwrite(2) BUGS says)
		at = f.shm.size
		if pos < 0 {
			f.pos = at
		}
	}
	var ret int64
	if write {
		ret = v.shmemWrite(f.shm, buf, n, at)
	} else {
		ret = v.shmemRead(f.shm, buf, n, at)
	}
	if ret > 0 && pos < 0 {
		f.pos += uint64(ret)
	}
	return ret
}

// sysPreadPwrite models pread64/pwrite64.
func (v *VCPU) sysPreadPwrite(fd int, buf, n, off uint64, write bool) int64 {
	f := v.curr.mm.fd(fd)
	if f == nil {
		return -EBADF
	}
	if int64(off) < 0 {
		return -EINVAL
	}
	if f.shm == nil {
		return -ESPIPE
	}
	return v.fileRW(f, buf, n, int64(off), write)
}

// mmapFile models mmap of a memfd (ksys_mmap_pgoff → do_mmap →
// mmap_region with shmem_mmap) under mmap_write_lock. off is the byte
// offset (x86 sys_mmap: must be page aligned).
func (v *VCPU) mmapFile(addr, length, prot, flags uint64, fd int64, off uint64) int64 {
	if off&0xfff != 0 {
		return -EINVAL
	}
	mm := v.curr.mm
	f := mm.fd(int(fd))
	if f == nil {
		return -EBADF
	}
	if length == 0 || prot&^uint64(protRead|protWrite|protExec) != 0 {
		return -EINVAL
	}
	length = (length + 0xfff) &^ 0xfff
	if length == 0 || length > taskSize {
		return -ENOMEM
	}
	pgoff := off >> 12
	if pgoff+length>>12 < pgoff {
		return -EOVERFLOW
	}
	typ := flags & (mapShared | mapPrivate)
	if typ != mapShared && typ != mapPrivate {
		return -EINVAL
	}
	if f.shm == nil {
		return -ENODEV // no mmap file operation
	}
	// do_mmap: the open mode bounds the mapping.
	if !f.canRead() || (typ == mapShared && prot&protWrite != 0 && !f.canWrite()) {
		return -EACCES
	}
	if f.flags&oAppend != 0 && typ == mapShared && prot&protWrite != 0 {
		return -EACCES
	}
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	addr, errno := v.getUnmappedAreaLocked(mm, addr, length, flags)
	if errno != 0 {
		return errno
	}
	vf := mmapVMFlags(prot, typ)
	if !f.canWrite() {
		vf &^= VM_MAYWRITE | VM_SHARED // do_mmap: MAP_SHARED of a read-only file
	}
	vma := &VMA{start: addr, end: addr + length, flags: vf, name: f.shm.name, file: f.shm,
		fileBias: int64(pgoff) - int64(addr>>12)}
	mm.insertVMA(vma)
	v.spend(v.m.cfg.Costs.SyscallEntryExit)
	return int64(addr)
}

// doFault models do_fault (v5.10) for a none PTE in a file VMA: no
// ->fault (not a memfd) is SIGBUS; a read fault is do_read_fault, a write
// fault on a private mapping do_cow_fault, on a shared one do_shared_fault.
func (v *VCPU) doFault(vmf *vmFault) int {
	if vmf.vma.file == nil {
		return vmFaultSIGBUS
	}
	switch {
	case vmf.flags&faultFlagWrite == 0:
		return v.doReadFault(vmf)
	case vmf.vma.flags&VM_SHARED == 0:
		return v.doCowFault(vmf)
	default:
		return v.doSharedFault(vmf)
	}
}

// shmemFault models __do_fault → shmem_fault: the cache page for the
// faulting address (allocated for a hole) with a reference for the
// caller; SIGBUS at or beyond i_size.
func (v *VCPU) shmemFault(vmf *vmFault) (phys.PFN, int) {
	s := vmf.vma.file
	index := vmf.vma.linearPageIndex(vmf.address)
	if index<<12 >= s.size || index >= 1<<52 {
		return 0, vmFaultSIGBUS
	}
	if s.host != "" {
		// filemap_fault: async readahead on a hit (unless retried), the
		// synchronous read-around on a miss (pagecache.go).
		if _, ok := s.cache[index]; ok {
			if vmf.flags&faultFlagTried == 0 {
				v.asyncMmapReadahead(vmf.vma, s, index)
			}
		} else {
			v.syncMmapReadahead(vmf.vma, s, index)
		}
	}
	p, err := v.shmemGetPage(s, index, true)
	if err == errNoSpace || err == errHostRead {
		return 0, vmFaultSIGBUS // vmf_error(-ENOSPC), filemap_fault's -EIO
	}
	if err != nil {
		return 0, vmFaultOOM
	}
	if p == 0 {
		return 0, vmFaultSIGBUS
	}
	v.m.getPage(p) // find_lock_entry's reference, handed to the PTE
	return p, 0
}

// finishFault models finish_fault → alloc_set_pte (v5.10): install page
// under the PTL if the slot is still empty. A COW page gets
// page_add_new_anon_rmap and the LRU; a cache page page_add_file_rmap. The
// PTE takes over the caller's reference; false means it did not (the slot
// was filled meanwhile: VM_FAULT_NOPAGE) and the caller drops it.
func (v *VCPU) finishFault(vmf *vmFault, page phys.PFN, cow bool) bool {
	m := v.m
	vma := vmf.vma
	entry := mkPTE(page, vmPageProt(vma.flags)) // pte_sw_mkyoung: no-op on x86
	if vmf.flags&faultFlagWrite != 0 {
		entry = pteMkdirty(entry)
		if vma.flags&VM_WRITE != 0 {
			entry = pteMkwrite(entry) // maybe_mkwrite
		}
	}
	v.spinLock(vmf.ptl)
	if !pteNone(m.mem.LoadPTE(vmf.pte)) {
		v.spinUnlock(vmf.ptl)
		return false
	}
	if cow {
		vma.anonVMA = true // do_cow_fault: anon_vma_prepare
		m.pageAddNewAnonRmap(page)
		v.lruCacheAdd(page)
	} else {
		m.pages[page].mapcount++ // page_add_file_rmap
	}
	m.mem.StorePTE(vmf.pte, entry) // set_pte_at; no flush: the slot was empty
	v.spinUnlock(vmf.ptl)
	return true
}

// doReadFault models do_read_fault (mm/memory.c, v5.10): with
// fault_around_bytes above one page, do_fault_around first maps the
// cached pages around the address (shmem_vm_ops and the host files'
// generic_file_vm_ops both have .map_pages = filemap_map_pages), and if
// that mapped the faulting page the fault is done; otherwise __do_fault
// gets the page and finish_fault maps it with vm_page_prot — read-only
// for a private mapping, writable (clean) for a shared writable one.
func (v *VCPU) doReadFault(vmf *vmFault) int {
	if v.m.faultAroundPages() > 1 && v.doFaultAround(vmf) {
		return 0 // VM_FAULT_NOPAGE
	}
	p, ret := v.shmemFault(vmf)
	if ret != 0 {
		return ret
	}
	if !v.finishFault(vmf, p, false) {
		v.m.putPage(p)
	}
	return 0
}

// doCowFault models do_cow_fault: a write fault on a private file mapping
// copies the cache page into a new anonymous page mapped writable; the
// file is not changed.
func (v *VCPU) doCowFault(vmf *vmFault) int {
	m := v.m
	cow, err := m.allocPage() // alloc_page_vma
	if err != nil {
		return vmFaultOOM
	}
	v.spend(m.cfg.Costs.AllocPage)
	p, ret := v.shmemFault(vmf)
	if ret != 0 {
		m.putPage(cow)
		return ret
	}
	*m.mem.Frame(cow) = *m.mem.Frame(p) // copy_user_highpage
	v.spend(m.cfg.Costs.CopyPage)
	if !v.finishFault(vmf, cow, true) {
		m.putPage(cow)
	}
	m.putPage(p) // unlock_page; put_page(vmf->page)
	return 0
}

// doSharedFault models do_shared_fault: shmem has no ->page_mkwrite, so
// the cache page is mapped writable and dirty; fault_dirty_shared_page
// (set_page_dirty) has nothing to account for shmem.
func (v *VCPU) doSharedFault(vmf *vmFault) int {
	p, ret := v.shmemFault(vmf)
	if ret != 0 {
		return ret
	}
	if !v.finishFault(vmf, p, false) {
		v.m.putPage(p)
	}
	return 0
}

// wpPageShared models wp_page_shared (do_wp_page on a cache page of a
// VM_WRITE|VM_SHARED mapping), entered with the PTL held: no
// ->page_mkwrite for shmem, so get_page, wp_page_reuse (writable + dirty,
// no copy, no flush, drops the PTL), fault_dirty_shared_page, put_page.
func (v *VCPU) wpPageShared(vmf *vmFault, page phys.PFN) int {
	v.m.getPage(page)
	v.wpPageReuse(vmf)
	v.m.putPage(page)
	return vmFaultWrite
}

// wpPfnShared models wp_pfn_shared without ->pfn_mkwrite: wp_page_reuse.
func (v *VCPU) wpPfnShared(vmf *vmFault) int {
	v.wpPageReuse(vmf)
	return vmFaultWrite
}
