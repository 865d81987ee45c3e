package tlb

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Config is the geometry and cost model of one vCPU's translation caches. It
// is immutable once passed to New. Entry counts are entries, Ways the
// associativity (Ways >= entries, or 0, means fully associative); a structure
// with 0 entries does not exist. Replacement is LRU within a set
// (ASSUMPTION: the replacement policy is not documented for any CPU).
type Config struct {
	Name string

	// L1 data TLB. Without L1DAllSizes there is one array per page size.
	L1D4K, L1D4KWays int // L1 DTLB, 4 KiB pages
	L1D2M, L1D2MWays int // L1 DTLB, 2 MiB pages
	L1D1G, L1D1GWays int // L1 DTLB, 1 GiB pages
	// L1DAllSizes makes L1D4K/L1D4KWays one array holding every page size
	// (AMD Zen); L1D2M and L1D1G are then ignored.
	L1DAllSizes bool

	// L1 instruction TLB.
	L1I4K, L1I4KWays int // L1 ITLB, 4 KiB pages
	L1I2M, L1I2MWays int // L1 ITLB, 2 MiB pages
	// L1IAllSizes makes L1I4K/L1I4KWays one array holding every page size
	// (AMD Zen); L1I2M is then ignored. Without it, no L1 ITLB array holds a
	// 1 GiB page: fetches from one are served by the second level (real
	// parts fracture such pages; not modelled).
	L1IAllSizes bool

	// Second level. STLB is unified for data and instructions and holds
	// 4 KiB and 2 MiB pages, or only 4 KiB pages when STLB2M > 0.
	STLB, STLBWays     int
	STLB2M, STLB2MWays int // separate second-level array for 2 MiB pages (0: they share STLB)
	STLB1G, STLB1GWays int // second-level array for 1 GiB pages (0: not cached at the second level)
	// L2I, if > 0, is a separate second-level instruction TLB holding every
	// page size (AMD); instruction translations then do not use the STLB.
	L2I, L2IWays int

	// Paging-structure caches (SDM 4.10.3), keyed by PCID and the linear-
	// address bits that select the entry: 47:39 (PML4E), 47:30 (PDPTE),
	// 47:21 (PDE). ASSUMPTION: sizes are not documented for any CPU
	// (Intel does not document them; SDM Vol. 3A 4.10.3 gives only the
	// architectural definition); defaults are
	// 4 / 32 / 32 entries, to be swept.
	PML4ECache, PML4ECacheWays int
	PDPTECache, PDPTECacheWays int
	PDECache, PDECacheWays     int

	// InvlpgbCountMax is invlpgb_count_max, the most pages one INVLPGB
	// may name: CPUID Fn8000_0008_EDX[15:0] + 1 (Linux reads it so in
	// cpu_detect_tlb_amd, arch/x86/kernel/cpu/amd.c, v6.15+). 0 means the
	// processor has no INVLPGB/TLBSYNC (CPUID Fn8000_0008_EBX[3] clear).
	InvlpgbCountMax int
	// RARPayloads is the number of Intel RAR payload-table slots the CPU
	// supports (MSR_IA32_RAR_INFO[63:32] + 1; Linux uses at most 64,
	// RAR_MAX_PAYLOADS); 0 means no RAR (Sapphire Rapids and newer have
	// it: Rik van Riel, "[RFC PATCH v3 0/7] Intel RAR TLB invalidation",
	// Msg-Id 20250605163544.3852565-1-riel@surriel.com).
	RARPayloads int

	Costs Costs

	// NoMemo turns off the host-side hit memo (memo.go). It changes no
	// result and no count, only host speed: for differential tests.
	NoMemo bool
}

