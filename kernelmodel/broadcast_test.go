package kernelmodel

import (
	"strings"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// newBcastMachine builds a machine with cpus vCPUs whose CPU offers mech
// (zen4 for INVLPGB, sapphire-rapids for RAR) and selects it.
func newBcastMachine(t *testing.T, cpus int, mech FlushMech, pti bool, patches ...Patch) (*Machine, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	model := "zen4"
	if mech == FlushRAR {
		model = "sapphire-rapids"
	}
	if _, err := ApplyPreset(&cfg, model, ""); err != nil {
		t.Fatal(err)
	}
	cfg.Kernel = "6.18" // global ASIDs and broadcast_tlb_flush are v6.15+
	cfg.CPUs, cfg.MemBytes, cfg.Flush, cfg.PTI, cfg.Patches = cpus, 64<<20, mech, pti, patches
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

func TestCheckFlush(t *testing.T) {
	cases := []struct {
		model string
		mech  FlushMech
		err   string // "" = offered
	}{
		{"skylake-sp", FlushIPI, ""},
		{"skylake-sp", FlushINVLPGB, "skylake-sp offers: ipi"},
		{"zen3", FlushINVLPGB, ""},
		{"zen4", FlushINVLPGB, ""},
		{"zen4", FlushRAR, "zen4 offers: ipi, invlpgb"},
		{"icelake-sp", FlushRAR, "icelake-sp offers: ipi"},
		{"sapphire-rapids", FlushRAR, ""},
		{"sapphire-rapids", FlushINVLPGB, "sapphire-rapids offers: ipi, rar"},
		{"zen4", "broadcast", `unknown -flush "broadcast" (valid: ipi, invlpgb, rar)`},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		if _, err := ApplyPreset(&cfg, c.model, ""); err != nil {
			t.Fatal(err)
		}
		cfg.Flush = c.mech
		err := CheckFlush(&cfg)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s -flush %s: %v, want offered", c.model, c.mech, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s -flush %s: error %v, want one containing %q", c.model, c.mech, err, c.err)
		}
	}
}

// TestGlobalASIDPool: allocate_global_asid hands out 6, 7, … from the pool
// above the dynamic ASIDs; a freed ASID is not reused until the search
// reaches MAX_ASID_AVAILABLE-1, where reset_global_asid_space flushes every
// CPU's non-global translations (one INVLPGB + TLBSYNC) and makes the freed
// ones free again.
func TestGlobalASIDPool(t *testing.T) {
	m, _ := newBcastMachine(t, 2, FlushINVLPGB, false)
	runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) { testGlobalASIDPool(t, m, v) }})
}

func testGlobalASIDPool(t *testing.T, m *Machine, v *VCPU) {
	maxASID := m.maxASIDAvailable()
	if maxASID != 4094 {
		t.Fatalf("MAX_ASID_AVAILABLE = %d without PTI, want 4094", maxASID)
	}
	g := &m.bc.gasid
	if g.available != maxASID-tlbNrDynASIDs-1 {
		t.Fatalf("global_asid_available = %d, want %d", g.available, maxASID-tlbNrDynASIDs-1)
	}
	var got []int
	for i := 0; i < 3; i++ {
		got = append(got, v.allocateGlobalASID())
	}
	if got[0] != 6 || got[1] != 7 || got[2] != 8 || g.resets != 1 {
		t.Fatalf("first allocations %v with %d resets, want [6 7 8] after the initial reset", got, g.resets)
	}
	inv := m.bc.invlpgbs
	// Free 7 (as mm_free_global_asid does), then allocate up to the edge.
	g.freed[7] = true
	g.available++
	for a := 9; a < maxASID; a++ {
		if b := v.allocateGlobalASID(); b != a {
			t.Fatalf("allocation got %d, want %d (a freed ASID is not reused before the wrap)", b, a)
		}
	}
	if g.resets != 1 || m.bc.invlpgbs != inv {
		t.Fatalf("reset before the edge: resets %d, INVLPGBs %d → %d", g.resets, inv, m.bc.invlpgbs)
	}
	// The edge: reset (one INVLPGB of all non-globals), then 7 is free.
	if b := v.allocateGlobalASID(); b != 7 {
		t.Errorf("allocation after the wrap got %d, want the freed 7", b)
	}
	if g.resets != 2 || m.bc.invlpgbs != inv+1 {
		t.Errorf("wrap: resets %d (want 2), INVLPGBs +%d (want 1)", g.resets, m.bc.invlpgbs-inv)
	}
}

