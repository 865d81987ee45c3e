package kernelmodel

import (
	"encoding/binary"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// userfaultfd UAPI (include/uapi/linux/userfaultfd.h, v5.10).
const (
	uffdAPI = 0xAA

	uffdioAPI          = 0xc018aa3f
	uffdioRegister     = 0xc020aa00
	uffdioUnregister   = 0x8010aa01
	uffdioWake         = 0x8010aa02
	uffdioCopy         = 0xc028aa03
	uffdioZeropage     = 0xc020aa04
	uffdioWriteprotect = 0xc018aa06

	// ioctl numbers, as bit positions of the ioctls masks.
	_UFFDIO_REGISTER     = 0x00
	_UFFDIO_UNREGISTER   = 0x01
	_UFFDIO_WAKE         = 0x02
	_UFFDIO_COPY         = 0x03
	_UFFDIO_ZEROPAGE     = 0x04
	_UFFDIO_WRITEPROTECT = 0x06
	_UFFDIO_API          = 0x3F

	uffdAPIIoctls      = 1<<_UFFDIO_REGISTER | 1<<_UFFDIO_UNREGISTER | 1<<_UFFDIO_API
	uffdAPIRangeIoctls = 1<<_UFFDIO_WAKE | 1<<_UFFDIO_COPY | 1<<_UFFDIO_ZEROPAGE | 1<<_UFFDIO_WRITEPROTECT

	uffdioRegisterModeMissing = 1 << 0
	uffdioRegisterModeWP      = 1 << 1

	uffdioCopyModeDontwake         = 1 << 0
	uffdioCopyModeWP               = 1 << 1
	uffdioZeropageModeDontwake     = 1 << 0
	uffdioWriteprotectModeWP       = 1 << 0
	uffdioWriteprotectModeDontwake = 1 << 1

	uffdEventPagefault     = 0x12
	uffdPagefaultFlagWrite = 1 << 0
	uffdPagefaultFlagWP    = 1 << 1

	uffdFeaturePagefaultFlagWP = 1 << 0
	uffdFeatureSigbus          = 1 << 7
	uffdFeatureThreadID        = 1 << 8
	// uffdAPIFeatures is what this model offers: the features that change
	// nothing it does not model. The non-cooperative events (fork, remap,
	// remove, unmap) and hugetlbfs/shmem missing faults are not offered, so
	// asking for them fails with EINVAL as on a kernel without them.
	uffdAPIFeatures = uffdFeaturePagefaultFlagWP | uffdFeatureSigbus | uffdFeatureThreadID

	sizeofUffdMsg = 32

	// UFFD_SHARED_FCNTL_FLAGS = O_CLOEXEC | O_NONBLOCK
	oNonblock = 0x800   // O_NONBLOCK
	oCloexec  = 0x80000 // O_CLOEXEC
)

// vmFaultNoPage is VM_FAULT_NOPAGE: the fault was handled without a page;
// the access is retried.
const vmFaultNoPage = 0x0100

// userfaultCtx is a userfaultfd context (struct userfaultfd_ctx,
// fs/userfaultfd.c). Fields are touched only by the baton holder.
type userfaultCtx struct {
	mm       *MM    // ctx->mm: the mm whose faults it receives
	flags    uint64 // O_NONBLOCK / O_CLOEXEC given to userfaultfd(2)
	features uint64 // ctx->features, set by UFFDIO_API
	running  bool   // ctx->state == UFFD_STATE_RUNNING (UFFDIO_API done)
	released bool   // ctx->released: the last file reference is gone
	files    int    // references from open file tables (the struct file's count)

	pending []*uffdWaiter // fault_pending_wqh: faults not yet read, oldest first
	waiting []*uffdWaiter // fault_wqh: faults read, not yet woken
	readers []*Task       // fd_wqh: tasks sleeping in read(2)
}

// uffdWaiter is a struct userfaultfd_wait_queue: a task sleeping in
// handle_userfault and the message describing its fault.
type uffdWaiter struct {
	t       *Task
	flags   uint64 // msg.arg.pagefault.flags
	address uint64 // msg.arg.pagefault.address (page aligned in v5.10)
	ptid    uint32 // msg.arg.pagefault.feat.ptid
}

// sysUserfaultfd models userfaultfd(2) (fs/userfaultfd.c, v5.10): a new
// context for the caller's mm in state UFFD_STATE_WAIT_API, on a new fd.
// The caller is taken to be privileged (vm.unprivileged_userfaultfd does
// not matter).
func (v *VCPU) sysUserfaultfd(flags uint64) int64 {
	if flags&^uint64(oCloexec|oNonblock) != 0 {
		return -EINVAL
	}
	mm := v.curr.mm
	c := &userfaultCtx{mm: mm, flags: flags, files: 1}
	return mm.installFDFrom(&file{kind: fileUffd, uffd: c, flags: oRdwr | flags&oNonblock}, 0, flags&oCloexec != 0)
}

// userfaultfdIoctl models userfaultfd_ioctl: every command but UFFDIO_API
// needs UFFDIO_API done first; unknown commands are EINVAL.
func (v *VCPU) userfaultfdIoctl(c *userfaultCtx, cmd, arg uint64) int64 {
	if cmd != uffdioAPI && !c.running {
		return -EINVAL
	}
	switch cmd {
	case uffdioAPI:
		return v.userfaultfdAPI(c, arg)
	case uffdioRegister:
		return v.userfaultfdRegister(c, arg)
	case uffdioUnregister:
		return v.userfaultfdUnregister(c, arg)
	case uffdioWake:
		return v.userfaultfdWake(c, arg)
	case uffdioCopy:
		return v.userfaultfdCopy(c, arg)
	case uffdioZeropage:
		return v.userfaultfdZeropage(c, arg)
	case uffdioWriteprotect:
		return v.userfaultfdWriteprotect(c, arg)
	}
	return -EINVAL
}

// getUserWords reads n consecutive u64 fields of an ioctl argument.
func (v *VCPU) getUserWords(arg uint64, n int) ([]uint64, int64) {
	b := make([]byte, 8*n)
	if err := v.copyFromUser(b, arg); err != 0 {
		return nil, err
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return w, 0
}

// userfaultfdAPI models userfaultfd_api: check the API version and the
// requested features, answer with the offered features and the
// UFFD_API_IOCTLS mask, and move the context to UFFD_STATE_RUNNING.
func (v *VCPU) userfaultfdAPI(c *userfaultCtx, arg uint64) int64 {
	if c.running {
		return -EINVAL
	}
	w, err := v.getUserWords(arg, 3)
	if err != 0 {
		return -EFAULT
	}
	if w[0] != uffdAPI || w[1]&^uint64(uffdAPIFeatures) != 0 {
		if v.copyToUser(arg, make([]byte, 24)) != 0 {
			return -EFAULT
		}
		return -EINVAL
	}
	var out [24]byte
	binary.LittleEndian.PutUint64(out[0:], uffdAPI)
	binary.LittleEndian.PutUint64(out[8:], uffdAPIFeatures)
	binary.LittleEndian.PutUint64(out[16:], uffdAPIIoctls)
	if v.copyToUser(arg, out[:]) != 0 {
		return -EFAULT
	}
	c.running = true
	c.features = w[1]
	return 0
}

// validateRange models validate_range: page-aligned, non-empty, above
// mmap_min_addr and inside TASK_SIZE.
func validateRange(start, length uint64) int64 {
	if start&0xfff != 0 || length&0xfff != 0 || length == 0 || start < mmapMinAddr || start >= taskSize || length > taskSize-start {
		return -EINVAL
	}
	return 0
}

// vmaCanUserfault models vma_can_userfault (v5.10): anonymous VMAs for
// both modes; shmem (the model's shared anonymous VMAs) for MISSING only.
func vmaCanUserfault(vma *VMA, vmFlags uint64) bool {
	if vmaIsAnonymous(vma) {
		return true
	}
	return vma.anon && vma.flags&VM_SHARED != 0 && vmFlags&VM_UFFD_WP == 0
}

// userfaultfdRegister models userfaultfd_register (v5.10): under
// mmap_write_lock, check that every VMA in the range can be registered
// (EINVAL), may be written (EPERM) and belongs to no other context (EBUSY),
// then give each VMA piece VM_UFFD_MISSING/VM_UFFD_WP and the context,
// splitting and merging as mprotect does. Holes are allowed, but the range
// must touch a VMA. The ioctls the range supports are written back; the
// UFFDIO_WRITEPROTECT bit only for MODE_WP.
func (v *VCPU) userfaultfdRegister(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 3)
	if err != 0 {
		return -EFAULT
	}
	start, length, mode := w[0], w[1], w[2]
	if mode == 0 || mode&^uint64(uffdioRegisterModeMissing|uffdioRegisterModeWP) != 0 {
		return -EINVAL
	}
	var vmFlags uint64
	if mode&uffdioRegisterModeMissing != 0 {
		vmFlags |= VM_UFFD_MISSING
	}
	if mode&uffdioRegisterModeWP != 0 {
		vmFlags |= VM_UFFD_WP
	}
	if e := validateRange(start, length); e != 0 {
		return e
	}
	end := start + length
	mm := c.mm
	if mm.dead {
		return -ENOMEM // mmget_not_zero failed
	}
	ret := func() int64 {
		v.mmapWriteLock(mm)
		defer v.mmapWriteUnlock(mm)
		first := mm.findVMAAbove(start)
		if first == nil {
			return -ENOMEM
		}
		if first.start >= end {
			return -EINVAL
		}
		for _, cur := range mm.vmas {
			if cur.end <= first.start || cur.start >= end {
				continue
			}
			if !vmaCanUserfault(cur, vmFlags) {
				return -EINVAL
			}
			if cur.flags&VM_MAYWRITE == 0 {
				return -EPERM
			}
			if cur.uffd != nil && cur.uffd != c {
				return -EBUSY
			}
		}
		v.splitHugePMDRange(mm, start, end) // THP: uffd ranges use 4 KiB PTEs (huge_memory.go)
		for addr := start; addr < end; {
			vma := mm.findVMAAbove(addr)
			if vma == nil || vma.start >= end {
				break
			}
			if vma.uffd == c && vma.flags&vmFlags == vmFlags {
				addr = vma.end // already registered with these modes
				continue
			}
			s, e := max(addr, vma.start), min(end, vma.end)
			nf := vma.flags&^(VM_UFFD_MISSING|VM_UFFD_WP) | vmFlags
			v.vmaStartWriteRange(mm, s, e, true)
			cur, err := mm.vmaModify(vma, s, e, nf, c)
			if err != 0 {
				return err
			}
			cur.flags, cur.uffd = nf, c
			addr = cur.end
		}
		return 0
	}()
	if ret != 0 {
		return ret
	}
	ioctls := uint64(uffdAPIRangeIoctls)
	if mode&uffdioRegisterModeWP == 0 {
		ioctls &^= 1 << _UFFDIO_WRITEPROTECT
	}
	if v.putUser64(arg+24, ioctls) != 0 {
		return -EFAULT
	}
	return 0
}

// userfaultfdUnregister models userfaultfd_unregister (v5.10): clear the
// userfaultfd flags and context of every registered VMA piece of the range
// (splitting/merging), waking faults of MISSING ranges so none hangs. As in
// v5.10, _PAGE_UFFD_WP bits stay in the PTEs (harmless without VM_UFFD_WP).
func (v *VCPU) userfaultfdUnregister(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 2)
	if err != 0 {
		return -EFAULT
	}
	start, length := w[0], w[1]
	if e := validateRange(start, length); e != 0 {
		return e
	}
	end := start + length
	mm := c.mm
	if mm.dead {
		return -ENOMEM
	}
	v.mmapWriteLock(mm)
	defer v.mmapWriteUnlock(mm)
	first := mm.findVMAAbove(start)
	if first == nil {
		return -ENOMEM
	}
	if first.start >= end {
		return -EINVAL
	}
	for _, cur := range mm.vmas {
		if cur.end > first.start && cur.start < end && !vmaCanUserfault(cur, cur.flags) {
			return -EINVAL
		}
	}
	for addr := start; addr < end; {
		vma := mm.findVMAAbove(addr)
		if vma == nil || vma.start >= end {
			break
		}
		if vma.uffd == nil {
			addr = vma.end
			continue
		}
		s, e := max(addr, vma.start), min(end, vma.end)
		if vma.flags&VM_UFFD_MISSING != 0 {
			v.wakeUserfault(vma.uffd, s, e-s)
		}
		nf := vma.flags &^ (VM_UFFD_MISSING | VM_UFFD_WP)
		v.vmaStartWriteRange(mm, s, e, true)
		cur, err := mm.vmaModify(vma, s, e, nf, nil)
		if err != 0 {
			return err
		}
		cur.flags, cur.uffd = nf, nil
		addr = cur.end
	}
	return 0
}

