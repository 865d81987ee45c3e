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
			if len(v.lruAdd) != 0 {
				t.Errorf("lru_add pagevec holds %d pages after munmap, want 0", len(v.lruAdd))
			}
			for _, p := range pfns {
				if rc := m.pages[p].refcount; rc != 0 {
					t.Errorf("frame %#x refcount %d after munmap, want 0 (freed)", p, rc)
				}
			}
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
			if len(v.lruAdd) != 0 {
				t.Errorf("lru_add pagevec holds %d pages after tlb_finish_mmu, want 0", len(v.lruAdd))
			}
			for _, p := range pfns {
				if rc := m.pages[p].refcount; rc != 0 {
					t.Errorf("frame %#x refcount %d, want 0 (freed by the batch)", p, rc)
				}
			}
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
			if len(v.lruAdd) != 0 {
				t.Errorf("lru_add pagevec holds %d pages after exit_mmap, want 0", len(v.lruAdd))
			}
			for _, p := range pfns {
				if rc := m.pages[p].refcount; rc != 0 {
					t.Errorf("frame %#x refcount %d after exit_mmap, want 0", p, rc)
				}
			}
			detach(v)
		},
	})
}