// TestBroadcastFlushNoIPIs: with a global ASID, flush_tlb_mm_range on a
// 4-CPU process sends no IPI (broadcast_tlb_flush: INVLPGB + TLBSYNC), and
// the other CPUs' translations of the page are gone once complete; without
// one (before use_global_asid) the same flush sends IPIs.
func TestBroadcastFlushNoIPIs(t *testing.T) {
	m, mm := newBcastMachine(t, 4, FlushINVLPGB, false)
	var page uint64
	const flushAt = 200_000
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			page = mmapAnon(t, v, 1)
			userAccess(v, page, true)
			waitUntil(v, flushAt/2)
			ipis := m.ipisSent
			v.flushTLBPage(mm, page)
			if m.ipisSent == ipis {
				t.Errorf("dynamic ASIDs: flush_tlb_page sent no IPI to 3 CPUs running the mm")
			}
			v.useGlobalASID(mm)
			if mm.bc.globalASID != 6 || !mm.bc.asidTransition {
				t.Fatalf("use_global_asid: ASID %d, transition %v; want 6, true", mm.bc.globalASID, mm.bc.asidTransition)
			}
			v.switchMMIrqsOff(mm) // this CPU moves to the global ASID
			waitUntil(v, flushAt)
			// The others still run under their dynamic ASIDs: the first
			// broadcast flush ends the transition with IPIs.
			ipis = m.ipisSent
			v.flushTLBPage(mm, page)
			if m.ipisSent == ipis {
				t.Errorf("ASID transition: the broadcast flush sent no IPI to the CPUs still on dynamic ASIDs")
			}
			waitUntil(v, flushAt+80_000)
			ipis, inv := m.ipisSent, m.bc.invlpgbs
			userAccess(v, page, true)
			v.flushTLBPage(mm, page)
			if m.ipisSent != ipis || m.bc.invlpgbs != inv+1 {
				t.Errorf("global ASID: flush_tlb_page sent %d IPIs and %d INVLPGBs, want 0 and 1", m.ipisSent-ipis, m.bc.invlpgbs-inv)
			}
			if mm.bc.asidTransition {
				t.Errorf("ASID transition not finished by a flush with every CPU on the global ASID")
			}
			if m.bc.tlbsyncWait == 0 {
				t.Errorf("TLBSYNC never waited for a remote completion")
			}
			waitUntil(v, flushAt+200_000)
			detach(v)
		},
		1: func(v *VCPU) { remoteUser(t, v, mm, &page, flushAt) },
		2: func(v *VCPU) { remoteUser(t, v, mm, &page, flushAt) },
		3: func(v *VCPU) { remoteUser(t, v, mm, &page, flushAt) },
	})
}