// userfaultfdWake models userfaultfd_wake (UFFDIO_WAKE).
func (v *VCPU) userfaultfdWake(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 2)
	if err != 0 {
		return -EFAULT
	}
	if e := validateRange(w[0], w[1]); e != 0 {
		return e
	}
	v.wakeUserfault(c, w[0], w[1])
	return 0
}

// userfaultfdWriteprotect models userfaultfd_writeprotect
// (UFFDIO_WRITEPROTECT, v5.10): mwriteprotect_range, then — for an
// un-protect without DONTWAKE — wake the faults blocked on the range.
// WP together with DONTWAKE is EINVAL.
func (v *VCPU) userfaultfdWriteprotect(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 3)
	if err != 0 {
		return -EFAULT
	}
	start, length, mode := w[0], w[1], w[2]
	if e := validateRange(start, length); e != 0 {
		return e
	}
	if mode&^uint64(uffdioWriteprotectModeDontwake|uffdioWriteprotectModeWP) != 0 {
		return -EINVAL
	}
	wp := mode&uffdioWriteprotectModeWP != 0
	dontwake := mode&uffdioWriteprotectModeDontwake != 0
	if wp && dontwake {
		return -EINVAL
	}
	if c.mm.dead {
		return -ESRCH
	}
	if e := v.mwriteprotectRange(c.mm, start, length, wp); e != 0 {
		return e
	}
	if !wp && !dontwake {
		v.wakeUserfault(c, start, length)
	}
	return 0
}

