package kernelmodel

import (
	"errors"
	"io"
	"os"

	"github.com/tlbemu/emu/internal/phys"
)

// The page cache's fault-side helpers: fault-around (mm/memory.c
// do_fault_around, mm/filemap.c filemap_map_pages, v5.10), host page
// reads, msync and the zap of dirty shared file pages.

var (
	errNoSpace  = errors.New("kernelmodel: tmpfs is full")
	errHostRead = errors.New("kernelmodel: reading a host file")
)

// readPage fills b with page index of a host file's contents.
func (s *shmemFile) readPage(index uint64, b []byte) error {
	if s.backing != nil {
		n := 0
		if index<<12 < uint64(len(s.backing)) {
			n = copy(b, s.backing[index<<12:])
		}
		clear(b[n:])
		return nil
	}
	return readHostPage(s.host, index, b)
}

// readHostPage fills b with page index of the host file path (zeros past
// its end). The file is opened read-only for each miss.
func readHostPage(path string, index uint64, b []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return errHostRead
	}
	defer f.Close()
	n, err := f.ReadAt(b, int64(index<<12))
	if err != nil && err != io.EOF {
		return errHostRead
	}
	clear(b[n:])
	return nil
}

// faultAroundPages returns fault_around_bytes in pages as
// fault_around_bytes_set stores it (mm/memory.c, v5.10): at most a PTE
// table (PTRS_PER_PTE pages), rounded down to a power of two, and one
// page for anything up to PAGE_SIZE.
func (m *Machine) faultAroundPages() uint64 {
	b := min(m.cfg.FaultAroundBytes, 512*4096)
	if b <= 4096 {
		return 1
	}
	p := uint64(4096)
	for p*2 <= b {
		p *= 2
	}
	return p >> 12
}

// doFaultAround models do_fault_around (v5.10): the window is
// fault_around_bytes aligned down around the address, clipped to the VMA
// and to the PTE table; filemap_map_pages maps every page of the window
// that is in the page cache (and inside i_size) into an empty PTE, read
// only for a private mapping (vm_page_prot), not dirty, not young. It
// returns true when the faulting address got mapped (VM_FAULT_NOPAGE).
func (v *VCPU) doFaultAround(vmf *vmFault) bool {
	m := v.m
	vma := vmf.vma
	s := vma.file
	nr := m.faultAroundPages()
	address := vmf.address
	mask := ^(nr<<12 - 1)
	start := max(address&mask, vma.start)
	off := ((address - start) >> 12) & 511
	startPg := vma.linearPageIndex(address) - off
	endPg := startPg - ((start >> 12) & 511) + 511
	endPg = min(endPg, vma.linearPageIndex(vma.end-4096), startPg+nr-1)
	maxIdx := (s.size + 0xfff) >> 12
	v.spinLock(vmf.ptl)
	solved := false
	for idx := startPg; idx <= endPg; idx++ {
		if idx >= maxIdx {
			break // filemap_map_pages: page->index >= max_idx
		}
		p, ok := s.cache[idx] // xas_for_each: only cached, uptodate pages
		if !ok || s.raMark[idx] {
			continue // a PG_readahead page is left for filemap_fault's async readahead
		}
		a := start + (idx-startPg)<<12
		slot := vmf.pte - phys.Addr(int64(vmf.address-a)>>12*8)
		if !pteNone(m.mem.LoadPTE(slot)) {
			continue // alloc_set_pte: VM_FAULT_NOPAGE for this one
		}
		m.fs().pagecache.hits++
		if s.ra.mmapMiss > 0 {
			s.ra.mmapMiss--
		}
		m.getPage(p)          // page_cache_get_speculative
		m.pages[p].mapcount++ // page_add_file_rmap
		v.c.Clock += m.cfg.Costs.PTEUpdate
		m.mem.StorePTE(slot, mkPTE(p, vmPageProt(vma.flags))) // alloc_set_pte, no write: clean
		if a == address {
			solved = true
		} else {
			m.fs().pagecache.faultAroundPages++
		}
	}
	v.spinUnlock(vmf.ptl)
	return solved
}

// tlbFlushMMUTLBOnly models tlb_flush_mmu_tlbonly: flush what the gather
// has batched, without freeing its pages.
func (v *VCPU) tlbFlushMMUTLBOnly(t *mmuGather) {
	if !(t.freedTables || t.clearedPTEs || t.clearedPMDs) {
		return
	}
	stride := uint(12) // tlb_get_unmap_shift
	if !t.clearedPTEs && t.clearedPMDs {
		stride = 21
	}
	if t.fullmm {
		v.flushTLBMMRange(t.mm, 0, tlbFlushAllEnd, stride, t.freedTables)
	} else {
		v.flushTLBMMRange(t.mm, t.start, t.end, stride, t.freedTables)
	}
	t.resetRange()
}

// msync flags (include/uapi/asm-generic/mman-common.h).
const (
	sysMsync     = 26
	msAsync      = 1
	msInvalidate = 2
	msSync       = 4
)

// sysMsync models msync (mm/msync.c, v5.10): the argument checks, then
// for each VMA of the range: MS_INVALIDATE of a VM_LOCKED one is -EBUSY;
// MS_SYNC of a shared file mapping is vfs_fsync_range, a no-op for shmem
// (and for the read-only host files, which have no dirty pages); a hole
// in the range is -ENOMEM after the rest was done.
func (v *VCPU) sysMsync(start, length, flags uint64) int64 {
	if flags&^uint64(msAsync|msInvalidate|msSync) != 0 || start&0xfff != 0 {
		return -EINVAL
	}
	if flags&msAsync != 0 && flags&msSync != 0 {
		return -EINVAL
	}
	length = (length + 0xfff) &^ 0xfff
	end := start + length
	if end < start {
		return -ENOMEM
	}
	if end == start {
		return 0
	}
	mm := v.curr.mm
	v.mmapReadLock(mm)
	defer v.mmapReadUnlock(mm)
	unmapped := false
	for a := start; a < end; {
		vma := mm.findVMAAbove(a)
		if vma == nil || vma.start >= end {
			return -ENOMEM
		}
		if vma.start > a {
			unmapped = true
			a = vma.start
			if a >= end {
				break
			}
		}
		if flags&msInvalidate != 0 && vma.flags&VM_LOCKED != 0 {
			return -EBUSY
		}
		a = vma.end
	}
	if unmapped {
		return -ENOMEM
	}
	return 0
}

// PageCacheCounts returns the page-cache counters of the run: lookups
// that found the page, misses (pages created or read in), and pages
// mapped by fault-around besides the faulting one.
func (m *Machine) PageCacheCounts() (hits, misses, faultAround uint64) {
	if m.vfsState == nil {
		return 0, 0, 0
	}
	c := m.vfsState.pagecache
	return c.hits, c.misses, c.faultAroundPages
}
