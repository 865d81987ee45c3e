package kernelmodel

import (
	"slices"
	"testing"

	"github.com/tlbemu/emu/cpu"
	"github.com/tlbemu/emu/tlb"
)

// TestForkWriteProtectsAndFlushesOnce checks dup_mmap / copy_present_pte
// (kernel/fork.c, mm/memory.c, v5.10): the parent's writable PTEs are write-protected
// (hardware D kept), the child maps the same pages read-only and old,
// refcount and mapcount go up by one, and the whole fork issues exactly one
// flush_tlb_mm of the parent — a full flush with freed_tables, so the other
// CPU running the mm gets one IPI — before mmap_lock is released. A later
// write fault in the parent copies (mapcount 2).
func TestForkWriteProtectsAndFlushesOnce(t *testing.T) {
	m, mm := newMachineWith(t, 2, "5.10")
	const n = 4
	var base uint64
	ready, done := false, false
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			p := attach(v, mm, 0)
			base = mmapAnon(t, v, n)
			for i := uint64(0); i < n; i++ {
				userAccess(v, base+i*4096, true)
			}
			v.lruAddDrain() // page_count 1: only the mapping
			ready = true
			waitUntil(v, v.c.Clock+5000) // CPU 1 loads the mm
			before := pte(m, mm, base)
			flushes, ipis, remote := m.flushEvents[TLBLocalMMShootdown][FlushAll], m.ipisSent, m.nrTLBRemoteFlush
			v.c.Regs.GPR[cpu.RAX] = 0xdead
			pid := v.sysFork()
			c := m.tasks[len(m.tasks)-1]
			if pid != int64(c.tid) || c.tgid != c.tid {
				t.Errorf("fork returned %d, want the child's pid %d", pid, c.tid)
			}
			// The child never runs in this test.
			c.home.runq = slices.DeleteFunc(c.home.runq, func(x *Task) bool { return x == c })
			if c.parent != p || c.mm == mm || c.regs.GPR[cpu.RAX] != 0 || c.mm.users != 1 {
				t.Errorf("child: parent %v mm %p users %d rax %#x", c.parent == p, c.mm, c.mm.users, c.regs.GPR[cpu.RAX])
			}
			if got := m.flushEvents[TLBLocalMMShootdown][FlushAll] - flushes; got != 1 {
				t.Errorf("local full flushes = %d, want 1 (one flush_tlb_mm)", got)
			}
			if got := m.nrTLBRemoteFlush - remote; got != 1 {
				t.Errorf("nr_tlb_remote_flush += %d, want 1", got)
			}
			if got := m.ipisSent - ipis; got != 1 {
				t.Errorf("IPIs = %d, want 1", got)
			}
			if mm.tlbFlushPending != 0 || mm.revokeOps != 0 {
				t.Errorf("tlb_flush_pending %d revokeOps %d after fork", mm.tlbFlushPending, mm.revokeOps)
			}
			for i := uint64(0); i < n; i++ {
				a := base + i*4096
				pe, ce := pte(m, mm, a), pte(m, c.mm, a)
				if pteWrite(pe) || pe&tlb.PteD == 0 {
					t.Errorf("page %d: parent PTE %#x, want write-protected with D kept", i, pe)
				}
				if ptePFN(ce) != ptePFN(pe) || pteWrite(ce) || ce&tlb.PteA != 0 {
					t.Errorf("page %d: child PTE %#x, want the parent's page read-only and old", i, ce)
				}
				if pg := pageOf(m, mm, a); pg.refcount != 2 || pg.mapcount != 2 {
					t.Errorf("page %d: refcount %d mapcount %d, want 2 and 2", i, pg.refcount, pg.mapcount)
				}
			}
			if before&^tlb.PteRW != pte(m, mm, base) {
				t.Errorf("parent PTE %#x -> %#x: only RW may change", before, pte(m, mm, base))
			}
			copies := m.wpCopy
			userAccess(v, base, true)
			if m.wpCopy != copies+1 {
				t.Errorf("write fault after fork: wp_copy += %d, want 1", m.wpCopy-copies)
			}
			if pg := pageOf(m, c.mm, base); pg.mapcount != 1 || pg.refcount != 1 {
				t.Errorf("child's page after the parent's COW: refcount %d mapcount %d, want 1 and 1", pg.refcount, pg.mapcount)
			}
			done = true
			detach(v)
		},
		1: func(v *VCPU) {
			for !ready {
				v.spend(100)
			}
			attach(v, mm, 1)
			for !done {
				v.spend(100)
			}
			detach(v)
		},
	})
}

// forkWaitProgram: fork; the child stores into the page the parent wrote
// and exits with status 3; the parent waits for it (status and pid in the
// data segment), waits again (ECHILD) and dumps.
func forkWaitProgram() []byte {
	var a asm
	a.store(guestData+0x100, 42)
	a.syscall(sysFork)
	a.storeRAX(guestData)
	j := a.jnzRAX()
	// child
	a.store(guestData+0x100, 43)
	a.exitGroup(3)
	a.bind(j)
	a.syscall(sysWait4, ^uint64(0), guestData+8, 0, 0)
	a.storeRAX(guestData + 16)
	a.syscall(sysWait4, ^uint64(0), guestData+24, 0, 0)
	a.storeRAX(guestData + 32)
	a.syscall(sysWait4, 0, 0, 0x100, 0) // bad options
	a.storeRAX(guestData + 40)
	a.dump()
	a.exitGroup(0)
	return a.b
}

