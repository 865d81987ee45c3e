package tlb

import (
	"testing"

	"github.com/tlbemu/emu/internal/phys"
)

// bcastFixture is two CPUs whose TLBs both hold the invalidation fixture's
// translations under PCID 1 (tables a) and PCID 2 (tables b), joined by a
// fabric; INVLPGB is available with a count limit of 8 pages.
type bcastFixture struct {
	mmu [2]*MMU
	f   *Fabric
}

// bcastSlots are the (address, PCID) pairs the table below checks.
var bcastSlots = []struct {
	va   VirtAddr
	pcid uint16
}{{fxL, 1}, {fxO, 1}, {fxG, 1}, {fx2M, 1}, {fxL, 2}, {fxO, 2}, {fx2M, 2}}

func newBcastFixture(t *testing.T, countMax int) *bcastFixture {
	t.Helper()
	mem := phys.New(testMem)
	a, b := newPageTables(t, mem), newPageTables(t, mem)
	for i, p := range []*pageTables{a, b} {
		base := dataBase + phys.Addr(i)*(8<<20)
		p.Map(fxL, base, Size4K, rwUser)
		p.Map(fxO, base+0x1000, Size4K, rwUser)
		p.Map(fxG, dataBase+(20<<20), Size4K, rwUser|PteG)
		p.Map(fx2M, base+phys.Addr(2*mib2), Size2M, rwUser)
	}
	cfg := Zen4Config()
	cfg.InvlpgbCountMax = countMax
	x := &bcastFixture{}
	for i := range x.mmu {
		m := newMMU(t, mem, cfg, a, true, 1)
		for _, cr3 := range []uint64{a.CR3(1), b.CR3(2) | CR3NoFlush, a.CR3(1) | CR3NoFlush} {
			m.WriteCR3(cr3)
			for _, va := range []VirtAddr{fxL, fxO, fxG, fx2M + 0x1234} {
				if _, _, code := m.Translate(va, Read); code != 0 {
					t.Fatalf("fill %#x under CR3 %#x: #PF %#x", va, cr3, code)
				}
			}
		}
		x.mmu[i] = m
	}
	x.f = NewFabric(x.mmu[:])
	return x
}

// cached returns, for each of bcastSlots, whether m holds a translation.
func (m *MMU) bcastCached() []bool {
	out := make([]bool, len(bcastSlots))
	for i, s := range bcastSlots {
		out[i] = m.cachedUnder(s.va, s.pcid)
	}
	return out
}

func TestInvlpgb(t *testing.T) {
	all := []bool{true, true, true, true, true, true, true}
	cases := []struct {
		name          string
		rax, ecx, edx uint64
		gone          []bool // per bcastSlots: invalidated on every CPU once complete
	}{
		// invlpgb_flush_user_nr_nosync(pcid 1, fxL, 1): one page of one PCID.
		{"va+pcid", uint64(fxL) | InvlpgbVA | InvlpgbPCID | InvlpgbASID, 0, 1 << 16,
			[]bool{true, false, false, false, false, false, false}},
		// Two pages from fxL (fxL, fxL+4K): fxO is elsewhere, untouched.
		{"va+pcid 2 pages", uint64(fxL) | InvlpgbVA | InvlpgbPCID | InvlpgbASID, 1, 1 << 16,
			[]bool{true, false, false, false, false, false, false}},
		// 2 MiB stride reaches the 2 MiB page.
		{"pmd stride", uint64(fx2M) | InvlpgbVA | InvlpgbPCID | InvlpgbASID, 1 << 31, 1 << 16,
			[]bool{false, false, false, true, false, false, false}},
		// invlpgb_flush_single_pcid_nosync(2): all of PCID 2, no globals.
		{"single pcid", InvlpgbPCID | InvlpgbASID, 0, 2 << 16,
			[]bool{false, false, false, false, true, true, true}},
		// invlpgb_flush_addr_nosync(fxG, 1): the address in every PCID, globals included.
		{"addr incl global", uint64(fxG) | InvlpgbVA | InvlpgbGlobal | InvlpgbASID, 0, 0,
			[]bool{false, false, true, false, false, false, false}},
		// invlpgb_flush_all_nonglobals: every PCID, the global page stays.
		{"all nonglobals", InvlpgbASID, 0, 0,
			[]bool{true, true, false, true, true, true, true}},
		// invlpgb_flush_all: everything.
		{"all", InvlpgbGlobal | InvlpgbASID, 0, 0, all},
		// A guest's ASID: nothing of the host's.
		{"other asid", InvlpgbASID, 0, 5, make([]bool, len(bcastSlots))},
		// ASID not valid: every ASID, so the host's too.
		{"any asid", InvlpgbPCID, 0, 1 << 16,
			[]bool{true, true, false, true, false, false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newBcastFixture(t, 8)
			op := DecodeInvlpgb(c.rax, c.ecx, c.edx)
			const now = 10_000
			cyc, ok := x.f.Invlpgb(0, op, now)
			if !ok || cyc != x.mmu[0].cfg.Costs.Invlpgb {
				t.Fatalf("Invlpgb = %d, %v; want %d, true", cyc, ok, x.mmu[0].cfg.Costs.Invlpgb)
			}
			want := make([]bool, len(bcastSlots))
			for i, g := range c.gone {
				want[i] = !g
			}
			// The issuer at once; the other CPU not before completion.
			if got := x.mmu[0].bcastCached(); !equalBools(got, want) {
				t.Errorf("issuer after INVLPGB: cached %v, want %v", got, want)
			}
			done := now + uint64(x.mmu[0].cfg.Costs.InvlpgbLatency)
			if st := x.mmu[1].CompleteBroadcasts(done - 1); st != 0 {
				t.Errorf("remote stalled %d cycles before its completion time", st)
			}
			if got := x.mmu[1].bcastCached(); !equalBools(got, all) {
				t.Errorf("remote before completion: cached %v, want all", got)
			}
			if got := x.mmu[1].NextBroadcast(); got != done {
				t.Errorf("NextBroadcast = %d, want %d", got, done)
			}
			// TLBSYNC waits for the completion time.
			if w, ok := x.f.Tlbsync(0, now); !ok || w != done-now {
				t.Errorf("Tlbsync = %d, %v; want %d", w, ok, done-now)
			}
			if st := x.mmu[1].CompleteBroadcasts(done); st != 0 || x.mmu[1].Stats.InvlpgbApplied != 1 {
				t.Errorf("remote at its completion time: stall %d, applied %d; want 0, 1", st, x.mmu[1].Stats.InvlpgbApplied)
			}
			if got := x.mmu[1].bcastCached(); !equalBools(got, want) {
				t.Errorf("remote after completion: cached %v, want %v", got, want)
			}
			if got := x.mmu[1].NextBroadcast(); got != ^uint64(0) {
				t.Errorf("NextBroadcast after completion = %d, want none", got)
			}
		})
	}
}

