package kernelmodel

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tlbemu/emu/tlb"
)

// The -cpu-model and -virt presets. A preset sets TLB geometry and costs
// from published figures for one CPU (and, with -virt, the cost of IPIs in a
// virtual machine); every value it sets has its source in the preset's
// sources table, which `emu costs` prints beside the value.

// CPUModelNames lists the -cpu-model presets; the first is the default
// (DefaultConfig).
var CPUModelNames = []string{"skylake-sp", "haswell", "icelake-sp", "zen3", "zen4", "sapphire-rapids"}

// VirtNames lists the -virt presets; "none" (bare metal) is the default.
var VirtNames = []string{"none", "kvm", "nested"}

// Sources maps a cost key ("kernel.zero_page") or "tlb.geometry" to where
// its value comes from.
type Sources map[string]string

// Preset is the effect of -cpu-model and -virt on a Config.
type Preset struct {
	CPUModel, Virt string
	// GHz is the clock that turns cycles into time for this preset: the
	// 3.0 GHz reference of the published cycle figures, or this machine's
	// clock for -virt nested.
	GHz     float64
	Sources Sources
}

// ApplyPreset sets c's TLB geometry and costs for cpuModel and virt
// (names from CPUModelNames and VirtNames; "" means the default) over
// DefaultConfig's costs, and returns the preset with the source of every
// value. The rest of c is unchanged.
func ApplyPreset(c *Config, cpuModel, virt string) (Preset, error) {
	if cpuModel == "" {
		cpuModel = CPUModelNames[0]
	}
	if virt == "" {
		virt = VirtNames[0]
	}
	if !slices.Contains(CPUModelNames, cpuModel) {
		return Preset{}, fmt.Errorf("unknown -cpu-model %q (valid: %s)", cpuModel, strings.Join(CPUModelNames, ", "))
	}
	if !slices.Contains(VirtNames, virt) {
		return Preset{}, fmt.Errorf("unknown -virt %q (valid: %s)", virt, strings.Join(VirtNames, ", "))
	}
	d := DefaultConfig()
	c.CPUModel, c.Virt = cpuModel, virt
	c.TLB, c.CPUCosts, c.IPICosts, c.Costs = d.TLB, d.CPUCosts, d.IPICosts, d.Costs
	p := Preset{CPUModel: cpuModel, Virt: virt, GHz: 3.0, Sources: maps.Clone(defaultSources)}
	set := func(key string, v uint64, src string) {
		if err := setCost(c, key, v); err != nil {
			panic(err) // a preset names a key that does not exist: a bug
		}
		p.Sources[key] = src
	}
	userCosts(set, cpuModel)
	switch cpuModel {
	case "haswell":
		c.TLB = haswellTLB()
		c.TLB.Costs = d.TLB.Costs
		p.Sources["tlb.geometry"] = haswellTLBSource
		set("tlb.invlpg", 260, "Ingo Molnar's boot-time __flush_tlb_one() timing, 260 cycles (linux-mm, Jun 2015, reply in Mel Gorman's \"TLB flush multiple pages per IPI\" thread); the per-page slope of Dave Hansen's 2014 IvyBridge flush figures is the same [D]")
		set("kernel.flush_tlbmm_range", 800, "[D] within 581-916 = 1,276 cycles per 1-page flush (IvyBridge; Dave Hansen, \"[RFC][PATCH 6/6] x86: mm: set TLB flush tunable to sane value\", linux-mm, 18 Feb 2014) - 260 INVLPG - 100 flush_func - 0..335 tracepoint bias; 800 is an ASSUMPTION inside the range")
		handoff(set, 132, "Broadwell-EP E5-2695v4 44 ns, the Haswell-EP generation's nearest row (CAS ping-pong medians: nviennot/core-to-core-latency README)")
	case "icelake-sp":
		c.TLB = icelakeTLB()
		c.TLB.Costs = d.TLB.Costs
		p.Sources["tlb.geometry"] = icelakeTLBSource
		handoff(set, 153, "Ice Lake-SP 8375C 51 ns (CAS ping-pong medians: nviennot/core-to-core-latency README)")
		locked(set, 20, "Ice Lake-Y LOCK ADD/XCHG 20.0 cycles (InstLatx64 00706E5_IceLakeY_InstLatX64.txt)")
	case "sapphire-rapids":
		c.TLB = sapphireRapidsTLB()
		c.TLB.Costs = d.TLB.Costs
		p.Sources["tlb.geometry"] = sapphireRapidsTLBSource
		handoff(set, 153, "ASSUMPTION: as Ice Lake-SP 8375C 51 ns, the nearest server mesh measured (CAS ping-pong medians: nviennot/core-to-core-latency README)")
		locked(set, 20, "ASSUMPTION: as Ice Lake-Y LOCK ADD/XCHG 20.0 cycles (InstLatx64 00706E5_IceLakeY_InstLatX64.txt)")
	case "zen3":
		c.TLB = zen3TLB()
		c.TLB.Costs = d.TLB.Costs
		p.Sources["tlb.geometry"] = zen3TLBSource
		handoff(set, 69, "Milan EPYC 7R13 23 ns within a CCX (CAS ping-pong medians: nviennot/core-to-core-latency README); ASSUMPTION for the IPI keys: the CSD lines move within a CCX")
		set("kernel.ccx_cores", 8, "Zen 3: eight cores share one L3 (AnandTech, \"AMD 3rd Gen EPYC Milan Review\", p. 4); Milan EPYC 7R13 in \"6 groups of 8\", numbered contiguously (nviennot/core-to-core-latency README)")
		set("kernel.line_handoff_cross_ccx", 321, "Milan EPYC 7R13 107 ns between CCXs (CAS ping-pong medians: nviennot/core-to-core-latency README) at 3 GHz")
		locked(set, 7, "Zen 3 (Vermeer) LOCK ADD 6.5, XCHG 7.8 cycles (InstLatx64 0A20F10_K19_Vermeer2_InstLatX64.txt)")
	case "zen4":
		c.TLB = tlb.Zen4Config()
		p.Sources["tlb.geometry"] = "tlb.Zen4Config: CPUID 0x80000005/6/19 of the InstLatx64 Raphael/Genoa dumps"
		handoff(set, 204, "Zen 4 7950X 68 ns (CAS ping-pong medians: nviennot/core-to-core-latency README); ASSUMPTION as the within-CCX figure: it is the median of all pairs, AnandTech's 7950X review gives 15-19 ns within the L3")
		set("kernel.ccx_cores", 8, "Zen 4: eight cores per CCX, one CCX per CCD (AnandTech, \"AMD Zen 4 Ryzen 9 7950X and Ryzen 5 7600X Review\", Core-to-Core Latency)")
		set("kernel.line_handoff_cross_ccx", 239, "Zen 4 7950X up to 79.5 ns between the CCDs (AnandTech, \"AMD Zen 4 Ryzen 9 7950X and Ryzen 5 7600X Review\", Core-to-Core Latency) at 3 GHz")
		locked(set, 7, "ASSUMPTION: as Zen 3 (InstLatx64 Vermeer 6.5-7.8 cycles); no Zen 4 figure found")
	}
	switch virt {
	case "kvm":
		// I3: kvm-unit-tests vmexit ipi, x2APIC, no IPI virtualisation:
		// 4338 cycles from the send to the handled interrupt.
		set("ipi.icr_write", 1500, "ASSUMPTION: the VM exit, emulation and re-entry of the x2APIC ICR write, about a third of the 4,338-cycle KVM guest IPI (Zeng Guang, \"[PATCH v4 0/6] IPI virtualization support for VM\", kvm list, 9 Aug 2021)")
		set("ipi.delivery_cycles", 2638, "[D] 4,338 - 1,500 ICR write - 200 IRQ entry: the KVM guest IPI without IPIv (Zeng Guang, kvm list, 9 Aug 2021); with APICv the EOI does not exit")
		set("kernel.wakeup", 2638, "ASSUMPTION: one IPI delivery (ipi.delivery_cycles of this preset)")
	case "nested":
		// This machine: an AMD EPYC at 2.6 GHz, itself a guest of a nested
		// KVM setup; madvise(MADV_DONTNEED) of one page takes 0.9 us alone
		// and 18 us with one other thread's CPU to shoot down (issue 16,
		// calib/host/madvise_host.c). Two parameters are fitted to these two
		// figures: the exit cost and the guest kernel's slowdown.
		p.GHz = 2.6
		const exit = 13650
		src := "[D] fitted to this machine (nested KVM guest, AMD EPYC 2.6 GHz): madvise of 1 page with one IPI 18 us vs 0.9 us without (calib/host/madvise_host.c) = a 17.1 us (44,460-cycle) round trip, taken as three nested VM exits of equal cost (ICR write, injection into the running target, EOI write at the handler entry) plus the kvm preset's work: (44,460 - 3,500)/3"
		set("ipi.icr_write", exit, src)
		set("ipi.delivery_cycles", exit+2638, src+"; plus the kvm preset's 2,638-cycle delivery")
		set("kernel.wakeup", exit+2638, "ASSUMPTION: one IPI delivery (ipi.delivery_cycles of this preset)")
		set("ipi.irq_entry_cycles", exit+c.IPICosts.IRQEntryCycles, src+"; the EOI write's exit (sysvec_call_function acks the APIC before running the function, arch/x86/kernel/smp.c, v5.10) plus the interrupt entry")
		scale := "[D] x2 the bare-metal value: a nested guest's kernel paths run slower (2-D walks of its own TLB misses, exits not modelled one by one); fitted to this machine's 0.9 us madvise without IPI (calib/host/madvise_host.c) against the model's ~1,200 cycles on zen3"
		for _, k := range scaledKernelCosts {
			v, _ := costValue(c, k)
			set(k, 2*v, scale)
		}
	}
	return p, nil
}

