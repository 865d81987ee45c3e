package kernelmodel

// Per-VMA locks (PatchPerVMALock, PatchMadviseVMALock): the v6.4+ rule
// that a user page fault, and since "mm: use per_vma lock for
// MADV_DONTNEED" (Barry Song, v6.17) a MADV_DONTNEED/MADV_FREE inside one
// VMA, runs under a read lock of that VMA instead of mmap_lock, so the
// threads of one process fault and discard their own mappings without
// meeting on mmap_lock while another thread maps or unmaps elsewhere.
//
// This departs, with these patches only, from v5.10's invariant that every
// page fault holds mmap_lock for read, so that a write holder of mmap_lock
// excludes all faults of the mm: from v6.4 it excludes only the faults on
// the VMAs it write-locks, which is why every path that changes a VMA, or
// relies on faults being excluded from it (fork's copy of the parent's page
// tables, clear_refs' walk), must vma_start_write it here. Kernel-mode
// faults (copy_{to,from}_user) and the paths the lock cannot serve still
// take mmap_lock.
//
// The lock is v6.18's (include/linux/mmap_lock.h, mm/mmap_lock.c):
//   - vma_start_read is a trylock: it fails while the VMA is write-locked,
//     which a holder of mmap_lock for write makes it by vma_start_write
//     (vm_lock_seq = mm_lock_seq) before changing it, until mmap_write_unlock
//     or mmap_write_downgrade end every such lock at once
//     (vma_end_write_all: mm_lock_seq++);
//   - vma_start_write waits for the readers already in (vm_refcnt) to leave;
//   - a reader that fails falls back to mmap_lock (lock_mmap in
//     do_user_addr_fault, arch/x86/mm/fault.c; try_vma_read_lock in
//     mm/madvise.c).

// vmaLock is a VMA's lock: vm_lock_seq and vm_refcnt.
type vmaLock struct {
	// seq is vm_lock_seq: the VMA is write-locked while it equals its
	// mm's vmaSeq (mm_lock_seq).
	seq uint64
	// sem counts the readers in (vm_refcnt) and is where vma_start_write
	// waits for them to leave; it is never held for write past that wait.
	// Its name is empty: rwsemAcquire counts the wait as
	// emu_vma_lock_wait_cycles instead of mmap_lock's.
	sem rwsem
}

// vmaWriteLocked reports whether vma is write-locked in mm at v's clock: it
// was write-locked in the current mmap_lock write section, or in the last
// one when that ended after v's clock (v runs behind the writer by up to a
// quantum and must not see the lock released before it was).
func (v *VCPU) vmaWriteLocked(mm *MM, vma *VMA) bool {
	s := vma.vmLock.seq
	return s == mm.vmaSeq || (s+1 == mm.vmaSeq && v.c.Clock < mm.vmaSeqAt)
}

// vmaStartRead models vma_start_read: a trylock of vma for read. It fails
// when the VMA is write-locked or a writer is waiting for its readers.
func (v *VCPU) vmaStartRead(mm *MM, vma *VMA) bool {
	s := &vma.vmLock.sem
	if v.vmaWriteLocked(mm, vma) || s.writer != nil || len(s.queue) > 0 || v.c.Clock < s.wFreeAt {
		return false
	}
	s.readers++
	v.spend(v.m.cfg.Costs.LockedRMW) // __refcount_inc_not_zero_limited_acquire(&vma->vm_refcnt)
	return true
}

// vmaEndRead models vma_end_read: the reader leaves, letting a waiting
// vma_start_write in.
func (v *VCPU) vmaEndRead(vma *VMA) {
	s := &vma.vmLock.sem
	if s.readers <= 0 {
		panic("kernelmodel: vma_end_read without a reader")
	}
	s.readers--
	s.rFreeAt = max(s.rFreeAt, v.c.Clock)
	s.lastRel = v
	v.spend(v.m.cfg.Costs.LockedRMW) // __refcount_dec_and_test(&vma->vm_refcnt)
	s.grant(v, v.c.Clock)
}

// vmaStartWrite models vma_start_write, with mmap_lock held for write:
// mark vma write-locked for the rest of the write section and wait for the
// readers in it to leave (__vma_start_write; the wait is modelled as the
// rwsem's spinning writer, ASSUMPTION: v6.18 sleeps in rcuwait_wait_event).
// Without PatchPerVMALock or PatchMadviseVMALock nothing takes a VMA's
// lock and it is a no-op.
func (v *VCPU) vmaStartWrite(mm *MM, vma *VMA) {
	if !v.m.on.vmaLocks() || vma.vmLock.seq == mm.vmaSeq {
		return
	}
	vma.vmLock.seq = mm.vmaSeq
	s := &vma.vmLock.sem
	if s.readers > 0 || len(s.queue) > 0 || v.c.Clock < s.rFreeAt {
		v.rwsemAcquire(s, true)
		s.releaseWrite(v) // readers never queue: no one to grant it to
	}
}

// vmaStartWriteRange write-locks every VMA of mm that overlaps [start,
// end), the VMAs an unmap detaches or splits; with adjoining also those
// that end at start or begin at end, the neighbours a vma_merge of the
// range may grow or remove.
func (v *VCPU) vmaStartWriteRange(mm *MM, start, end uint64, adjoining bool) {
	if !v.m.on.vmaLocks() {
		return
	}
	for _, vma := range mm.vmas {
		if (vma.start < end && start < vma.end) || (adjoining && (vma.end == start || vma.start == end)) {
			v.vmaStartWrite(mm, vma)
		}
	}
}