func TestInvlpgbFaults(t *testing.T) {
	x := newBcastFixture(t, 8)
	op := DecodeInvlpgb(uint64(fxL)|InvlpgbVA|InvlpgbASID, 8, 0) // 9 pages > 8
	if _, ok := x.f.Invlpgb(0, op, 0); ok {
		t.Errorf("INVLPGB of 9 pages with invlpgb_count_max 8 did not fault")
	}
	op.Extra = 7
	if _, ok := x.f.Invlpgb(0, op, 0); !ok {
		t.Errorf("INVLPGB of 8 pages with invlpgb_count_max 8 faulted")
	}
	y := newBcastFixture(t, 0) // no INVLPGB: #UD
	if _, ok := y.f.Invlpgb(0, op, 0); ok {
		t.Errorf("INVLPGB without the feature did not fault")
	}
	if _, ok := y.f.Tlbsync(0, 0); ok {
		t.Errorf("TLBSYNC without the feature did not fault")
	}
	// TLBSYNC with nothing outstanding costs its own cycles only.
	if c, ok := x.f.Tlbsync(0, 1<<30); !ok || c != uint64(x.mmu[0].cfg.Costs.Tlbsync) {
		t.Errorf("idle Tlbsync = %d, %v; want %d", c, ok, x.mmu[0].cfg.Costs.Tlbsync)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBroadcastQueueBounded: a CPU that never reaches the completion times
// holds at most maxPendingBroadcasts invalidations; the oldest are performed
// early (allowed: an invalidation may complete any time before TLBSYNC),
// and a later completion performs the rest.
func TestBroadcastQueueBounded(t *testing.T) {
	x := newBcastFixture(t, 8)
	op := DecodeInvlpgb(uint64(fxO)|InvlpgbVA|InvlpgbPCID|InvlpgbASID, 0, 2<<16)
	first := DecodeInvlpgb(uint64(fxL)|InvlpgbVA|InvlpgbPCID|InvlpgbASID, 0, 1<<16)
	if _, ok := x.f.Invlpgb(0, first, 0); !ok {
		t.Fatal("INVLPGB faulted")
	}
	for i := 1; i <= 3*maxPendingBroadcasts; i++ {
		x.f.Invlpgb(0, op, uint64(i))
	}
	r := x.mmu[1]
	if n := len(r.bcast) - r.bhead; n != maxPendingBroadcasts {
		t.Errorf("pending %d, want the bound %d", n, maxPendingBroadcasts)
	}
	if cap(r.bcast) > 4*maxPendingBroadcasts {
		t.Errorf("queue capacity %d grows without bound", cap(r.bcast))
	}
	if r.cachedUnder(fxL, 1) {
		t.Errorf("the oldest invalidation was not performed early")
	}
	if got, want := r.Stats.InvlpgbApplied, uint64(2*maxPendingBroadcasts+1); got != want {
		t.Errorf("performed early %d, want %d", got, want)
	}
	r.CompleteBroadcasts(^uint64(0))
	if got, want := r.Stats.InvlpgbApplied, uint64(3*maxPendingBroadcasts+1); got != want || len(r.bcast) != 0 {
		t.Errorf("after completion: performed %d (want %d), pending %d", got, want, len(r.bcast))
	}
}