// scaledKernelCosts are the kernel software paths -virt nested slows down.
var scaledKernelCosts = []string{
	"kernel.syscall_entry_exit", "kernel.fault_entry_exit", "kernel.handle_mm_fault",
	"kernel.rmap_lru", "kernel.pte_set", "kernel.vma_adjust", "kernel.alloc_page",
	"kernel.pte_update", "kernel.flush_tlbmm_range", "kernel.flush_func", "kernel.context_switch",
}

// handoff sets every cost that is one contended cache-line hand-off.
func handoff(set func(string, uint64, string), v uint64, src string) {
	for _, k := range []string{"kernel.line_handoff", "ipi.queue_cycles", "ipi.ack_cycles"} {
		set(k, v, "one line hand-off: "+src)
	}
}

// locked sets every cost that is one uncontended locked RMW.
func locked(set func(string, uint64, string), v uint64, src string) {
	for _, k := range []string{"kernel.locked_rmw", "cpu.user_locked", "tlb.set_dirty"} {
		set(k, v, "one locked RMW: "+src)
	}
}

// Haswell TLB geometry.
const haswellTLBSource = "ASSUMPTION [U]: Intel 64 and IA-32 Architectures Optimization Reference Manual, Haswell microarchitecture TLB table (not re-read): DTLB 64 4K 4-way, 32 2M 4-way, 4 1G 4-way; STLB 1024 4K+2M 8-way; ITLB 128 4K 4-way, 8 2M"