// findDstVMA models find_dst_vma: the registered VMA holding all of
// [start, start+len), or nil.
func findDstVMA(mm *MM, start, length uint64) *VMA {
	vma := mm.findVMAAbove(start)
	if vma == nil || start < vma.start || start+length > vma.end || vma.uffd == nil {
		return nil
	}
	return vma
}

// mwriteprotectRange models mwriteprotect_range (mm/userfaultfd.c, v5.10)
// under mmap_read_lock — the read lock is the bug discussed in the LKML
// thread "[PATCH] mm/userfaultfd: fix memory corruption due to
// writeprotect" (Dec 2020 – Jan 2021; fixed by 6ce64428d620): for
// enable_wp, change_protection with MM_CP_UFFD_WP (write-protect and set
// _PAGE_UFFD_WP); otherwise with MM_CP_UFFD_WP_RESOLVE, whose newprot comes
// from the VMA's vm_flags and so, for private memory, clears the write bit
// of PTEs that were writable (the selftest race in Nadav Amit's "[PATCH v4]
// mm/userfaultfd: fix memory corruption due to writeprotect", Msg-Id
// 20210304095423.3825684-1-namit@vmware.com). The flush is deferred to
// the end of the range with tlb_flush_pending raised, while faults run.
func (v *VCPU) mwriteprotectRange(mm *MM, start, length uint64, enableWP bool) int64 {
	v.mmapReadLock(mm)
	defer v.mmapReadUnlock(mm)
	mm.wpEpoch++
	vma := findDstVMA(mm, start, length)
	if vma == nil || vma.flags&VM_SHARED != 0 || vma.flags&VM_UFFD_WP == 0 || !vmaIsAnonymous(vma) {
		return -ENOENT
	}
	var newprot uint64
	cp := mmCPUffdWPResolve
	if enableWP {
		newprot = vmGetPageProt(vma.flags &^ VM_WRITE)
		cp = mmCPUffdWP
	} else {
		newprot = vmGetPageProt(vma.flags)
	}
	v.changeProtection(mm, vma, start, start+length, newprot, cp)
	return 0
}

