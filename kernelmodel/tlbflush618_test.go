package kernelmodel

import (
	"slices"
	"testing"
)

// newMachine618 builds a cpus-vCPU machine on kernel with patches, its
// timing without jitter, and two fresh mms.
func newMachine618(t *testing.T, cpus int, kernel string, patches ...Patch) (*Machine, *MM, *MM) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CPUs, cfg.MemBytes, cfg.Kernel, cfg.Patches, cfg.NoJitter = cpus, 64<<20, kernel, patches, true
	return newMachineTwoMMs(t, cfg)
}

// newMachineTwoMMs is a machine of cfg with two processes' mms.
func newMachineTwoMMs(t *testing.T, cfg Config) (*Machine, *MM, *MM) {
	t.Helper()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.newMM()
	if err != nil {
		t.Fatal(err)
	}
	return m, a, b
}

// TestKernel618Patches: -kernel 6.18 has the three flush-path patches and
// the 5.10-stable fixes, and not the two proposals v6.18 does not have.
func TestKernel618Patches(t *testing.T) {
	k := Kernels["6.18"]
	for _, p := range append([]Patch{PatchConcurrentFlush, PatchLazyCPUMask, PatchCPUMaskTrim, PatchPerVMALock, PatchMadviseVMALock}, Kernels["5.10-stable"]...) {
		if !slices.Contains(k, p) {
			t.Errorf("6.18 lacks %s", p)
		}
	}
	for _, p := range []Patch{PatchPTEFaultFlushPending, PatchUserPCIDFlushMask} {
		if slices.Contains(k, p) {
			t.Errorf("6.18 has %s, which is not in v6.18", p)
		}
	}
	for _, p := range k {
		if _, err := ParsePatches([]string{string(p)}); err != nil {
			t.Errorf("6.18: %v", err)
		}
	}
}

// TestLazyCPUMask: CPU 1 runs mm A, then switches to mm B (and stays
// there, not lazy) before CPU 0 flushes a page of A twice.
//
//   - v5.10: switch_mm_irqs_off clears CPU 1's bit in A: no IPI.
//   - lazy-cpumask (209954cbc7d0): the bit stays; tlb_is_not_lazy is true
//     for CPU 1, so the first flush sends it an IPI, whose flush_tlb_func
//     finds B loaded and clears the bit (TLB_REMOTE_WRONG_CPU); the second
//     flush sends none.
//   - with cpumask-trim (6db2526c1d69): should_flush_tlb says no (CPU 1
//     runs another mm and the first second of the mm is not over), so no
//     IPI and the bit stays set.
func TestLazyCPUMask(t *testing.T) {
	const addr = 0x400000
	cases := []struct {
		name       string
		patches    []Patch
		bit        bool   // CPU 1 in A's mm_cpumask at the end
		ipis       uint64 // IPIs sent by the two flushes
		wrongCPU   uint64
		remoteReqs uint64 // nr_tlb_remote_flush
	}{
		{"5.10", nil, false, 0, 0, 0},
		{"lazy-cpumask", []Patch{PatchLazyCPUMask}, false, 1, 1, 1},
		{"lazy-cpumask+cpumask-trim", []Patch{PatchLazyCPUMask, PatchCPUMaskTrim}, true, 0, 0, 2},
	}
	ipis := map[string]uint64{}
	for _, c := range cases {
		m, a, b := newMachine618(t, 2, "5.10", c.patches...)
		var bitAfterSwitch bool
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 20_000) // CPU 1 has been in A and moved on to B
				bitAfterSwitch = a.cpumask[1]
				v.flushTLBPage(a, addr)
				v.flushTLBPage(a, addr)
			},
			1: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 2_000)
				v.switchMMIrqsOff(b)
				busy(v, 60_000)
			},
		})
		lazy := slices.Contains(c.patches, PatchLazyCPUMask)
		if bitAfterSwitch != lazy {
			t.Errorf("%s: CPU 1's bit in the old mm after switching away = %v, want %v", c.name, bitAfterSwitch, lazy)
		}
		if a.cpumask[1] != c.bit || m.ipisSent != c.ipis || m.k6.wrongCPU != c.wrongCPU || m.nrTLBRemoteFlush != c.remoteReqs {
			t.Errorf("%s: bit %v, IPIs %d, wrong-CPU clears %d, nr_tlb_remote_flush %d; want %v, %d, %d, %d",
				c.name, a.cpumask[1], m.ipisSent, m.k6.wrongCPU, m.nrTLBRemoteFlush, c.bit, c.ipis, c.wrongCPU, c.remoteReqs)
		}
		if !b.cpumask[1] {
			t.Errorf("%s: CPU 1 not in the mask of the mm it runs", c.name)
		}
		ipis[c.name] = m.ipisSent
	}
	if ipis["lazy-cpumask+cpumask-trim"] >= ipis["lazy-cpumask"] {
		t.Errorf("IPIs with should_flush_tlb %d, without %d: want fewer", ipis["lazy-cpumask+cpumask-trim"], ipis["lazy-cpumask"])
	}
}