func haswellTLB() tlb.Config {
	c := tlb.DefaultConfig()
	c.Name = "haswell"
	c.L1D4K, c.L1D4KWays = 64, 4
	c.L1D2M, c.L1D2MWays = 32, 4
	c.L1D1G, c.L1D1GWays = 4, 4
	c.L1I4K, c.L1I4KWays = 128, 4
	c.L1I2M, c.L1I2MWays = 8, 8
	c.STLB, c.STLBWays = 1024, 8
	c.STLB1G, c.STLB1GWays = 0, 0
	return c
}

const icelakeTLBSource = "CPUID leaf 0x18 of InstLatx64 00706E5_IceLakeY_CPUID (Sunny Cove): load DTLB 64 4K 4-way, 32 2M 4-way, 8 1G fully associative; STLB 1024 4K/2M 8-way + 1024 4K/1G 8-way (modelled as a 1G array); the ITLB enumeration is incomplete: ASSUMPTION 128 4K 8-way as Skylake"

func icelakeTLB() tlb.Config {
	c := tlb.DefaultConfig()
	c.Name = "icelake-sp"
	c.L1D1G, c.L1D1GWays = 8, 8
	c.STLB, c.STLBWays = 1024, 8
	c.STLB1G, c.STLB1GWays = 1024, 8
	return c
}

const sapphireRapidsTLBSource = "CPUID leaf 0x18 of InstLatx64 00806F8_SapphireRapids_05_CPUID: load DTLB 64 4K 4-way, 32 2M 4-way, 8 1G fully associative; STLB 1024 4K/2M 8-way + 1024 4K/1G 8-way (modelled as a 1G array); ITLB 256 4K 8-way, 32 2M 8-way. Intel RAR: 64 payload slots (RAR_MAX_PAYLOADS; present on Sapphire Rapids and newer: RFC v3 cover letter, Msg-Id 20250605163544.3852565-1-riel@surriel.com)"