// Costs are translation and invalidation latencies in cycles (reference clock
// 3.0 GHz for ns → cycles). An L1 TLB hit costs 0 extra cycles (it is in the
// load pipeline).
type Costs struct {
	// STLBHit is an L1 miss that hits the STLB: 12 cycles (Haswell, RMMA
	// microbenchmark; mynavi.jp Haswell review 20130621-s_haswell2, p. 15,
	// "D-TLB Size" [S]).
	STLBHit uint32
	// WalkBase is the fixed part of a page walk, before its first memory
	// reference: 9 cycles [D] = the 20-cycle Haswell walk with the upper
	// levels in the PSC and the PTE in cache (same mynavi.jp review [S])
	// minus one WalkRef.
	WalkBase uint32
	// WalkRef is one paging-structure memory reference actually made (a
	// PSC hit skips the levels above it): 11 cycles [D] = the 45-cycle
	// (17.1 ns) average dTLB walk on IvyBridge i5-3320M / 4 levels (Dave
	// Hansen's 2014 rationale for a5102476a24b "x86/mm: Set TLB flush
	// tunable to sane value (33)", quoted in Msg-Id
	// 53B44C9A.9070808@nellans.org).
	WalkRef uint32
	// SetDirty is charged once per walk that makes locked A/D updates
	// (first use of an entry, first write through a clean one): 18 cycles =
	// one uncontended locked RMW (InstLatx64 0050654_SkylakeX_InstLatX64.txt,
	// LOCK ADD/XCHG 18.1). Nadav Amit's ">500 cycles" for the dirty assist
	// ("[RFC PATCH 00/14] mm: relaxed TLB flushes and other optimi.", LKML,
	// 18 Jul 2022) is a claim, not a measurement.
	SetDirty uint32
	// Invlpg: 200 cycles (Skylake "~200"; Dave Hansen, "x86 TLB flushing:
	// INVPCID vs. deferred CR3 write", linux-mm, 5 Dec 2017).
	Invlpg uint32
	// Invpcid: INVPCID type 0 (individual address): 350 cycles [D] = the
	// same mail's INVLPG+INVPCID "~550" − 200.
	Invpcid uint32
	// InvpcidCtx is INVPCID types 1 and 3 (single context, all contexts
	// except global): no measurement; ASSUMPTION: like type 2 (GlobalFl),
	// a scan of the whole TLB.
	InvpcidCtx uint32
	// CR3Write is a MOV to CR3 that flushes: 96 cycles (Ingo Molnar's
	// boot-time __flush_tlb() timing, linux-mm, Jun 2015, reply in Mel
	// Gorman's "TLB flush multiple pages per IPI" thread); refills are
	// charged as walks.
	CR3Write uint32
	// CR3NoFlush is MOV to CR3 with bit 63 set (PCIDE=1): no measurement
	// found; ASSUMPTION: 96 cycles, the flushing CR3 write's cost above.
	CR3NoFlush uint32
	// GlobalFl is INVPCID type 2 (all contexts incl. global): 376 ns ≈ 1130
	// cycles (Skylake laptop; Andy Lutomirski, "[PATCH v3 3/3] x86/mm: If
	// INVPCID is available, use it to flush global mappings", 29 Jan 2016).
	GlobalFl uint32
	// CR4Flush is a MOV to CR4 that changes PGE (or clears PCIDE) and so
	// flushes everything: 808 cycles [D] = the same mail's 539 ns for
	// Linux's two-write PGE toggle, halved, at 3 GHz.
	CR4Flush uint32
	// CR4Write is a MOV to CR4 that invalidates nothing: ASSUMPTION 96
	// cycles, like a MOV to CR3 (Molnar 2015, above).
	CR4Write uint32
	// Invlpgb is INVLPGB's cost on the issuing CPU. No measurement has
	// been published; ASSUMPTION (model estimate): 200 cycles, like one
	// INVLPG (the issuer invalidates its own TLBs and hands the request
	// to the fabric without waiting).
	Invlpgb uint32
	// Tlbsync is TLBSYNC's cost when nothing is outstanding.
	// ASSUMPTION (model estimate): 100 cycles, a serialising no-op.
	Tlbsync uint32
	// InvlpgbLatency is the time from INVLPGB until the invalidation is
	// complete on every other processor (what TLBSYNC waits for).
	// ASSUMPTION (model estimate): 1,000 cycles, about one cross-socket
	// coherence round trip (two ~107 ns line transfers, Milan
	// cross-CCX: nviennot/core-to-core-latency README) at 3 GHz;
	// Rik van Riel's series gives no per-instruction figure.
	InvlpgbLatency uint32
}

