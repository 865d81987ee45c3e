package kernelmodel

import (
	"context"
	"testing"

	"github.com/tlbemu/emu/tlb"
)

// runScripts runs one kernel-side function per CPU under the machine's
// deterministic scheduler (a test harness for the flush protocol).
func runScripts(t *testing.T, m *Machine, scripts map[int]func(v *VCPU)) {
	t.Helper()
	for id, f := range scripts {
		m.cpus[id].script = f
		m.cpus[id].wakeAt = 0
		m.scripts++
	}
	for _, v := range m.cpus {
		if v.script == nil {
			v.idle = true
		}
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func newTestMachine(t *testing.T, cpus int) (*Machine, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CPUs = cpus
	cfg.MemBytes = 64 << 20
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Scripts pin an interleaving by their busy times from a common
	// start: no start skew (jitter.go), the IPI and lock jitter stay.
	for _, v := range m.cpus {
		v.c.Clock, v.idleSince, v.idleCycles = 0, 0, 0
	}
	mm, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	return m, mm
}

// busy keeps a CPU in the mm (non-lazy) for n cycles, taking IPIs.
func busy(v *VCPU, n uint64) {
	for i := uint64(0); i < n; i += 100 {
		v.spend(100)
	}
}

func TestFlushOver33PagesIsFull(t *testing.T) {
	m, mm := newTestMachine(t, 2)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.switchMMIrqsOff(mm)
			v.flushTLBMMRange(mm, 0x400000, 0x400000+34*4096, 12, false)
			v.flushTLBMMRange(mm, 0x400000, 0x400000+33*4096, 12, false)
		},
	})
	if m.nrTLBLocalFlushAll != 1 || m.nrTLBLocalFlushOne != 33 {
		t.Fatalf("local flush all=%d one=%d, want 1 and 33", m.nrTLBLocalFlushAll, m.nrTLBLocalFlushOne)
	}
	if got := m.flushEvents[TLBLocalMMShootdown][FlushAll]; got != 1 {
		t.Errorf("tlb_flush(local mm, FULL) = %d, want 1", got)
	}
	if m.nrTLBRemoteFlush != 0 {
		t.Errorf("nr_tlb_remote_flush = %d with no other CPU in the mask, want 0", m.nrTLBRemoteFlush)
	}
}

func TestLazyCPUGetsNoIPIUnlessTablesFreed(t *testing.T) {
	m, mm := newTestMachine(t, 2)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.switchMMIrqsOff(mm)
			busy(v, 5000) // let CPU 1 load the mm and go lazy
			v.flushTLBPage(mm, 0x400000)
			if m.ipisSent != 0 {
				t.Errorf("flush_tlb_page sent %d IPIs to a lazy CPU, want 0", m.ipisSent)
			}
			if m.nrTLBRemoteFlush != 1 {
				t.Errorf("nr_tlb_remote_flush = %d, want 1 (counted before the lazy filter)", m.nrTLBRemoteFlush)
			}
			v.flushTLBMM(mm) // freed_tables: lazy CPUs get it too
			if m.ipisSent != 1 {
				t.Errorf("flush_tlb_mm sent %d IPIs, want 1", m.ipisSent)
			}
		},
		1: func(v *VCPU) {
			v.switchMMIrqsOff(mm)
			v.enterLazyTLB()
			busy(v, 40000)
		},
	})
	// The lazy CPU, on the freed-tables IPI, leaves lazy mode by switching
	// to init_mm (flush_tlb_func_common's is_lazy branch).
	if m.cpus[1].tlbs.loadedMM != m.initMM {
		t.Errorf("lazy CPU still on the user mm after a freed-tables flush")
	}
	if mm.cpumask[1] {
		t.Errorf("CPU 1 still in mm_cpumask after leaving lazy mode")
	}
}