// remoteUser runs a thread of mm that reads page (set by CPU 0 before
// flushAt/2) before each flush of TestBroadcastFlushNoIPIs and checks that
// the last, broadcast one removed its translation.
func remoteUser(t *testing.T, v *VCPU, mm *MM, page *uint64, flushAt uint64) {
	attach(v, mm, 1)
	waitUntil(v, flushAt/2-10_000)
	userAccess(v, *page, false)
	waitUntil(v, flushAt+60_000)
	if v.tlbs.loadedASID != mm.bc.globalASID {
		t.Errorf("cpu %d runs the mm under ASID %d after the transition, want %d", v.id, v.tlbs.loadedASID, mm.bc.globalASID)
	}
	userAccess(v, *page, false)
	if !v.c.MMU.Cached(tlb.VirtAddr(*page)) {
		t.Fatalf("cpu %d: no translation of the page to flush", v.id)
	}
	waitUntil(v, flushAt+150_000) // CPU 0's broadcast flush completed by now
	if v.c.MMU.Cached(tlb.VirtAddr(*page)) {
		t.Errorf("cpu %d still caches the page after the broadcast flush completed", v.id)
	}
	if v.c.MMU.Stats.InvlpgbApplied == 0 {
		t.Errorf("cpu %d performed no broadcast invalidation", v.id)
	}
	detach(v)
}

// TestConsiderGlobalASID: consider_global_asid gives the mm a global ASID
// when its check comes up ((tid & 0x1f) == (jiffies & 0x1f)) and more than
// three CPUs run it; not with three.
func TestConsiderGlobalASID(t *testing.T) {
	for _, cpus := range []int{3, 4} {
		m, mm := newBcastMachine(t, cpus, FlushINVLPGB, false)
		scripts := map[int]func(*VCPU){}
		for i := 0; i < cpus; i++ {
			scripts[i] = func(v *VCPU) {
				task := attach(v, mm, 1)
				waitUntil(v, 10_000)
				if v.id == 0 {
					// Run the check at a tick where this task's turn comes.
					j := uint64(task.tid & 0x1f)
					waitUntil(v, j*JiffyCycles+1)
					v.considerGlobalASID(mm)
					if got, want := mm.bc.globalASID != 0, cpus > 3; got != want {
						t.Errorf("%d CPUs: global ASID assigned %v, want %v", cpus, got, want)
					}
				} else {
					waitUntil(v, 20*JiffyCycles)
				}
				detach(v)
			}
		}
		runScripts(t, m, scripts)
	}
}

// TestRARFlush: with RAR a global-ASID flush signals the other CPUs of
// mm_cpumask (no IPI, no interrupt on them) and flushes locally through
// flush_tlb_func; a CPU that joins mm_cpumask later flushes at the switch
// (RFC v3 7/7: it may hold stale entries of the global ASID).
func TestRARFlush(t *testing.T) {
	m, mm := newBcastMachine(t, 3, FlushRAR, false)
	var page uint64
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			attach(v, mm, 0)
			page = mmapAnon(t, v, 1)
			userAccess(v, page, true)
			v.useGlobalASID(mm)
			mm.bc.asidTransition = false // every CPU switches below before a flush
			v.switchMMIrqsOff(mm)
			waitUntil(v, 100_000)
			ipis, reqs, irqs := m.ipisSent, m.bc.rar.reqs, m.cpus[1].tlbIRQs
			v.flushTLBPage(mm, page)
			if m.ipisSent != ipis || m.bc.rar.reqs != reqs+1 || m.cpus[1].tlbIRQs != irqs {
				t.Errorf("RAR flush: %d IPIs, %d RAR requests, %d TLB interrupts on cpu 1; want 0, 1, 0", m.ipisSent-ipis, m.bc.rar.reqs-reqs, m.cpus[1].tlbIRQs-irqs)
			}
			if m.bc.rar.inUse != 0 {
				t.Errorf("payload slots still taken after the request: %#x", m.bc.rar.inUse)
			}
			waitUntil(v, 300_000)
			detach(v)
		},
		1: func(v *VCPU) {
			waitUntil(v, 20_000)
			attach(v, mm, 1)
			if v.tlbs.loadedASID != mm.bc.globalASID {
				t.Errorf("cpu 1 runs under ASID %d, want the global %d", v.tlbs.loadedASID, mm.bc.globalASID)
			}
			userAccess(v, page, false)
			waitUntil(v, 200_000)
			if v.c.MMU.Cached(tlb.VirtAddr(page)) {
				t.Errorf("cpu 1 still caches the page after the RAR flush")
			}
			if m.bc.stallCycles == 0 {
				t.Errorf("no RAR action stalled a target")
			}
			detach(v)
		},
		2: func(v *VCPU) {
			// Not in mm_cpumask at the flush: joins afterwards, so the
			// switch flushes (TLB_FLUSH_ON_TASK_SWITCH with all pages).
			waitUntil(v, 250_000)
			before := m.flushEvents[TLBFlushOnTaskSwitch][FlushAll]
			attach(v, mm, 1)
			if m.flushEvents[TLBFlushOnTaskSwitch][FlushAll] != before+1 {
				t.Errorf("switch to a global ASID on a CPU new to mm_cpumask did not flush")
			}
			detach(v)
		},
	})
}