// userfaultfdCopy models userfaultfd_copy (UFFDIO_COPY): checks, mcopy_atomic,
// the result (bytes copied or -errno) written to uffdio_copy.copy, a wake
// of the copied range unless DONTWAKE, and -EAGAIN for a partial copy.
func (v *VCPU) userfaultfdCopy(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 4)
	if err != 0 {
		return -EFAULT
	}
	dst, src, length, mode := w[0], w[1], w[2], w[3]
	if e := validateRange(dst, length); e != 0 {
		return e
	}
	if src+length <= src {
		return -EINVAL
	}
	if mode&^uint64(uffdioCopyModeDontwake|uffdioCopyModeWP) != 0 {
		return -EINVAL
	}
	if c.mm.dead {
		return -ESRCH
	}
	ret := v.mfillAtomic(c.mm, dst, src, length, false, mode&uffdioCopyModeWP != 0)
	if v.putUser64(arg+32, uint64(ret)) != 0 {
		return -EFAULT
	}
	if ret < 0 {
		return ret
	}
	if mode&uffdioCopyModeDontwake == 0 {
		v.wakeUserfault(c, dst, uint64(ret))
	}
	if uint64(ret) != length {
		return -EAGAIN
	}
	return 0
}

// userfaultfdZeropage models userfaultfd_zeropage (UFFDIO_ZEROPAGE).
func (v *VCPU) userfaultfdZeropage(c *userfaultCtx, arg uint64) int64 {
	w, err := v.getUserWords(arg, 3)
	if err != 0 {
		return -EFAULT
	}
	start, length, mode := w[0], w[1], w[2]
	if e := validateRange(start, length); e != 0 {
		return e
	}
	if mode&^uint64(uffdioZeropageModeDontwake) != 0 {
		return -EINVAL
	}
	if c.mm.dead {
		return -ESRCH
	}
	ret := v.mfillAtomic(c.mm, start, 0, length, true, false)
	if v.putUser64(arg+24, uint64(ret)) != 0 {
		return -EFAULT
	}
	if ret < 0 {
		return ret
	}
	if mode&uffdioZeropageModeDontwake == 0 {
		v.wakeUserfault(c, start, uint64(ret))
	}
	if uint64(ret) != length {
		return -EAGAIN
	}
	return 0
}