func TestForkWait4(t *testing.T) {
	for _, cpus := range []int{1, 2} {
		cfg := DefaultConfig()
		cfg.CPUs = cpus
		cfg.MemBytes = 64 << 20
		m, err := runGuest(t, cfg, forkWaitProgram())
		if err != nil {
			t.Fatal(err)
		}
		pid := guestWord(t, m, guestData)
		if pid != 2 {
			t.Errorf("cpus=%d: fork returned %d in the parent, want 2", cpus, pid)
		}
		if got := guestWord(t, m, guestData+16); got != pid {
			t.Errorf("cpus=%d: wait4 returned %d, want %d", cpus, int64(got), pid)
		}
		if got := guestWord(t, m, guestData+8) & 0xffffffff; got != 3<<8 {
			t.Errorf("cpus=%d: wait status %#x, want %#x", cpus, got, 3<<8)
		}
		if got := int64(guestWord(t, m, guestData+32)); got != -ECHILD {
			t.Errorf("cpus=%d: second wait4 = %d, want -ECHILD", cpus, got)
		}
		if got := int64(guestWord(t, m, guestData+40)); got != -EINVAL {
			t.Errorf("cpus=%d: wait4 with bad options = %d, want -EINVAL", cpus, got)
		}
		if got := guestWord(t, m, guestData+0x100); got != 42 {
			t.Errorf("cpus=%d: parent sees %d, want 42 (the child's store went to its copy)", cpus, got)
		}
		if len(m.tasks) != 1 {
			t.Errorf("cpus=%d: %d tasks after the reap, want 1", cpus, len(m.tasks))
		}
	}
}

// TestForkChildExitFreesPages: once the child has exited (exit_mmap) and
// been reaped (wait4's release), every frame it used — the pages it
// faulted or COW-copied, its page tables, its pgd — is back in the
// allocator, and the parent's pages are exclusively the parent's again.
func TestForkChildExitFreesPages(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base := mmapAnon(t, v, 8)
			for i := uint64(0); i < 4; i++ {
				userAccess(v, base+i*4096, true)
			}
			v.lruAddDrain()
			before := m.mem.InUse()
			v.sysFork()
			c := m.tasks[len(m.tasks)-1]
			c.home.runq = slices.DeleteFunc(c.home.runq, func(x *Task) bool { return x == c })
			// Run as the child: COW one shared page, fault a new one.
			p := v.curr
			v.curr = c
			c.state = taskRunning
			v.switchMMIrqsOff(c.mm)
			userAccess(v, base, true)
			userAccess(v, base+6*4096, true)
			// exit_group of the child, then the parent's wait4 reaps it.
			c.state = taskDead
			c.mm.users--
			v.exitMMap(c.mm)
			v.curr = p
			v.switchMMIrqsOff(mm)
			if !m.zombie(c) {
				t.Fatalf("child not a zombie after exit_mmap")
			}
			m.releaseTask(v, c)
			v.lruAddDrain()
			if got := m.mem.InUse(); got != before {
				t.Errorf("frames in use %d after the child was reaped, want %d as before the fork", got, before)
			}
			for i := uint64(0); i < 4; i++ {
				if pg := pageOf(m, mm, base+i*4096); pg.refcount != 1 || pg.mapcount != 1 {
					t.Errorf("parent page %d: refcount %d mapcount %d, want 1 and 1", i, pg.refcount, pg.mapcount)
				}
			}
			if slices.Contains(m.tasks, c) {
				t.Errorf("reaped child still in the task list")
			}
			detach(v)
		},
	})
}

// TestForkSkipsVMAsWithoutAnonVMA checks copy_page_range's early return
// (mm/memory.c, v5.10: "Don't copy ptes where a page fault will fill them
// correctly"): a private anonymous VMA that was only read maps the zero
// page but has no anon_vma (do_anonymous_page's read path skips
// anon_vma_prepare), so the child gets no PTEs for it and refaults; a VMA
// with a written page has one and its PTEs are copied.
func TestForkSkipsVMAsWithoutAnonVMA(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			read := mmapAnon(t, v, 2)
			written := mmapAnon(t, v, 2)
			userAccess(v, read, false)
			userAccess(v, written, true)
			if !ptePresent(pte(m, mm, read)) || ptePFN(pte(m, mm, read)) != m.zeroPage {
				t.Fatalf("read fault: PTE %#x, want the zero page", pte(m, mm, read))
			}
			if vr, vw := mm.findVMA(read), mm.findVMA(written); vr == nil || vw == nil || vr == vw || vr.anonVMA || !vw.anonVMA {
				t.Fatalf("VMAs: read %+v written %+v: want two, only the written one with an anon_vma", vr, vw)
			}
			v.sysFork()
			c := m.tasks[len(m.tasks)-1]
			c.home.runq = slices.DeleteFunc(c.home.runq, func(x *Task) bool { return x == c })
			if e := pte(m, c.mm, read); e != 0 {
				t.Errorf("child PTE of the read-only-touched VMA %#x, want none (copy_page_range returned early)", e)
			}
			if e := pte(m, c.mm, written); !ptePresent(e) || ptePFN(e) != ptePFN(pte(m, mm, written)) {
				t.Errorf("child PTE of the written VMA %#x, want the parent's page", e)
			}
			if !c.mm.findVMA(written).anonVMA {
				t.Error("child's copy of the written VMA has no anon_vma (anon_vma_fork)")
			}
			detach(v)
		},
	})
}