func sapphireRapidsTLB() tlb.Config {
	c := icelakeTLB()
	c.Name = "sapphire-rapids"
	c.L1I4K, c.L1I4KWays = 256, 8
	c.L1I2M, c.L1I2MWays = 32, 8
	c.RARPayloads = 64
	return c
}

const zen3TLBSource = "CPUID 0x80000005/6/19 of the InstLatx64 Vermeer/Milan dumps: L1 DTLB 64 fully associative, all sizes; L2 2048 4K 8-way, 2048 2M 4-way, 64 1G; L1 ITLB 64 fully associative; L2 ITLB 512 (ASSUMPTION 8-way)"

func zen3TLB() tlb.Config {
	c := tlb.Zen4Config()
	c.Name = "zen3"
	c.L1D4K, c.L1D4KWays = 64, 64
	c.STLB, c.STLBWays = 2048, 8
	c.STLB2M, c.STLB2MWays = 2048, 4
	return c
}

// defaultSources are the sources of DefaultConfig's values (the comments
// on tlb.Costs, ipi.CostModel, cpu.Costs and CostModel, in short).
var defaultSources = Sources{
	"tlb.geometry":                   "tlb.DefaultConfig: Skylake-X i9-7900X CPUID (InstLatx64 0050654_SkylakeX_NewMemLat), ITLB of Skylake client i5-6400T",
	"cpu.user_locked":                "one locked RMW: Skylake-X LOCK ADD/XCHG 18.1 cycles (InstLatx64 0050654_SkylakeX_InstLatX64.txt)",
	"ipi.queue_cycles":               "one line hand-off: Cascade Lake 47-48 ns (nviennot/core-to-core-latency README)",
	"ipi.icr_write":                  "ASSUMPTION: a non-serialising WRMSR (SDM Vol. 3A 10.12.3); no measurement exists",
	"ipi.cluster_size":               "x2APIC cluster mode: 16 CPUs per ICR write (arch/x86/kernel/apic/x2apic_cluster.c); 1 = physical mode",
	"ipi.delivery_cycles":            "[D] 775 ns first-target increment (Nadav Amit, LKML, 25 May 2019, Msg-Id 20190525082203.6531-1-namit@vmware.com) minus responder, queueing, ICR and ack",
	"ipi.irq_entry_cycles":           "[D] half the 110-150 ns KVM self-IPI round trip (Zeng Guang, kvm list, 9 Aug 2021; 4180bf1b655a)",
	"ipi.irq_exit_cycles":            "[D] half the 110-150 ns KVM self-IPI round trip (Zeng Guang, kvm list, 9 Aug 2021; 4180bf1b655a)",
	"ipi.ack_cycles":                 "one line hand-off per target: Cascade Lake 47-48 ns (nviennot/core-to-core-latency README)",
	"kernel.syscall_entry_exit":      "100 ns null syscall (getpid 93 ns in a KVM guest: Kevlar OS blog M6.6) [S]",
	"kernel.fault_entry_exit":        "[D] the 110-150 ns KVM self-IPI round trip as an exception's entry/exit (Zeng Guang, kvm list, 9 Aug 2021; 4180bf1b655a)",
	"kernel.handle_mm_fault":         "ASSUMPTION (no measurement of the handler's parts)",
	"kernel.rmap_lru":                "ASSUMPTION",
	"kernel.lru_lock_page":           "ASSUMPTION: a few cache-hot stores; below ~75 for calibrate S9/10 (madvise of 10 pages: Nadav Amit, \"[RFC PATCH v2] x86/mm/tlb: Defer PTI flushes\", LKML, Aug 2019, lkml mail-archive msg2086904) to stay within 25 %",
	"kernel.pte_set":                 "ASSUMPTION",
	"kernel.vma_adjust":              "[D] (2,500 - 1,500)/2 from Nadav Amit's 1-page mprotect, 2,499/2,529 cycles (LKML, 18 Jul 2022, Msg-Id 20220718120212.3180-1-namit@vmware.com)",
	"kernel.zero_page":               "0.3 us DRAM-bound clear (Ankur Arora, \"[PATCH v6 14/15] x86/clear_page: Introduce clear_pages()\", 2 Sep 2025)",
	"kernel.copy_page":               "~300 cycles cache-hot (Intel Optimization Manual 2.4.6 REP MOVS model [S]; FreeBSD LibCSSE wiki 280 cycles)",
	"kernel.alloc_page":              "ASSUMPTION",
	"kernel.locked_rmw":              "one locked RMW: Skylake-X 18.1 cycles (InstLatx64 0050654_SkylakeX_InstLatX64.txt)",
	"kernel.line_handoff":            "one line hand-off: Cascade Lake 47-48 ns (nviennot/core-to-core-latency README)",
	"kernel.line_handoff_cross_ccx":  "as kernel.line_handoff (unused: kernel.ccx_cores is 0)",
	"kernel.ccx_cores":               "0: one cache domain, every line hand-off is kernel.line_handoff (the Intel presets' mesh; nviennot/core-to-core-latency medians are one figure for them)",
	"kernel.spin_poll":               "ASSUMPTION (a modelling step)",
	"kernel.pte_update":              "ASSUMPTION (one xchg plus loop overhead)",
	"kernel.flush_tlbmm_range":       "[D] 1,094 - 550 - 100 from Dave Hansen's 1-page PTI flush on Skylake (linux-mm, 5 Dec 2017, Msg-Id 3062e486-3539-8a1f-5724-16199420be71@intel.com)",
	"kernel.flush_func":              "ASSUMPTION",
	"kernel.context_switch":          "ASSUMPTION",
	"kernel.cpu_mask_update":         "\"dozens or a couple hundred cycles\" (Dave Hansen, reply to \"[PATCH] x86,tlb: update mm_cpumask lazily\", Nov 2024)",
	"kernel.wakeup":                  "ASSUMPTION: one IPI delivery",
	"kernel.contended_handoff_lines": "ASSUMPTION: 3 line transfers when a spinlock passes to a CPU spinning on it (the unlock store's invalidation, the spinner's read miss, its RMW's upgrade: queued_spin_lock_slowpath, kernel/locking/qspinlock.c v6.18; MESI reasoning, no measurement); the LRU lock only",
	"kernel.memcg_levels":            "ASSUMPTION: 3 page_counters (a systemd unit's cgroup, its slice, the root: the hierarchy page_counter_try_charge and page_counter_cancel walk, mm/page_counter.c v6.18)",
	"kernel.c6_exit_cycles":          "133 us at 3 GHz: skx_cstates C6 .exit_latency (drivers/idle/intel_idle.c, v6.18); used with -idle c6",
	"kernel.c6_residency":            "600 us at 3 GHz: skx_cstates C6 .target_residency (drivers/idle/intel_idle.c, v6.18); used with -idle c6",
	"kernel.rar_payload":             "ASSUMPTION: model estimate (no published RAR figure): one local cache-line write",
	"kernel.rar_action_write":        "ASSUMPTION: model estimate (no published RAR figure): one contended line hand-off per target",
	"kernel.rar_delivery":            "ASSUMPTION: model estimate (no published RAR figure): as an IPI's delivery, RAR goes through the APIC (RFC v3 cover letter, Msg-Id 20250605163544.3852565-1-riel@surriel.com)",
	"kernel.rar_handle":              "ASSUMPTION: model estimate (no published RAR figure): about one INVPCID, no interrupt entry/exit",
	"tlb.stlb_hit":                   "12 cycles Haswell (mynavi.jp Haswell review 20130621-s_haswell2, p. 15) [S]",
	"tlb.walk_base":                  "[D] 20-cycle Haswell walk (mynavi.jp review) - one walk_ref [S]",
	"tlb.walk_ref":                   "[D] 45-cycle IvyBridge dTLB walk / 4 (Dave Hansen 2014, quoted in Msg-Id 53B44C9A.9070808@nellans.org)",
	"tlb.set_dirty":                  "one locked RMW: Skylake-X 18.1 cycles (InstLatx64)",
	"tlb.invlpg":                     "~200 cycles Skylake (Dave Hansen, linux-mm, 5 Dec 2017, Msg-Id 3062e486-3539-8a1f-5724-16199420be71@intel.com)",
	"tlb.invpcid":                    "[D] 550 - 200 (same mail)",
	"tlb.invpcid_ctx":                "ASSUMPTION: as INVPCID type 2",
	"tlb.cr3_write":                  "96 cycles (Ingo Molnar's boot-time __flush_tlb(), linux-mm, Jun 2015)",
	"tlb.cr3_no_flush":               "ASSUMPTION: as a flushing CR3 write",
	"tlb.global_fl":                  "376 ns INVPCID type 2 (Andy Lutomirski, \"[PATCH v3 3/3] x86/mm: If INVPCID is available, use it to flush global mappings\", 29 Jan 2016)",
	"tlb.cr4_flush":                  "[D] half of 539 ns for the PGE toggle (same mail)",
	"tlb.cr4_write":                  "ASSUMPTION: as a CR3 write",
	"tlb.invlpgb":                    "ASSUMPTION: model estimate (no published INVLPGB latency): as one INVLPG on the issuer",
	"tlb.tlbsync":                    "ASSUMPTION: model estimate (no published TLBSYNC latency): a serialising no-op when nothing is outstanding",
	"tlb.invlpgb_latency":            "ASSUMPTION: model estimate (no published figure): about two cross-CCX line transfers (Milan ~107 ns: nviennot/core-to-core-latency README) from INVLPGB to completion on every other CPU",
}

