package kernelmodel

import (
	"math/rand/v2"
	"testing"
)

// fullUnmappedArea is getUnmappedArea without the gap cache: the plain
// top-down search over every VMA.
func fullUnmappedArea(mm *MM, length uint64) uint64 {
	hi := mm.mmapBase
	for i := len(mm.vmas) - 1; i >= -1; i-- {
		lo := uint64(0x10000)
		if i >= 0 {
			lo = mm.vmas[i].end
		}
		if i >= 0 && mm.vmas[i].start >= hi {
			continue
		}
		if hi >= lo+length {
			return hi - length
		}
		if i >= 0 && mm.vmas[i].start < hi {
			hi = mm.vmas[i].start
		}
	}
	return 0
}

// TestGapCacheMatchesFullSearch: with mmaps of random sizes, munmaps of
// random ranges, mprotects that split and merge VMAs, and searches whose
// result is not used, every getUnmappedArea answer equals the full
// search's.
func TestGapCacheMatchesFullSearch(t *testing.T) {
	withUser(t, 1, func(v *VCPU, s uint64) {
		mm := v.curr.mm
		rng := rand.New(rand.NewPCG(1, 2))
		var mapped []uint64
		for step := range 4000 {
			length := uint64(1+rng.IntN(16)) << 12
			switch op := rng.IntN(10); {
			case op < 5:
				want := fullUnmappedArea(mm, length)
				r := v.sysMmap(0, length, protRead|protWrite, mapPrivate|mapAnonymous, -1)
				if uint64(r) != want {
					t.Fatalf("step %d: mmap(%#x) = %#x, full search %#x", step, length, r, want)
				}
				mapped = append(mapped, uint64(r))
			case op < 7 && len(mapped) > 0:
				a := mapped[rng.IntN(len(mapped))] + uint64(rng.IntN(4))<<12
				v.sysMunmap(a, length)
			case op < 9 && len(mapped) > 0:
				a := mapped[rng.IntN(len(mapped))]
				v.sysMprotect(a, length, uint64(1+rng.IntN(3)))
			default:
				// A search whose answer the caller drops.
				want := fullUnmappedArea(mm, length)
				if got := mm.getUnmappedArea(length); got != want {
					t.Fatalf("step %d: getUnmappedArea(%#x) = %#x, full search %#x", step, length, got, want)
				}
			}
		}
	})
}