// TestPTIGlobalASIDUserPCIDFlush: with PTI, a global ASID of 15 or more has
// a kPCID (16+) that v6.18's 16-bit user_pcid_flush_mask cannot hold. With
// RAR, rar_tlb_flush flushes the initiator through flush_tlb_func, whose
// full flush defers the user PCID's flush to the return to user mode
// (invalidate_user_asid): the bit is lost, the user PCID keeps the
// translation of a page MADV_DONTNEED freed, and the next user store goes
// to the freed page (emu_write_after_cow). The enlarged mask
// (PatchUserPCIDFlushMask) keeps the bit; INVLPGB flushes the user PCID by
// broadcast and never defers it.
func TestPTIGlobalASIDUserPCIDFlush(t *testing.T) {
	cases := []struct {
		mech    FlushMech
		patches []Patch
		hazard  bool
	}{
		{FlushRAR, nil, true},
		{FlushRAR, []Patch{PatchUserPCIDFlushMask}, false},
		{FlushINVLPGB, nil, false},
	}
	for _, c := range cases {
		m, mm := newBcastMachine(t, 2, c.mech, true, c.patches...)
		runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
			// Nine other processes took global ASIDs 6-14.
			for i := 0; i < 9; i++ {
				d, err := m.newMM()
				if err != nil {
					t.Fatal(err)
				}
				v.useGlobalASID(d)
			}
			v.useGlobalASID(mm)
			mm.bc.asidTransition = false // single CPU: nothing to transition
			if mm.bc.globalASID != 15 || kernPCID(15) != 16 {
				t.Fatalf("global ASID %d, want 15 (kPCID 16)", mm.bc.globalASID)
			}
			attach(v, mm, 0)
			base := mmapAnon(t, v, 1)
			// An earlier flush: with the generation past 1, flush_tlb_func's
			// partial path (INVPCID of the user PCID) is never taken for a
			// global ASID under RAR (no ctxs[] slot: local_tlb_gen 0).
			v.flushTLBPage(mm, base)
			v.exitToUser()
			if !userAccess(v, base, true) || v.c.MMU.PCID() != userPCID(15) {
				t.Fatalf("user store: PCID %#x, want the user PCID %#x", v.c.MMU.PCID(), userPCID(15))
			}
			v.enterKernel()
			if r := v.sysMadvise(base, 4096, madvDontneed); r != 0 {
				t.Fatalf("madvise = %d", r)
			}
			v.exitToUser()
			userAccess(v, base, true)
			v.enterKernel()
			if got := m.writeAfterCOW > 0; got != c.hazard {
				t.Errorf("-flush %s patches %v: stale user store after MADV_DONTNEED = %v (emu_write_after_cow %d), want %v",
					c.mech, c.patches, got, m.writeAfterCOW, c.hazard)
			}
			if lost := v.bcv.lostUserPCIDFlushes > 0; lost != (c.hazard) {
				t.Errorf("-flush %s patches %v: lost user-PCID flushes %d", c.mech, c.patches, v.bcv.lostUserPCIDFlushes)
			}
			detach(v)
		}})
	}
}