// User-mode instruction costs (cpu.Costs, cpu/cost.go): the reciprocal
// throughput of each class's representative form in Agner Fog's
// "Instruction tables" (www.agner.org/optimize/instruction_tables.pdf,
// the section named per preset), rounded up to a whole cycle and at least
// one: the interpreter retires one instruction at a time without tracking
// dependences, so it charges the rate at which independent instructions of
// the form issue, not their latency (cpu/cost.go says what that misses).
// Where the table gives a range (data-dependent dividers, taken jumps) the
// comment says which end and why.
type userCost struct {
	key  string
	v    uint64
	form string // instruction form and table figure
}

// userCostTables holds, per -cpu-model, the Agner Fog section and the
// classes whose figure differs from the one-cycle floor.
var userCostTables = map[string]struct {
	section string
	costs   []userCost
}{
	"skylake-sp": {"Intel Skylake-X", []userCost{
		{"cpu.user_branch_taken", 2, "taken JMP/Jcc rtp 1-2, the upper end (no loop buffer or uop-cache alignment modelled)"},
		{"cpu.user_div32", 6, "DIV r32 rtp 6"},
		{"cpu.user_div64", 21, "DIV r64 rtp 21-83, the lower end (dividends below 2^64/divisor·2^32, as compiled code's divisions mostly are)"},
		{"cpu.user_sse_div", 4, "DIVSD xmm,xmm rtp 4 (SQRTSD 4-6)"},
		{"cpu.user_x87_div", 5, "FDIV st,st(i) rtp 4-5, the upper end"},
	}},
	"haswell": {"Intel Haswell", []userCost{
		{"cpu.user_branch_taken", 2, "taken JMP/Jcc rtp 1-2, the upper end (no loop buffer modelled)"},
		{"cpu.user_div32", 9, "DIV r32 rtp 9-11, the lower end"},
		{"cpu.user_div64", 21, "DIV r64 rtp 21-74, the lower end"},
		{"cpu.user_sse_div", 8, "DIVSD xmm,xmm rtp 8-14, the lower end"},
		{"cpu.user_x87_div", 8, "FDIV st,st(i) rtp 8-18, the lower end"},
	}},
	"icelake-sp": {"Intel Ice Lake and Tiger Lake", []userCost{
		{"cpu.user_branch_taken", 2, "taken JMP/Jcc rtp 1-2, the upper end (no loop buffer modelled)"},
		{"cpu.user_div32", 6, "DIV r32 rtp 6 (uops.info DIV_R32, the same divider on Rocket Lake and Alder Lake-P: measured 6.00)"},
		{"cpu.user_div64", 10, "DIV r64 rtp 10 (uops.info DIV_R64, Rocket Lake and Alder Lake-P: measured 10.00)"},
		{"cpu.user_sse_div", 4, "DIVSD xmm,xmm rtp 4"},
		{"cpu.user_x87_div", 5, "ASSUMPTION: FDIV as Skylake-X (rtp 4-5, the upper end)"},
	}},
	"sapphire-rapids": {"Intel Sapphire Rapids (Golden Cove)", []userCost{
		{"cpu.user_branch_taken", 2, "ASSUMPTION: taken JMP/Jcc as Ice Lake (rtp 1-2, the upper end)"},
		{"cpu.user_div32", 6, "DIV r32 rtp 6 (uops.info DIV_R32, Alder Lake-P, the same Golden Cove core: measured 6.00)"},
		{"cpu.user_div64", 10, "DIV r64 rtp 10 (uops.info DIV_R64, Alder Lake-P, the same Golden Cove core: measured 10.00)"},
		{"cpu.user_sse_div", 4, "ASSUMPTION: DIVSD xmm,xmm as Ice Lake (rtp 4)"},
		{"cpu.user_x87_div", 5, "ASSUMPTION: FDIV as Skylake-X (rtp 4-5, the upper end)"},
	}},
	"zen3": {"AMD Zen 3", []userCost{
		{"cpu.user_branch_taken", 2, "ASSUMPTION: a taken jump as on the Intel presets (the table gives JMP/Jcc a range, not a taken figure)"},
		{"cpu.user_div32", 6, "DIV r32 rtp 6"},
		{"cpu.user_div64", 7, "DIV r64 rtp 7-12, the lower end"},
		{"cpu.user_sse_div", 5, "DIVSD xmm,xmm rtp 4.5, rounded up"},
		{"cpu.user_x87_div", 5, "ASSUMPTION: FDIV as DIVSD (rtp 4.5, rounded up)"},
	}},
	"zen4": {"AMD Zen 4", []userCost{
		{"cpu.user_branch_taken", 2, "ASSUMPTION: a taken jump as on the Intel presets"},
		{"cpu.user_div32", 6, "ASSUMPTION: DIV r32 as Zen 3 (rtp 6); LLVM's X86ScheduleZnver4.td and X86ScheduleZnver3.td give the divider the same worst-case occupancy (WriteDiv32 12 vs 13 cycles), so the divider is taken to be Zen 3's"},
		{"cpu.user_div64", 7, "ASSUMPTION: DIV r64 as Zen 3 (rtp 7-12, the lower end); LLVM's Znver4/Znver3 models: WriteDiv64 occupancy 18 vs 17 cycles, the same divider"},
		{"cpu.user_sse_div", 5, "DIVSD xmm,xmm: the FP divider busy 5 cycles (LLVM X86ScheduleZnver4.td WriteFDiv64, ReleaseAtCycles 5), as Zen 3's rtp 4.5 rounded up"},
		{"cpu.user_x87_div", 5, "ASSUMPTION: FDIV as DIVSD (rtp 4.5, rounded up)"},
	}},
}