// vmaEndWriteAll models vma_end_write_all, called by mmap_write_unlock and
// mmap_write_downgrade: every VMA write-locked in the section is unlocked
// at once (mm_lock_seq++).
func (v *VCPU) vmaEndWriteAll(mm *MM) {
	mm.vmaSeq++
	mm.vmaSeqAt = v.c.Clock
}

// lockVMAUnderRCU models lock_vma_under_rcu (mm/mmap_lock.c, v6.18): look
// the VMA up under RCU (mas_walk) and vma_start_read it. It returns nil,
// counting VMA_LOCK_ABORT, when there is no VMA or it cannot be read-locked.
// (VMA_LOCK_MISS, a VMA detached between the lookup and the lock, cannot
// happen here: detaching needs the write lock, which vma_start_read sees.)
func (v *VCPU) lockVMAUnderRCU(mm *MM, addr uint64) *VMA {
	vma := mm.findVMA(addr)
	if vma == nil || !v.vmaStartRead(mm, vma) {
		v.m.vmaLockAbort++
		return nil
	}
	return vma
}

// faultUnderVMALock's outcomes.
const (
	vmaFaultDone     = iota // handled: VMA_LOCK_SUCCESS
	vmaFaultFallback        // go on to lock_mmap, the mmap_lock path
	vmaFaultStop            // a signal was sent or the task blocked: return to user mode
)

// faultUnderVMALock models the per-VMA part of do_user_addr_fault
// (arch/x86/mm/fault.c, v6.18, after 0bff0aaea03e "x86/mm: try VMA
// lock-based page fault handling first"): a user fault first tries
// lock_vma_under_rcu and handle_mm_fault with FAULT_FLAG_VMA_LOCK. It
// returns the outcome and the flags for the mmap_lock path.
func (v *VCPU) faultUnderVMALock(mm *MM, addr uint64, errCode uint32, flags int) (int, int) {
	m := v.m
	vma := v.lockVMAUnderRCU(mm, addr)
	if vma == nil {
		return vmaFaultFallback, flags
	}
	if accessError(errCode, vma) {
		v.vmaEndRead(vma)
		m.vmaLockSuccess++
		v.forceSig(SIGSEGV, addr, "segfault")
		return vmaFaultStop, flags
	}
	// vmf_anon_prepare (mm/memory.c, v6.18): a fault that needs the VMA's
	// anon_vma (a private write fault: do_anonymous_page's write path,
	// wp_page_copy, a private file page's COW) and finds none returns
	// VM_FAULT_RETRY under the VMA lock, as __anon_vma_prepare may merge
	// with a neighbour's anon_vma and needs mmap_lock.
	if flags&faultFlagWrite != 0 && vma.flags&VM_SHARED == 0 && !vma.anonVMA {
		v.vmaEndRead(vma)
		m.vmaLockRetry++
		return vmaFaultFallback, flags
	}
	t := v.curr
	ret := v.handleMMFault(vma, addr, flags|faultFlagVMALock)
	if ret&vmFaultRetry == 0 {
		v.vmaEndRead(vma)
		m.vmaLockSuccess++
		if v.faultSignal(ret, addr) {
			return vmaFaultStop, flags
		}
		return vmaFaultDone, flags
	}
	// handle_userfault released the VMA lock (release_fault_lock) and
	// slept or found the fault resolved: VMA_LOCK_RETRY.
	m.vmaLockRetry++
	if v.curr != t || t.state != taskRunning {
		return vmaFaultStop, flags // blocked: resumes at the faulting instruction when woken
	}
	return vmaFaultFallback, flags | faultFlagTried
}

// releaseFaultLock models release_fault_lock: the lock handle_mm_fault was
// called under, the VMA's or mmap_lock.
func (v *VCPU) releaseFaultLock(vmf *vmFault) {
	if vmf.flags&faultFlagVMALock != 0 {
		v.vmaEndRead(vmf.vma)
		return
	}
	v.mmapReadUnlock(vmf.mm)
}

// madviseUnderVMALock models try_vma_read_lock (mm/madvise.c, v6.18) for
// the behaviours get_lock_mode gives MADVISE_VMA_READ_LOCK
// (MADV_DONTNEED, MADV_FREE): when [start, end) lies inside one VMA that
// lock_vma_under_rcu read-locks and that has no userfaultfd armed
// (is_vma_lock_sufficient), the advice runs under that lock. It reports
// whether it ran.
func (v *VCPU) madviseUnderVMALock(mm *MM, start, end, behavior uint64) (bool, int64) {
	if !v.m.on.madviseVMALock || (behavior != madvDontneed && behavior != madvFree) {
		return false, 0
	}
	vma := v.lockVMAUnderRCU(mm, start)
	if vma == nil {
		return false, 0
	}
	if end > vma.end || vma.uffd != nil {
		v.vmaEndRead(vma)
		return false, 0
	}
	_, err := v.madviseVMA(mm, vma, start, end, behavior)
	v.vmaEndRead(vma)
	return true, err
}