// TestLazyCPUMaskSwitchCost: a CPU going back and forth between two mms
// pays two mm_cpumask updates per switch on v5.10 (clear prev, set next)
// and, with lazy-cpumask, none once it is in both masks.
func TestLazyCPUMaskSwitchCost(t *testing.T) {
	cost := func(patches ...Patch) uint64 {
		m, a, b := newMachine618(t, 1, "5.10", patches...)
		var d uint64
		runScripts(t, m, map[int]func(*VCPU){0: func(v *VCPU) {
			v.switchMMIrqsOff(a)
			v.switchMMIrqsOff(b)
			v.switchMMIrqsOff(a)
			start := v.c.Clock
			v.switchMMIrqsOff(b) // b's ASID slot is still valid: no flush either way
			d = v.c.Clock - start
		}})
		return d
	}
	u := DefaultCostModel().CPUMaskUpdate
	if base, lazy := cost(), cost(PatchLazyCPUMask); base-lazy != 2*u {
		t.Errorf("switch back to a known mm: %d cycles on v5.10, %d with lazy-cpumask; want %d (two cpumask writes) less", base, lazy, 2*u)
	}
}

// TestCPUMaskTrimOncePerSecond: CPU 1 runs mm B and, once per jiffy,
// visits mm A for an eighth of a jiffy, so it is always back in A's
// mm_cpumask; CPU 0 runs A and flushes one page of it once per jiffy, at
// moments CPU 1 is in B. Over 3.2 emulated seconds, with lazy-cpumask
// alone every flush sends CPU 1 an IPI that clears its bit; with
// cpumask-trim should_trim_cpumask lets a flush do so only once a second
// after the mm's first (next_trim_cpumask starts at jiffies + HZ): the
// clears are at least HZ jiffies apart, and each is a trimming flush.
func TestCPUMaskTrimOncePerSecond(t *testing.T) {
	const jiffies = 800 // 3.2 s at HZ=250
	run := func(patches ...Patch) (clears []uint64, ipis uint64, m *Machine) {
		m, a, b := newMachine618(t, 2, "5.10", patches...)
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				for j := uint64(1); j <= jiffies; j++ {
					for v.c.Clock < j*JiffyCycles {
						v.spend(JiffyCycles / 16)
					}
					had := a.cpumask[1]
					v.flushTLBPage(a, 0x400000)
					if had && !a.cpumask[1] {
						clears = append(clears, v.jiffies())
					}
				}
			},
			1: func(v *VCPU) {
				v.switchMMIrqsOff(b)
				for j := uint64(0); j <= jiffies; j++ {
					// In A from j+1/2 to j+5/8 of each jiffy, in B around
					// CPU 0's flushes at whole jiffies.
					for v.c.Clock < j*JiffyCycles+JiffyCycles/2 {
						v.spend(JiffyCycles / 16)
					}
					v.switchMMIrqsOff(a)
					v.spend(JiffyCycles / 8)
					v.switchMMIrqsOff(b)
				}
			},
		})
		return clears, m.ipisSent, m
	}
	lazy, lazyIPIs, _ := run(PatchLazyCPUMask)
	if len(lazy) < jiffies-2 {
		t.Errorf("lazy-cpumask alone: %d of %d flushes cleared CPU 1's bit, want (nearly) all", len(lazy), jiffies)
	}
	trim, trimIPIs, m := run(PatchLazyCPUMask, PatchCPUMaskTrim)
	t.Logf("CPU 1's bit cleared by %d flushes (%d IPIs) with lazy-cpumask alone, at jiffies %v (%d IPIs) with cpumask-trim", len(lazy), lazyIPIs, trim, trimIPIs)
	// time_after(jiffies, next_trim_cpumask) with next_trim_cpumask =
	// HZ at first: the first trim at jiffy HZ+1, then every HZ+1 jiffies.
	if len(trim) != jiffies/(jiffiesHZ+1) {
		t.Errorf("cpumask-trim: %d clears in %d jiffies (%v), want %d", len(trim), jiffies, trim, jiffies/(jiffiesHZ+1))
	}
	for i := 1; i < len(trim); i++ {
		if trim[i]-trim[i-1] < jiffiesHZ {
			t.Errorf("cpumask-trim: clears at jiffies %d and %d, less than a second (%d jiffies) apart", trim[i-1], trim[i], jiffiesHZ)
		}
	}
	if len(trim) > 0 && trim[0] <= jiffiesHZ {
		t.Errorf("cpumask-trim: first clear at jiffy %d, before next_trim_cpumask (%d) passed", trim[0], jiffiesHZ)
	}
	if m.k6.trimFlushes != uint64(len(trim)) || m.k6.wrongCPU != uint64(len(trim)) || trimIPIs != uint64(len(trim)) {
		t.Errorf("cpumask-trim: %d trimming flushes, %d wrong-CPU clears, %d IPIs; want %d each", m.k6.trimFlushes, m.k6.wrongCPU, trimIPIs, len(trim))
	}
	if trimIPIs >= lazyIPIs {
		t.Errorf("IPIs: %d with cpumask-trim, %d without: want fewer", trimIPIs, lazyIPIs)
	}
}