// DefaultCosts returns the Skylake-class defaults documented on Costs.
func DefaultCosts() Costs {
	return Costs{
		STLBHit: 12, WalkBase: 9, WalkRef: 11, SetDirty: 18,
		Invlpg: 200, Invpcid: 350, InvpcidCtx: 1130,
		CR3Write: 96, CR3NoFlush: 96, GlobalFl: 1130,
		CR4Flush: 808, CR4Write: 96,
		Invlpgb: 200, Tlbsync: 100, InvlpgbLatency: 1000,
	}
}

// DefaultConfig returns the Skylake-SP configuration (Skylake-X i9-7900X
// CPUID leaf 2/0x18 decoding of InstLatx64 0050654_SkylakeX_NewMemLat; the
// ITLB from Skylake client i5-6400T, 00506E3_Skylake_NewMemLat).
func DefaultConfig() Config {
	return Config{
		Name:  "skylake-sp",
		L1D4K: 64, L1D4KWays: 4, // SKX
		L1D2M: 32, L1D2MWays: 4, // SKX
		L1D1G: 4, L1D1GWays: 4, // SKX
		L1I4K: 128, L1I4KWays: 8, // Skylake client; SKX reports 64 8-way
		L1I2M: 8, L1I2MWays: 8, // Skylake client: 8 2M fully associative
		STLB: 1536, STLBWays: 12, // SKX: 4K+2M
		STLB1G: 16, STLB1GWays: 4, // SKX: 16 1G 4-way
		PML4ECache: 4, PML4ECacheWays: 4, // ASSUMPTION (PSC sizes undocumented): fully associative
		PDPTECache: 32, PDPTECacheWays: 4, // ASSUMPTION (PSC sizes undocumented)
		PDECache: 32, PDECacheWays: 4, // ASSUMPTION (PSC sizes undocumented)
		Costs: DefaultCosts(),
	}
}

// Zen4Config returns an AMD Zen 4 (Raphael/Genoa) configuration (CPUID
// 0x80000005/6/19 decoding of the InstLatx64 Raphael/Genoa dumps). Costs are
// the Skylake defaults (ASSUMPTION: no Zen 4 latency measurement was found).
func Zen4Config() Config {
	return Config{
		Name:  "zen4",
		L1D4K: 72, L1D4KWays: 72, L1DAllSizes: true, // 72 FA, all sizes
		L1I4K: 64, L1I4KWays: 64, L1IAllSizes: true, // 64 FA, all sizes
		STLB: 3072, STLBWays: 8, // 3072 4K 8-way
		STLB2M: 3072, STLB2MWays: 6, // 3072 2M 6-way (CPUID reports it separately; whether it shares the 4K array: [U])
		STLB1G: 64, STLB1GWays: 64, // 64 1G; associativity not reported: ASSUMPTION fully associative
		L2I: 512, L2IWays: 8, // L2 ITLB 512; associativity: ASSUMPTION 8-way
		PML4ECache: 4, PML4ECacheWays: 4, // ASSUMPTION (PSC sizes undocumented)
		PDPTECache: 32, PDPTECacheWays: 4,
		PDECache: 32, PDECacheWays: 4,
		// INVLPGB/TLBSYNC (CPUID Fn8000_0008_EBX[3], Zen 3 and later; Linux
		// uses them from ≈v6.15, Rik van Riel's series). The count limit
		// EDX[15:0]+1 is not in the dumps read: ASSUMPTION (model
		// estimate) 8 pages.
		InvlpgbCountMax: 8,
		Costs:           DefaultCosts(),
	}
}

// ErrUnknownConfig is returned by ConfigByName for a name it does not know.
var ErrUnknownConfig = errors.New("tlb: unknown configuration")

var configs = map[string]func() Config{
	"skylake-sp": DefaultConfig,
	"skx":        DefaultConfig,
	"default":    DefaultConfig,
	"zen4":       Zen4Config,
	"genoa":      Zen4Config,
}

// ConfigNames returns the names ConfigByName accepts, sorted.
func ConfigNames() []string {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConfigByName returns the preset called name (case-insensitive; see
// ConfigNames), for command-line flags.
func ConfigByName(name string) (Config, error) {
	if f, ok := configs[strings.ToLower(name)]; ok {
		return f(), nil
	}
	return Config{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownConfig, name, strings.Join(ConfigNames(), ", "))
}