// mfillAtomic models __mcopy_atomic (mm/userfaultfd.c, v5.10) for
// anonymous memory: under mmap_read_lock, fill every page of [dst,
// dst+len) that is not mapped yet, with a copy of the caller's src (UFFDIO_COPY)
// or the zero page (UFFDIO_ZEROPAGE). The copy from user is first tried
// without faulting; if src is not mapped, the lock is dropped, the copy
// done with faults allowed, and the walk restarts (the -ENOENT dance). It
// returns the bytes filled, or -errno if none was (EEXIST for a mapped
// page, ENOENT for a range outside one registered VMA).
func (v *VCPU) mfillAtomic(mm *MM, dstStart, srcStart, length uint64, zeropage, wpCopy bool) int64 {
	m := v.m
	var copied uint64
	var page phys.PFN // filled outside the lock, installed after the retry
	var err int64
	dst, src := dstStart, srcStart
retry:
	v.mmapReadLock(mm)
	vma := findDstVMA(mm, dstStart, length)
	switch {
	case vma == nil:
		err = -ENOENT
	case !vmaIsAnonymous(vma) || wpCopy && vma.flags&VM_UFFD_WP == 0:
		err = -EINVAL // shmem and hugetlbfs filling are not modelled
	default:
		err = 0
		for src < srcStart+length {
			slot, pt, e := v.pteOffsetAlloc(mm, dst)
			if e != nil {
				err = -ENOMEM
				break
			}
			if zeropage {
				err = v.mfillZeropagePTE(vma, slot, pt)
			} else {
				err = v.mcopyAtomicPTE(vma, slot, pt, src, &page, wpCopy)
			}
			if err == -ENOENT {
				v.mmapReadUnlock(mm)
				if v.copyFromUser(m.mem.Frame(page)[:], src) != 0 {
					err = -EFAULT
					goto out
				}
				goto retry
			}
			if err != 0 {
				break
			}
			dst += 4096
			src += 4096
			copied += 4096
		}
	}
	v.mmapReadUnlock(mm)
out:
	if page != 0 {
		m.putPage(page)
	}
	if copied > 0 {
		return int64(copied)
	}
	return err
}

