package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

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
		m.lruLock.last.wrote(v)
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

// TestLRUListLineHandoffs: under the LRU lock, lruvec_add_folio and
// lruvec_del_folio pay a line hand-off for each line of the list another
// CPU wrote last (the heads' line, lru_zone_size, the neighbours' and the
// page's own struct page), and none for lines this CPU wrote.
func TestLRUListLineHandoffs(t *testing.T) {
	m, _ := newTestMachine(t, 2)
	c := m.cfg.Costs
	alloc := func() phys.PFN {
		p, err := m.allocPage()
		if err != nil {
			t.Fatal(err)
		}
		m.pages[p].anon = true
		return p
	}
	a, b := alloc(), alloc()
	held := func(v *VCPU, f func()) uint64 {
		v.lruLockIRQSave()
		before := v.c.Clock
		f()
		d := v.c.Clock - before
		v.lruUnlockIRQRestore()
		return d
	}
	var addB, delA, delB uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			held(v, func() { v.lruvecAddFolio(a) })
			waitUntil(v, 20000)
			delA = held(v, func() { v.lruvecDelFolio(a) })
			delB = held(v, func() { v.lruvecDelFolio(b) })
		},
		1: func(v *VCPU) {
			waitUntil(v, 10000)
			addB = held(v, func() { v.lruvecAddFolio(b) })
		},
	})
	h, w := c.LineHandoff, c.LRULockPage
	// B's add: lru_zone_size, the heads' line and A's lru.prev (CPU 0's).
	if want := 3*h + w; addB != want {
		t.Errorf("CPU 1 adds B after CPU 0 added A: %d cycles, want %d (3 hand-offs + lru_lock_page)", addB, want)
	}
	// A's delete: A's own line (B's add wrote A.prev), B (prev), the head
	// (next), lru_zone_size: all CPU 1's.
	if want := 4*h + w; delA != want {
		t.Errorf("CPU 0 deletes A: %d cycles, want %d (4 hand-offs + lru_lock_page)", delA, want)
	}
	// B's delete: every line it writes is CPU 0's now (A's delete wrote
	// B.next, the head and lru_zone_size).
	if delB != w {
		t.Errorf("CPU 0 deletes B: %d cycles, want %d (lru_lock_page, no hand-off)", delB, w)
	}
	if m.lru.first[0] != lruListHead || m.pages[a].lruList != 0 || m.pages[b].lruList != 0 || m.pages[a].lru || m.pages[b].lru {
		t.Errorf("after both deletes: first %v, lists %d %d: want an empty list", m.lru.first[0], m.pages[a].lruList, m.pages[b].lruList)
	}
}

// TestMemcgPageCounters: a charge takes the page from the CPU's stock,
// which a page_counter_try_charge refills 64 pages at a time, one locked
// RMW per level (plus a hand-off per level when another CPU wrote the
// counters last); an uncharge of a batch is one such walk, none when the
// batch freed nothing.
func TestMemcgPageCounters(t *testing.T) {
	m, _ := newTestMachine(t, 2)
	c := m.cfg.Costs
	cost := func(v *VCPU, f func()) uint64 {
		before := v.c.Clock
		f()
		return v.c.Clock - before
	}
	var first, rest, other, unNone, unOwn uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			first = cost(v, v.memcgCharge)
			for range memcgChargeBatch - 1 {
				rest += cost(v, v.memcgCharge)
			}
			unNone = cost(v, func() { v.memcgUncharge(0) })
			unOwn = cost(v, func() { v.memcgUncharge(3) })
		},
		1: func(v *VCPU) {
			waitUntil(v, 100000)
			other = cost(v, v.memcgCharge)
		},
	})
	if want := c.MemcgLevels * c.LockedRMW; first != want || unOwn != want {
		t.Errorf("first charge %d, own uncharge %d cycles, want %d (%d levels x a locked RMW)", first, unOwn, want, c.MemcgLevels)
	}
	if rest != 0 || unNone != 0 {
		t.Errorf("63 charges from the stock %d cycles, an uncharge of nothing %d, want 0", rest, unNone)
	}
	if want := c.MemcgLevels * (c.LockedRMW + c.LineHandoff); other != want {
		t.Errorf("CPU 1's first charge after CPU 0's: %d cycles, want %d (a hand-off and a locked RMW per level)", other, want)
	}
}