func TestConcurrentPartialFlushesDegradeToFull(t *testing.T) {
	// Two initiators flush different pages at the same time. Each target
	// sees a request whose new_tlb_gen is not local_gen+1 (or not mm_gen)
	// for one of them and does a full flush (flush_tlb_func_common,
	// arch/x86/mm/tlb.c, v5.10).
	m, mm := newTestMachine(t, 3)
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) { v.switchMMIrqsOff(mm); busy(v, 2000); v.flushTLBPage(mm, 0x400000); busy(v, 20000) },
		1: func(v *VCPU) { v.switchMMIrqsOff(mm); busy(v, 2000); v.flushTLBPage(mm, 0x401000); busy(v, 20000) },
		2: func(v *VCPU) { v.switchMMIrqsOff(mm); busy(v, 30000) },
	})
	full := m.flushEvents[TLBRemoteShootdown][FlushAll]
	noop := m.flushEvents[TLBRemoteShootdown][0]
	one := m.flushEvents[TLBRemoteShootdown][1]
	// CPU 0 flushes first (gen 0→1), CPU 1 a quantum later (1→2). CPU 2
	// gets gen 1's IPI when mm_gen is already 2: full flush; gen 2's IPI
	// then finds it caught up: no-op. CPU 1 gets gen 1's IPI after its own
	// full local flush: no-op. CPU 0 gets gen 2's IPI one generation
	// behind, and it is that generation: INVLPG of one page. The initiators'
	// local on_each_cpu_cond_mask calls are no-ops.
	if full != 1 || one != 1 || noop != 4 {
		t.Errorf("remote shootdown events one=%d full=%d noop=%d, want 1, 1, 4", one, full, noop)
	}
	if mm.tlbGen != 2 {
		t.Errorf("tlb_gen = %d, want 2", mm.tlbGen)
	}
	for _, v := range m.cpus {
		if g := v.tlbs.ctxs[v.tlbs.loadedASID].tlbGen; g != 2 {
			t.Errorf("cpu %d local tlb_gen = %d, want 2 (caught up)", v.id, g)
		}
	}
}

func TestASIDEvictionForcesFlush(t *testing.T) {
	m, _ := newTestMachine(t, 1)
	var mms []*MM
	for i := 0; i < 7; i++ {
		mm, err := m.newMM()
		if err != nil {
			t.Fatal(err)
		}
		mms = append(mms, mm)
	}
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.switchMMIrqsOff(mms[0])
			asid0 := v.tlbs.loadedASID
			for _, mm := range mms[1:] {
				v.switchMMIrqsOff(mm) // 6 slots: the 7th mm evicts mms[0]'s slot
			}
			before := m.flushEvents[TLBFlushOnTaskSwitch][FlushAll]
			v.switchMMIrqsOff(mms[0])
			if m.flushEvents[TLBFlushOnTaskSwitch][FlushAll] != before+1 {
				t.Errorf("returning to an evicted ASID did not flush")
			}
			_ = asid0
			// Returning to an mm whose slot is still resident and current
			// does not flush (CR3 with NOFLUSH).
			v.switchMMIrqsOff(mms[6])
			before = m.flushEvents[TLBFlushOnTaskSwitch][FlushAll]
			v.switchMMIrqsOff(mms[0])
			if m.flushEvents[TLBFlushOnTaskSwitch][FlushAll] != before {
				t.Errorf("returning to a resident, current ASID flushed")
			}
		},
	})
}

func TestSwitchedAwayCPUFlushesOnReturn(t *testing.T) {
	m, mm := newTestMachine(t, 2)
	other, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	runScripts(t, m, map[int]func(*VCPU){
		0: func(v *VCPU) {
			v.switchMMIrqsOff(mm)
			busy(v, 5000) // CPU 1 has loaded mm and switched away
			v.flushTLBPage(mm, 0x400000)
			if m.ipisSent != 0 {
				t.Errorf("IPI sent to a CPU that switched away (not in mm_cpumask)")
			}
		},
		1: func(v *VCPU) {
			v.switchMMIrqsOff(mm)
			v.c.MMU.Translate(tlb.VirtAddr(0x400000), tlb.Read)
			v.switchMMIrqsOff(other)
			busy(v, 20000)
			before := m.flushEvents[TLBFlushOnTaskSwitch][FlushAll]
			v.switchMMIrqsOff(mm) // ctxs[asid].tlb_gen is stale: flush
			if m.flushEvents[TLBFlushOnTaskSwitch][FlushAll] != before+1 {
				t.Errorf("return to mm after a missed flush did not flush")
			}
		},
	})
}