// mcopyAtomicPTE models mcopy_atomic_pte (v5.10): allocate a page and copy
// src into it without faulting (copy_from_user under kmap_atomic), or use
// the page the caller filled after a -ENOENT; map it with vm_page_prot,
// dirty, and writable if the VMA is (or uffd-wp protected for
// UFFDIO_COPY_MODE_WP), under the PTL, unless the PTE is no longer none
// (-EEXIST). No flush: the PTE was not present.
func (v *VCPU) mcopyAtomicPTE(vma *VMA, slot phys.Addr, pt phys.PFN, src uint64, pagep *phys.PFN, wpCopy bool) int64 {
	m := v.m
	p := *pagep
	if p == 0 {
		np, err := m.allocPage()
		if err != nil {
			return -ENOMEM
		}
		v.spend(m.cfg.Costs.AllocPage)
		if !v.copyFromUserNoFault(m.mem.Frame(np)[:], src) {
			*pagep = np // fall back to copy_from_user outside mmap_lock
			return -ENOENT
		}
		p = np
	} else {
		*pagep = 0
	}
	v.spend(m.cfg.Costs.CopyPage)
	entry := pteMkyoung(pteMkdirty(mkPTE(p, vmPageProt(vma.flags))))
	if vma.flags&VM_WRITE != 0 {
		if wpCopy {
			entry |= tlb.PteUffdWP
		} else {
			entry = pteMkwrite(entry)
		}
	}
	ptl := m.ptlOf(pt)
	v.spinLock(ptl)
	if !pteNone(m.mem.LoadPTE(slot)) {
		v.spinUnlock(ptl)
		m.putPage(p)
		return -EEXIST
	}
	vma.anonVMA = true // mcopy_atomic_pte: anon_vma_prepare (via mfill_atomic)
	m.pageAddNewAnonRmap(p)
	v.lruCacheAdd(p)
	m.mem.StorePTE(slot, entry) // set_pte_at
	v.spinUnlock(ptl)
	return 0
}

// mfillZeropagePTE models mfill_zeropage_pte: map the shared zero page
// read-only (pte_mkspecial) if the PTE is still none, else -EEXIST.
func (v *VCPU) mfillZeropagePTE(vma *VMA, slot phys.Addr, pt phys.PFN) int64 {
	m := v.m
	entry := pteMkyoung(mkPTE(m.zeroPage, vmPageProt(vma.flags)&^tlb.PteRW) | tlb.PteSpecial)
	ptl := m.ptlOf(pt)
	v.spinLock(ptl)
	defer v.spinUnlock(ptl)
	if !pteNone(m.mem.LoadPTE(slot)) {
		return -EEXIST
	}
	m.mem.StorePTE(slot, entry)
	return 0
}

