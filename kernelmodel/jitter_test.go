package kernelmodel

import (
	"slices"
	"testing"
)

// TestStartSkew: each vCPU's clock starts at a seeded draw in
// [0, startSkew), the same for the same seed, another for another seed;
// the time before the start is idle, not busy; NoJitter starts every CPU
// at 0.
func TestStartSkew(t *testing.T) {
	clocks := func(seed uint64, nojit bool) []uint64 {
		cfg := DefaultConfig()
		cfg.CPUs, cfg.MemBytes, cfg.Seed, cfg.NoJitter = 8, 16<<20, seed, nojit
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, v := range m.cpus {
			out = append(out, v.c.Clock)
		}
		for i, busy := range m.Stats().CPUCycles {
			if busy != 0 {
				t.Errorf("seed %d: cpu %d has %d busy cycles before running anything", seed, i, busy)
			}
		}
		return out
	}
	a, b, c := clocks(1, false), clocks(1, false), clocks(2, false)
	distinct := map[uint64]bool{}
	for i := range a {
		if a[i] >= startSkew {
			t.Errorf("cpu %d starts at %d, want < %d", i, a[i], startSkew)
		}
		if a[i] != b[i] {
			t.Errorf("cpu %d: seed 1 gave %d, then %d", i, a[i], b[i])
		}
		distinct[a[i]] = true
	}
	if len(distinct) < 2 {
		t.Errorf("seed 1: every CPU starts at %d", a[0])
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 give the same start clocks %v", a)
	}
	for i, s := range clocks(1, true) {
		if s != 0 {
			t.Errorf("NoJitter: cpu %d starts at %d, want 0", i, s)
		}
	}
}