// userFloorForms are the classes at the one-cycle floor on every preset:
// their forms issue at least once a cycle in every table.
var userFloorForms = []userCost{
	{"cpu.user_alu", 1, "ADD/SUB/AND/XOR/MOV r,r rtp 0.25-0.33, floored to 1 (one instruction a cycle)"},
	{"cpu.user_load", 1, "MOV r64,m rtp 0.33-0.5, floored to 1"},
	{"cpu.user_store", 1, "MOV m,r64 rtp 0.5-1"},
	{"cpu.user_branch", 1, "Jcc not taken rtp 0.5, floored to 1"},
	{"cpu.user_mul", 1, "IMUL r64,r64 rtp 1 (MUL r64 1-2)"},
	{"cpu.user_sse_fp", 1, "ADDSD/MULSD xmm,xmm rtp 0.5, floored to 1"},
	{"cpu.user_sse_int", 1, "PADDD xmm,xmm rtp 0.25-0.33, floored to 1"},
	{"cpu.user_x87", 1, "FADD/FMUL st,st(i) rtp 1 (Zen: 1, Intel: 1)"},
	{"cpu.user_string", 1, "ASSUMPTION: one cycle per REP MOVS/STOS element, the IPC floor (fast strings move 16-64 bytes a cycle; REP MOVSB rtp is per call, not per element)"},
	{"cpu.user_other", 1, "ASSUMPTION: one cycle (SYSCALL, CPUID and RDTSC are modelled by the kernel model or not at all)"},
}

// userCosts sets the cpu.user_* costs of cpuModel.
func userCosts(set func(string, uint64, string), cpuModel string) {
	t := userCostTables[cpuModel]
	src := "Agner Fog, Instruction tables (www.agner.org/optimize/instruction_tables.pdf), " + t.section + ": "
	for _, u := range append(slices.Clone(userFloorForms), t.costs...) {
		s := src + u.form
		if strings.HasPrefix(u.form, "ASSUMPTION") {
			s = u.form + " [" + t.section + "]"
		}
		set(u.key, u.v, s)
	}
}