// copyFromUserNoFault copies len(b) bytes from the current task's user
// address addr if every page is mapped readable, without faulting (the
// copy_from_user of mcopy_atomic_pte runs with page faults disabled). It
// reports whether the copy was done.
func (v *VCPU) copyFromUserNoFault(b []byte, addr uint64) bool {
	m := v.m
	mm := v.curr.mm
	for len(b) > 0 {
		if !tlb.VirtAddr(addr).Canonical() || addr >= 1<<47 {
			return false
		}
		r, code := tlb.Walk(m.mem, mm.pgdCR3(), tlb.VirtAddr(addr), tlb.Read)
		if code != 0 {
			return false
		}
		n := copy(b, m.mem.Frame(r.PFN)[addr&0xfff:])
		b, addr = b[n:], addr+uint64(n)
	}
	return true
}

// userfaultfdRead models userfaultfd_read → userfaultfd_ctx_read (v5.10):
// move the oldest pending fault to fault_wqh and copy its uffd_msg out,
// as many as fit; block (sleepInSyscall) if there is none and the fd is
// blocking, else -EAGAIN. EINVAL before UFFDIO_API or for a buffer smaller
// than one message.
func (v *VCPU) userfaultfdRead(c *userfaultCtx, buf, n uint64) int64 {
	if !c.running {
		return -EINVAL
	}
	var ret int64
	noWait := c.flags&oNonblock != 0
	for {
		if n < sizeofUffdMsg {
			if ret > 0 {
				return ret
			}
			return -EINVAL
		}
		if len(c.pending) == 0 {
			if ret > 0 {
				return ret
			}
			if noWait {
				return -EAGAIN
			}
			c.readers = append(c.readers, v.curr)
			v.sleepInSyscall(sysRead)
			return 0
		}
		w := c.pending[0]
		c.pending = c.pending[1:]
		c.waiting = append(c.waiting, w)
		var msg [sizeofUffdMsg]byte
		msg[0] = uffdEventPagefault
		binary.LittleEndian.PutUint64(msg[8:], w.flags)
		binary.LittleEndian.PutUint64(msg[16:], w.address)
		binary.LittleEndian.PutUint32(msg[24:], w.ptid)
		if v.copyToUser(buf, msg[:]) != 0 {
			if ret > 0 {
				return ret
			}
			return -EFAULT
		}
		ret += sizeofUffdMsg
		buf += sizeofUffdMsg
		n -= sizeofUffdMsg
		noWait = true // only block for the first message
	}
}

// handleUserfault models handle_userfault (fs/userfaultfd.c, v5.10),
// entered from the fault path with mmap_lock held for read and the PTL
// released. A fault on a VMA without a context, or with
// UFFD_FEATURE_SIGBUS, is a SIGBUS; on a released context the access is
// retried (VM_FAULT_NOPAGE). Otherwise it drops mmap_lock and, if
// userfaultfd_must_wait still holds, queues the fault's uffd_msg, wakes
// the readers of the fd and puts the task to sleep with its RIP at the
// faulting instruction; it returns VM_FAULT_RETRY either way. The woken
// task re-executes the instruction and faults afresh (the arch handler's
// retry with FAULT_FLAG_TRIED, with the user-mode return in between).
//
// Deviation: a fault taken by the kernel's own user access (copy_to_user in
// a system call) cannot sleep here — the model has no kernel stacks — so
// it is a SIGBUS, which the uaccess turns into -EFAULT.
func (v *VCPU) handleUserfault(vmf *vmFault, reason uint64) int {
	c := vmf.vma.uffd
	if c == nil || c.features&uffdFeatureSigbus != 0 {
		return vmFaultSIGBUS
	}
	if c.released {
		return vmFaultNoPage
	}
	if vmf.flags&faultFlagAllowRetry == 0 || vmf.flags&faultFlagUser == 0 {
		return vmFaultSIGBUS
	}
	t := v.curr
	w := &uffdWaiter{t: t, address: vmf.address}
	if vmf.flags&faultFlagWrite != 0 {
		w.flags |= uffdPagefaultFlagWrite
	}
	if reason&VM_UFFD_WP != 0 {
		w.flags |= uffdPagefaultFlagWP
	}
	if c.features&uffdFeatureThreadID != 0 {
		w.ptid = uint32(t.tid)
	}
	v.spend(v.m.cfg.Costs.LockedRMW) // fault_pending_wqh.lock
	mustWait := v.userfaultfdMustWait(c, vmf.address, reason)
	v.releaseFaultLock(vmf)
	if mustWait && !c.released {
		c.pending = append(c.pending, w)
		v.wakeReaders(c) // wake_up_poll(&ctx->fd_wqh, EPOLLIN)
		v.block()        // schedule(); the task resumes at the faulting instruction
	}
	return vmFaultRetry
}

