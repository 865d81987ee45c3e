package kernelmodel

import "testing"

// TestLRUAddDrainCharge: a drain of n pages takes the LRU lock once
// (uncontended: one locked RMW, no hand-off on the CPU that took it last)
// and holds it kernel.lru_lock_page cycles a page; the pages go on the LRU
// and come off it when munmap's release_pages frees them.
func TestLRUAddDrainCharge(t *testing.T) {
	m, mm := newTestMachine(t, 1)
	c := m.cfg.Costs
	runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
		attach(v, mm, 0)
		defer detach(v)
		a := mmapAnon(t, v, 3)
		for i := uint64(0); i < 3; i++ {
			userAccess(v, a+i*4096, true)
		}
		if n := len(v.lruAdd); n != 3 {
			t.Fatalf("pagevec holds %d pages, want 3", n)
		}
		pg := pageOf(m, mm, a)
		if pg.lru {
			t.Fatal("page on the LRU before the drain")
		}
		m.lruLock.last = v
		before := v.c.Clock
		v.lruAddDrain()
		if got, want := v.c.Clock-before, c.LockedRMW+3*c.LRULockPage; got != want {
			t.Errorf("drain of 3 pages: %d cycles, want %d", got, want)
		}
		if !pg.lru || pg.refcount != 1 {
			t.Errorf("after the drain: lru %v refcount %d, want on the LRU with the mapping's reference", pg.lru, pg.refcount)
		}
		if v.sysMunmap(a, 3*4096) != 0 {
			t.Fatal("munmap")
		}
		if pg.lru {
			t.Error("a page freed by release_pages is still on the LRU")
		}
	}})
	if m.lruLockWaitCycles != 0 {
		t.Errorf("one CPU: %d LRU-lock wait cycles, want 0", m.lruLockWaitCycles)
	}
}

// TestLRULockContention: a CPU that finds the LRU lock held spins for it
// with interrupts off, and its wait is counted; a CPU that takes it after
// another CPU's hold pays one line hand-off.
func TestLRULockContention(t *testing.T) {
	m, _ := newTestMachine(t, 2)
	c := m.cfg.Costs
	const hold = 20000
	var got1 uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.lruLockIRQSave()
			v.spend(hold)
			v.lruUnlockIRQRestore()
		},
		1: func(v *VCPU) {
			waitUntil(v, hold/4)
			v.lruLockIRQSave()
			got1 = v.c.Clock
			if v.irqOff == 0 {
				t.Error("LRU lock held with interrupts on")
			}
			v.lruUnlockIRQRestore()
		},
	})
	if m.lruLockWaitCycles < hold/2 {
		t.Errorf("LRU-lock wait %d cycles, want at least %d (CPU 0 holds it %d cycles)", m.lruLockWaitCycles, hold/2, hold)
	}
	if got1 < hold+c.LineHandoff {
		t.Errorf("CPU 1 got the lock at %d, want after CPU 0's release (%d) plus a hand-off", got1, hold)
	}
}