// TestConcurrentFlushOverlaps: CPU 0 flushes a page of an mm CPU 1 runs
// too. With concurrent-flush (4ce94eabac16) the initiator's local INVLPG
// runs while the IPI is in flight, so flush_tlb_mm_range is shorter by at
// least that INVLPG; and its own call is no longer counted in the TLB
// interrupt row (4c1ba3923e6c), while CPU 1's is, in both.
func TestConcurrentFlushOverlaps(t *testing.T) {
	run := func(patches ...Patch) (span uint64, irqs [2]uint64) {
		m, a, _ := newMachine618(t, 2, "5.10", patches...)
		runScripts(t, m, map[int]func(*VCPU){
			0: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 5_000)
				start := v.c.Clock
				v.flushTLBPage(a, 0x400000)
				span = v.c.Clock - start
			},
			1: func(v *VCPU) {
				v.switchMMIrqsOff(a)
				busy(v, 40_000)
			},
		})
		return span, [2]uint64{m.cpus[0].tlbIRQs, m.cpus[1].tlbIRQs}
	}
	serial, si := run()
	conc, ci := run(PatchConcurrentFlush)
	invlpg := uint64(DefaultConfig().TLB.Costs.Invlpg)
	t.Logf("flush_tlb_mm_range of one page with one IPI: %d cycles serial, %d concurrent", serial, conc)
	if conc+invlpg > serial {
		t.Errorf("flush_tlb_mm_range with one IPI: %d cycles serial, %d concurrent; want at least the local INVLPG (%d) less", serial, conc, invlpg)
	}
	if si != [2]uint64{1, 1} || ci != [2]uint64{0, 1} {
		t.Errorf("irq_tlb_count per CPU: serial %v (want [1 1]: the initiator's own call counted), concurrent %v (want [0 1])", si, ci)
	}
	// -flush-order concurrent (Config.ConcurrentFlush) is the same model.
	m, _, _ := newMachine618(t, 2, "5.10")
	cfg := m.cfg
	cfg.ConcurrentFlush = true
	if m, _ = New(cfg, nil); !m.k6.concurrent {
		t.Errorf("Config.ConcurrentFlush does not select the concurrent flush")
	}
}