// userfaultfdMustWait models userfaultfd_must_wait (v5.10) for 4 KiB
// pages, a lockless look at the PTE: wait if a page-table level or the PTE
// is missing, or, for a WP fault, if the PTE is not writable.
func (v *VCPU) userfaultfdMustWait(c *userfaultCtx, address, reason uint64) bool {
	slot, _, ok := v.m.pteOffset(c.mm, address)
	if !ok {
		return true
	}
	e := v.m.mem.LoadPTE(slot)
	return pteNone(e) || !pteWrite(e) && reason&VM_UFFD_WP != 0
}

// wakeReaders wakes the tasks sleeping in read(2) of c.
func (v *VCPU) wakeReaders(c *userfaultCtx) {
	for _, t := range c.readers {
		if t.state == taskBlocked {
			v.wakeUpTask(t)
		}
	}
	c.readers = c.readers[:0]
}

// wakeUserfault models wake_userfault → userfaultfd_wake_function: wake
// every task sleeping in handle_userfault on c whose fault address lies in
// [start, start+len) (len 0: all), read or not, and take it off the queues.
func (v *VCPU) wakeUserfault(c *userfaultCtx, start, length uint64) {
	wake := func(q []*uffdWaiter) []*uffdWaiter {
		keep := q[:0]
		for _, w := range q {
			if length != 0 && (start > w.address || start+length <= w.address) {
				keep = append(keep, w)
				continue
			}
			if w.t.state == taskBlocked {
				v.wakeUpTask(w.t)
			}
		}
		clear(q[len(keep):])
		return keep
	}
	c.pending = wake(c.pending)
	c.waiting = wake(c.waiting)
}

// userfaultfdRelease models userfaultfd_release, run when the last file
// reference goes: mark the context released, clear the userfaultfd flags
// and context of its VMAs under mmap_write_lock (merging them with their
// neighbours), then wake every fault still waiting and every reader.
func (v *VCPU) userfaultfdRelease(c *userfaultCtx) {
	c.released = true
	mm := c.mm
	if !mm.dead && mm.users > 0 {
		v.mmapWriteLock(mm)
		for addr := uint64(0); ; {
			vma := mm.findVMAAbove(addr)
			if vma == nil {
				break
			}
			if vma.uffd != c {
				addr = vma.end
				continue
			}
			nf := vma.flags &^ (VM_UFFD_MISSING | VM_UFFD_WP)
			v.vmaStartWriteRange(mm, vma.start, vma.end, true)
			cur, err := mm.vmaModify(vma, vma.start, vma.end, nf, nil)
			if err != 0 {
				cur = vma // vma_merge never splits: not reached
			}
			cur.flags, cur.uffd = nf, nil
			addr = cur.end
		}
		v.mmapWriteUnlock(mm)
	}
	v.wakeUserfault(c, 0, 0)
	v.wakeReaders(c)
}

// dupUserfaultfd models dup_userfaultfd for a context without
// UFFD_FEATURE_EVENT_FORK (the only kind offered): the child's copy of a
// registered VMA is not registered.
func dupUserfaultfd(vma *VMA) {
	if vma.uffd != nil {
		vma.uffd = nil
		vma.flags &^= VM_UFFD_MISSING | VM_UFFD_WP
	}
}
