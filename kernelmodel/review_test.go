package kernelmodel

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// Tests of model behaviours checked against the Linux v5.10.13 source in
// review (mm/mmap.c, mm/memory.c, mm/swap_state.c, kernel/exit.c,
// include/asm-generic/tlb.h).

// faultPages writes n fresh pages of a new private anonymous mapping and
// returns its base and the pages' frames; the writes leave the frames in
// v's lru_add pagevec (n < 15), each with a pagevec reference.
func faultPages(t *testing.T, v *VCPU, mm *MM, n int) (uint64, []phys.PFN) {
	t.Helper()
	base := mmapAnon(t, v, n)
	var pfns []phys.PFN
	for i := 0; i < n; i++ {
		userAccess(v, base+uint64(i)*4096, true)
		pfns = append(pfns, ptePFN(pte(v.m, mm, base+uint64(i)*4096)))
	}
	if len(v.lruAdd) != n {
		t.Fatalf("lru_add pagevec holds %d pages, want %d", len(v.lruAdd), n)
	}
	return base, pfns
}

// TestUnmapRegionDrainsLRU: unmap_region starts with lru_add_drain, so
// munmap of pages still in this CPU's lru_add pagevec frees them at once
// (the pagevec's reference goes before the gather's).
func TestUnmapRegionDrainsLRU(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base, pfns := faultPages(t, v, mm, 4)
			if r := v.sysMunmap(base, 4*4096); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			wantDrainedAndFreed(t, v, pfns, "munmap")
			detach(v)
		},
	})
}

// TestTLBFlushMMUDrainsLRU: the page-freeing step of tlb_flush_mmu
// (free_pages_and_swap_cache) drains the lru_add pagevec before releasing
// the batch, so a gather that did not drain first still frees its pages.
func TestTLBFlushMMUDrainsLRU(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			base, pfns := faultPages(t, v, mm, 3)
			g := v.tlbGatherMMU(mm, base, base+3*4096)
			v.zapRange(g, base, base+3*4096)
			if len(v.lruAdd) != 3 {
				t.Fatalf("pagevec drained before the flush (%d pages)", len(v.lruAdd))
			}
			v.tlbFinishMMU(g)
			wantDrainedAndFreed(t, v, pfns, "tlb_finish_mmu")
			detach(v)
		},
	})
}

// TestExitMMapDrainsLRU: exit_mmap starts with lru_add_drain, so the
// exiting CPU's pagevec gives up its references and every page of the mm
// is freed by the teardown.
func TestExitMMapDrainsLRU(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			_, pfns := faultPages(t, v, mm, 5)
			v.exitMMap(mm)
			wantDrainedAndFreed(t, v, pfns, "exit_mmap")
			detach(v)
		},
	})
}

// TestExitMMapIPIsLazyCPUs: exit_mm makes the exiting CPU lazy before
// exit_mmap, and exit_mmap's free_pgtables sets freed_tables, so the final
// flush interrupts a CPU that ran the mm and went idle (lazy, still in
// mm_cpumask), and both CPUs end on init_mm with the mm out of their
// masks. Without freed_tables the lazy CPU would get no IPI.
func TestExitMMapIPIsLazyCPUs(t *testing.T) {
	m, mm := newMachineWith(t, 2, "5.10")
	m.newTask(m.initMM, 0, "init") // the test process is not tgid 1
	idle, done := false, false
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			for !idle {
				v.spend(100)
			}
			attach(v, mm, 0)
			userAccess(v, mmapAnon(t, v, 1), true)
			ipis := m.ipisSent
			if !m.cpus[1].tlbs.isLazy || !mm.cpumask[1] {
				t.Fatalf("CPU 1 lazy %v, in mm_cpumask %v; want both", m.cpus[1].tlbs.isLazy, mm.cpumask[1])
			}
			v.exitTask(0)
			if got := m.ipisSent - ipis; got != 1 {
				t.Errorf("exit sent %d IPIs, want 1 (to the lazy CPU: freed_tables)", got)
			}
			for _, u := range m.cpus {
				if u.tlbs.loadedMM != m.initMM {
					t.Errorf("CPU %d still has the dead mm loaded", u.id)
				}
				if mm.cpumask[u.id] {
					t.Errorf("CPU %d still in the dead mm's cpumask", u.id)
				}
			}
			done = true
			detach(v)
		},
		1: func(v *VCPU) {
			tk := attach(v, mm, 0)
			detach(v)                                 // idle: lazy on mm
			tk.state, mm.users = taskDead, mm.users-1 // a thread that has exited
			idle = true
			for !done {
				v.spend(100)
			}
		},
	})
}

// TestPteFreeTLBWidensRange: munmap of the only page mapped in a 2 MiB
// region frees its PTE table, and pte_free_tlb widens the gathered range
// down to the PMD's start (tlb_flush_pmd_range): the page lies 100 pages
// above it, so the flush covers 101 pages, above the 33-page ceiling, and
// becomes a full flush. Without the widening it is one INVLPG.
func TestPteFreeTLBWidensRange(t *testing.T) {
	m, mm := newMachineWith(t, 1, "5.10")
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			const pmdBase = 0x4000_0000
			a := uint64(pmdBase + 100*4096)
			if r := v.sysMmap(a, 4096, protRead|protWrite, mapPrivate|mapAnonymous|mapFixed, -1); r != int64(a) {
				t.Fatalf("mmap = %#x", r)
			}
			userAccess(v, a, true)
			all, one := m.nrTLBLocalFlushAll, m.nrTLBLocalFlushOne
			if r := v.sysMunmap(a, 4096); r != 0 {
				t.Fatalf("munmap = %d", r)
			}
			if got := m.nrTLBLocalFlushAll - all; got != 1 {
				t.Errorf("full local flushes %d, want 1 (range widened to the PMD start)", got)
			}
			if got := m.nrTLBLocalFlushOne - one; got != 0 {
				t.Errorf("single-page flushes %d, want 0", got)
			}
			if e := pmdOf(m, mm, a); e != 0 {
				t.Errorf("PMD %#x after munmap, want none (table freed)", e)
			}
			detach(v)
		},
	})
}

// wantDrainedAndFreed checks that after the named step v's lru_add pagevec
// is empty and every frame of pfns has lost its last reference.
func wantDrainedAndFreed(t *testing.T, v *VCPU, pfns []phys.PFN, after string) {
	t.Helper()
	if len(v.lruAdd) != 0 {
		t.Errorf("lru_add pagevec holds %d pages after %s, want 0", len(v.lruAdd), after)
	}
	for _, p := range pfns {
		if rc := v.m.pages[p].refcount; rc != 0 {
			t.Errorf("frame %#x refcount %d after %s, want 0 (freed)", p, rc, after)
		}
	}
}
