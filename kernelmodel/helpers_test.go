package kernelmodel

import (
	"encoding/binary"
	"testing"

	"github.com/tlbemu/emu/internal/phys"
	"github.com/tlbemu/emu/tlb"
)

// Helpers for kernel-side scripts (runScripts) that act as a task of an mm:
// system calls and user accesses go through the real model paths.

// attach makes a new task of mm current on v, with mm loaded, as if it had
// been scheduled there: a thread of thread group tgid, or a new process's
// first thread for tgid 0. detach must undo it before the script returns.
func attach(v *VCPU, mm *MM, tgid int) *Task {
	t := v.m.newTask(mm, tgid, "test")
	t.home = v
	t.state = taskRunning
	v.curr = t
	v.switchMMIrqsOff(mm)
	return t
}

// detach takes the script's task off v (it stays in m.tasks) and puts the
// CPU in lazy TLB mode, as the idle task would.
func detach(v *VCPU) {
	if v.curr != nil && v.curr.state == taskRunning {
		v.curr.state = taskBlocked
	}
	v.curr = nil
	v.enterLazyTLB()
}

// userAccess performs a user-mode access to addr through v's MMU, taking
// page faults through doUserAddrFault until it succeeds. It returns false
// if the task was killed or put to sleep.
func userAccess(v *VCPU, addr uint64, write bool) bool {
	acc, code := tlb.Read, tlb.PFErrUser
	if write {
		acc, code = tlb.Write, tlb.PFErrUser|tlb.PFErrWrite
	}
	t := v.curr
	for i := 0; i < 8; i++ {
		_, cyc, pf := v.c.MMU.Translate(tlb.VirtAddr(addr), acc)
		v.c.Clock += uint64(cyc)
		if pf == 0 {
			return true
		}
		if pf&tlb.PFErrPresent != 0 {
			code |= tlb.PFErrPresent
		}
		v.doUserAddrFault(tlb.VirtAddr(addr), code)
		if v.curr != t {
			return false
		}
	}
	return false
}

// mmapAnon maps n private anonymous read-write pages for the current task.
func mmapAnon(t *testing.T, v *VCPU, n int) uint64 {
	t.Helper()
	a := v.sysMmap(0, uint64(n)*4096, protRead|protWrite, mapPrivate|mapAnonymous, -1)
	if a < 0 {
		t.Fatalf("mmap: %d", a)
	}
	return uint64(a)
}

// pte returns the PTE of addr in mm (0 if no page table).
func pte(m *Machine, mm *MM, addr uint64) uint64 {
	slot, _, ok := m.pteOffset(mm, addr)
	if !ok {
		return 0
	}
	return m.mem.LoadPTE(slot)
}

// putWords writes u64 words at a user address of the current task.
func putWords(t *testing.T, v *VCPU, addr uint64, w ...uint64) {
	t.Helper()
	b := make([]byte, 8*len(w))
	for i, x := range w {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	if err := v.copyToUser(addr, b); err != 0 {
		t.Fatalf("copy_to_user(%#x): %d", addr, err)
	}
}

// getWord reads a u64 at a user address of the current task.
func getWord(t *testing.T, v *VCPU, addr uint64) uint64 {
	t.Helper()
	x, err := v.getUser64(addr)
	if err != 0 {
		t.Fatalf("get_user(%#x): %d", addr, err)
	}
	return x
}

// pageOf returns the struct page behind addr's PTE.
func pageOf(m *Machine, mm *MM, addr uint64) *Page {
	return &m.pages[phys.PFN(tlb.PTEPFN(pte(m, mm, addr)))]
}

// newMachineWith builds a test machine with patches applied.
func newMachineWith(t *testing.T, cpus int, kernel string, patches ...Patch) (*Machine, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CPUs = cpus
	cfg.MemBytes = 64 << 20
	cfg.Kernel = kernel
	cfg.Patches = patches
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	return m, mm
}

// waitUntil spends time on v until its clock reaches c, taking IPIs.
func waitUntil(v *VCPU, c uint64) {
	for v.c.Clock < c {
		v.spend(min(50, c-v.c.Clock))
	}
}
