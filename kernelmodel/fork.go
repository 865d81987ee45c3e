package kernelmodel

import (
	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// More clone flags (include/uapi/linux/sched.h).
const (
	clonePidfd    = 0x1000
	clonePtrace   = 0x2000
	cloneVfork    = 0x4000
	cloneParent   = 0x8000
	cloneNewNS    = 0x20000
	cloneNewFlags = 0x7e020000 // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
	cloneNewUser  = 0x10000000
	sigchld       = 17
)

// VM_LOCKONFAULT (include/linux/mm.h).
const VM_LOCKONFAULT uint64 = 0x80000

// sysFork models fork(2): kernel_clone with SIGCHLD and no other flag.
func (v *VCPU) sysFork() int64 { return v.cloneProcess(sigchld, 0, 0, 0, 0) }

// cloneProcess models kernel_clone → copy_process for a clone without
// CLONE_VM (kernel/fork.c, v5.10): a new process whose mm is a copy of the
// caller's (dup_mm → dup_mmap), with the caller's registers and RAX 0, its
// own copy of the file table, placed by the scheduler and woken
// (wake_up_new_task). It returns the child's pid.
//
// Not modelled: namespaces (CLONE_NEW*: EINVAL), pidfds, ptrace, vfork's
// wait for the child and a file table shared with CLONE_FILES (the child
// always gets a copy). copy_process's own cost (task, creds, signal
// structures) is not charged; the page-table copy, the locks and the flush
// are.
func (v *VCPU) cloneProcess(flags, newsp, parentTID, childTID, tls uint64) int64 {
	m := v.m
	if flags&cloneThread != 0 && flags&cloneSighand == 0 {
		return -EINVAL
	}
	if flags&cloneSighand != 0 && flags&cloneVM == 0 {
		return -EINVAL
	}
	if flags&(cloneNewFlags|cloneNewUser|clonePidfd|clonePtrace|cloneVfork) != 0 {
		return -EINVAL
	}
	p := v.curr
	if flags&cloneParent != 0 && p.tgid == 1 {
		return -EINVAL // SIGNAL_UNKILLABLE: init may not create siblings
	}
	mm, err := v.dupMM(p.mm)
	if err != 0 {
		return err
	}
	c := m.newTask(mm, 0, p.comm)
	c.sigBlocked = p.sigBlocked
	c.parent = p
	if flags&cloneParent != 0 {
		c.parent = p.parent
	}
	c.regs = v.c.Regs
	c.regs.GPR[cpu.RAX] = 0
	if newsp != 0 {
		c.regs.GPR[cpu.RSP] = newsp
	}
	if flags&cloneSetTLS != 0 {
		c.regs.FSBase = tls
	}
	if flags&cloneChildClearTID != 0 {
		c.clearChildTID = childTID
	}
	if flags&cloneChildSetTID != 0 {
		// schedule_tail's put_user(pid, set_child_tid) runs in the child
		// before it first returns to user mode; the model does it now,
		// as the child, through the child's page tables.
		v.curr = c
		v.putUser32(childTID, uint32(c.tid))
		v.curr = p
	}
	if flags&cloneParentSetTID != 0 {
		v.putUser32(parentTID, uint32(c.tid)) // kernel_clone: errors ignored
	}
	v.wakeUpNewTask(c)
	return int64(c.tgid)
}

// dupMM models dup_mm: a new mm (mm_init → pgd_alloc), the file table
// (dup_fd; the model keeps it in the mm) and dup_mmap.
func (v *VCPU) dupMM(old *MM) (*MM, int64) {
	m := v.m
	mm, err := m.newMM()
	if err != nil {
		return nil, -ENOMEM
	}
	initNextTrimCPUMask(mm, v.jiffies())
	v.spend(m.cfg.Costs.AllocPage)
	for _, f := range old.files {
		if f != nil && f.uffd != nil {
			f.uffd.files++
		}
		if f != nil && f.shm != nil {
			f.shm.opens++
		}
		if f != nil && f.pipe != nil {
			fget(f) // dup_fd: another reference to each open pipe end
		}
		mm.files = append(mm.files, f)
	}
	for fd := range old.cloexec {
		mm.setCloexec(fd, true)
	}
	mm.brk, mm.startBrk, mm.exe, mm.argStart, mm.argEnd = old.brk, old.startBrk, old.exe, old.argStart, old.argEnd
	mm.envStart, mm.envEnd, mm.startStack = old.envStart, old.envEnd, old.startStack
	mm.startCode, mm.endCode, mm.startData, mm.endData = old.startCode, old.endCode, old.startData, old.endData
	mm.rlim, mm.rlimSet = old.rlim, old.rlimSet
	if old.sig != nil { // copy_sighand: the dispositions, not the pending set
		mm.sig = &sigHand{action: old.sig.action}
	}
	if e := v.dupMMap(mm, old); e != 0 {
		v.exitMMap(mm) // mmput of the half-built mm
		m.freePageTables(mm)
		v.putFiles(mm)
		return nil, e
	}
	return mm, 0
}

// dupMMap models dup_mmap (kernel/fork.c, v5.10) and copy_page_range /
// copy_present_pte (mm/memory.c, v5.10): under mmap_write_lock(old) (which excludes every fault in
// the parent), copy each VMA and its page tables (copy_page_range, which
// write-protects the parent's writable PTEs of COW mappings), then
// flush_tlb_mm(old) — one full flush, with freed_tables so lazy CPUs get
// the IPI too — before mmap_write_unlock(old). tlb_flush_pending is not
// touched. Stores through entries the write-protect left stale are ordered
// before the fork until the flush (the hazard detector's revokeOps).
func (v *VCPU) dupMMap(mm, old *MM) int64 {
	v.mmapWriteLock(old)
	old.revokeOps++
	v.mmapWriteLock(mm) // mmap_write_lock_nested: never contended
	mm.brk, mm.mmapBase = old.brk, old.mmapBase
	mm.cwd = old.cwd // copy_fs
	var err int64
	for _, src := range old.vmas {
		if src.flags&VM_DONTCOPY != 0 {
			continue
		}
		v.vmaStartWrite(old, src) // dup_mmap write-locks every VMA of the parent
		dst := *src
		dst.vmLock = vmaLock{}
		dst.flags &^= VM_LOCKED | VM_LOCKONFAULT
		dupUserfaultfd(&dst)
		mm.vmas = append(mm.vmas, &dst)
		if dst.flags&VM_WIPEONFORK == 0 {
			if err = v.copyPageRange(mm, old, &dst, src); err != 0 {
				break
			}
		}
	}
	v.mmapWriteUnlock(mm)
	v.flushTLBMM(old)
	old.revokeOps--
	v.mmapWriteUnlock(old)
	return err
}

// copyPageRange models copy_page_range → copy_pte_range (mm/memory.c,
// v5.10) for 4 KiB pages: per parent page table that exists, allocate the
// child's, take the child's PTL and then the parent's (nested), and copy
// every present PTE (copy_present_pte). Swap entries are not modelled; the
// resched/lock-break every 32 units of progress is not modelled either
// (spin_needbreak is 0 without CONFIG_PREEMPTION).
func (v *VCPU) copyPageRange(dstMM, srcMM *MM, dst, src *VMA) int64 {
	m := v.m
	// "Don't copy ptes where a page fault will fill them correctly":
	// no anon_vma means no anonymous page, so the child refaults every
	// page from the file, shmem or the zero page.
	if src.flags&(VM_HUGETLB|VM_PFNMAP|VM_MIXEDMAP) == 0 && !src.anonVMA {
		return 0
	}
	for addr := src.start; addr < src.end; {
		if m.cfg.THP { // copy_pmd_range: is_swap_pmd || pmd_trans_huge
			haddr := addr &^ (hpageSize - 1)
			if haddr >= src.start && haddr+hpageSize <= src.end {
				if ok, err := v.copyHugePMD(dstMM, srcMM, src, haddr); ok {
					if err != 0 {
						return err
					}
					addr = haddr + hpageSize
					continue
				}
			} else {
				v.splitHugePMD(srcMM, addr) // not wholly inside the VMA
			}
		}
		spte, spt, next, ok := m.pteTable(srcMM, addr, src.end)
		if !ok {
			addr = next
			continue
		}
		dpte, dpt, err := v.pteOffsetAlloc(dstMM, addr)
		if err != nil {
			return -ENOMEM
		}
		dptl, sptl := m.ptlOf(dpt), m.ptlOf(spt)
		v.spinLock(dptl)
		v.spinLock(sptl)
		for a := addr; a < next; a += 4096 {
			off := phys.Addr(((a - addr) >> 12) * 8)
			if !pteProtPresent(m.mem.LoadPTE(spte + off)) {
				continue
			}
			v.copyPresentPTE(dpte+off, spte+off, src)
			v.spend(m.cfg.Costs.PTEUpdate)
		}
		v.spinUnlock(sptl)
		v.spinUnlock(dptl)
		addr = next
	}
	return 0
}

// copyPresentPTE models copy_present_pte (v5.10): the child maps the same
// page (get_page + page_dup_rmap: refcount and mapcount +1); for a COW
// mapping a writable PTE is write-protected in the parent
// (ptep_set_wrprotect, an atomic clear of RW that keeps the hardware D bit)
// and in the child; the child's PTE is old, clean for shared mappings, and
// loses _PAGE_UFFD_WP unless the source VMA has VM_UFFD_WP (v5.10 tests
// src_vma->vm_flags here). copy_present_page's early copy of DMA-pinned
// pages is not modelled (mm->has_pinned is never set).
func (v *VCPU) copyPresentPTE(dstSlot, srcSlot phys.Addr, src *VMA) {
	m := v.m
	e := m.mem.LoadPTE(srcSlot)
	if vmNormalPage(m, e) {
		p := ptePFN(e)
		m.getPage(p)
		m.pages[p].mapcount++
		m.pages[p].exclusive = false // page_try_dup_anon_rmap: now shared with the child
	}
	if isCOWMapping(src.flags) && pteWrite(e) {
		m.mem.StorePTE(srcSlot, m.mem.LoadPTE(srcSlot)&^tlb.PteRW) // ptep_set_wrprotect
		e = pteWrprotect(e)
	}
	if src.flags&VM_SHARED != 0 {
		e &^= tlb.PteD // pte_mkclean
	}
	e &^= tlb.PteA // pte_mkold
	if src.flags&VM_UFFD_WP == 0 {
		e &^= tlb.PteUffdWP
	}
	m.mem.StorePTE(dstSlot, e) // set_pte_at
}

// wait4 options (include/uapi/linux/wait.h).
const (
	wNoHang    = 0x1
	wUntraced  = 0x2
	wContinued = 0x8
	wNoThread  = 0x20000000
	wAll       = 0x40000000
	wClone     = 0x80000000
)

// sizeofRusage is sizeof(struct rusage) on x86-64.
const sizeofRusage = 144

// sysWait4 models wait4(pid, wstatus, options, rusage) (kernel/exit.c,
// v5.10: kernel_wait4 → do_wait → wait_task_zombie): reap a child process
// that has exited — all its threads dead and exit_mmap done — writing its
// status (exit code << 8) and a zeroed rusage, and return its pid; 0 with
// WNOHANG while children live; -ECHILD without a matching child. Otherwise
// the caller sleeps until a child exits (sleepInSyscall). Every process is
// in process group 1, so pid 0 and -1 mean any child. Stopped and
// continued children (WUNTRACED, WCONTINUED) do not exist in the model; a
// child killed by a signal reports exit code 128+sig (the model kills with
// exit_group).
func (v *VCPU) sysWait4(upid int64, statAddr, options, ru uint64) int64 {
	m := v.m
	if options&^uint64(wNoHang|wUntraced|wContinued|wNoThread|wAll|wClone) != 0 {
		return -EINVAL
	}
	pid := int32(upid)
	if pid == -1<<31 {
		return -ESRCH // kernel_wait4: -INT_MIN would overflow
	}
	cur := v.curr
	found := false
	for _, c := range m.tasks {
		if c.tid != c.tgid || c.parent == nil {
			continue
		}
		if options&wNoThread != 0 && c.parent != cur || c.parent.tgid != cur.tgid {
			continue
		}
		if pid > 0 && c.tgid != int(pid) || pid < -1 {
			continue // pid < -1 is process group -pid: every process is in group 1
		}
		found = true
		if !m.zombie(c) {
			continue
		}
		status := uint32(c.exitStatus&0xff) << 8
		if c.termSig != 0 {
			status = uint32(c.termSig) // WIFSIGNALED, no core dump
		}
		m.releaseTask(v, c)
		if statAddr != 0 && v.putUser32(statAddr, status) != 0 {
			return -EFAULT
		}
		if ru != 0 && v.copyToUser(ru, make([]byte, sizeofRusage)) != 0 {
			return -EFAULT
		}
		return int64(c.tgid)
	}
	if !found {
		return -ECHILD
	}
	if options&wNoHang != 0 {
		return 0
	}
	cur.waitingChild = true // exitTask wakes the waiting threads of the parent's group
	v.sleepInSyscall(sysWait4)
	return 0
}

// zombie reports whether the process led by c has exited: every thread is
// dead and exit_mmap has finished (exitTask wakes the parent only then, but
// a parent that is already running could look earlier).
func (m *Machine) zombie(c *Task) bool {
	for _, t := range m.tasks {
		if t.tgid == c.tgid && t.state != taskDead {
			return false
		}
	}
	mm := c.mm
	return mm.users == 0 && mm.dead && len(mm.vmas) == 0 && mm.tlbFlushPending == 0
}

// releaseTask models release_task of a reaped process and the final mmput
// → __mmdrop of its mm: the threads leave the task list, the file table's
// references are dropped, and the page tables exit_mmap left behind (the
// model's exit_mmap zaps but does not free_pgtables) are freed with the
// pgd. No flush is needed: no CPU walks a dead mm's tables (a CPU still
// lazily on it reloads CR3 before returning to user mode).
func (m *Machine) releaseTask(v *VCPU, c *Task) {
	tasks := m.tasks[:0]
	for _, t := range m.tasks {
		if t.tgid != c.tgid {
			tasks = append(tasks, t)
		}
	}
	clear(m.tasks[len(tasks):])
	m.tasks = tasks
	v.putFiles(c.mm)
	m.mmFreeGlobalASID(c.mm) // destroy_context
	m.freePageTables(c.mm)
}

// freePageTables frees every page-table frame of a dead mm below the pgd,
// and the pgd (free_pgd_range + pgd_free). The leaf PTEs must all be none.
func (m *Machine) freePageTables(mm *MM) {
	if mm.pgd == 0 {
		return
	}
	var walk func(table phys.PFN, level int)
	walk = func(table phys.PFN, level int) {
		if level > 1 {
			for i := 0; i < 512; i++ {
				ea := table.Addr() + phys.Addr(i*8)
				e := m.mem.LoadPTE(ea)
				if e&tlb.PteP == 0 {
					continue
				}
				walk(ptePFN(e), level-1)
				m.mem.StorePTE(ea, 0)
			}
		}
		m.putPage(table)
	}
	walk(mm.pgd, 4)
	mm.pgd = 0
}

// putFiles drops an mm's references on its open files (exit_files →
// fput), releasing a userfaultfd context with its last reference.
func (v *VCPU) putFiles(mm *MM) {
	for i, f := range mm.files {
		if f != nil {
			v.fput(f)
		}
		mm.files[i] = nil
	}
	mm.files = nil
}

// fput models fput of an open file: the last reference to a userfaultfd
// runs userfaultfd_release.
func (v *VCPU) fput(f *file) {
	if f.pipe != nil {
		v.pipeRelease(f)
		return
	}
	if f.shm != nil {
		f.shm.opens--
		v.shmemRelease(f.shm)
		return
	}
	if f.uffd == nil {
		return
	}
	f.uffd.files--
	if f.uffd.files == 0 {
		v.userfaultfdRelease(f.uffd)
	}
}
