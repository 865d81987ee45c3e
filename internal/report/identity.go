package report

import (
	"fmt"
	"strconv"
	"strings"
)

// FlushOrder is flush_tlb_mm_range's order of the local flush and the
// IPIs (-flush-order).
type FlushOrder int

const (
	// FlushSerial is v5.10's: flush the local TLB, then send the IPIs and
	// wait (arch/x86/mm/tlb.c flush_tlb_mm_range).
	FlushSerial FlushOrder = iota
	// FlushConcurrent is v5.13's: IPIs first, the local flush while they
	// are in flight (commit 4ce94eabac16 "x86/mm/tlb: Flush remote and
	// local TLBs concurrently").
	FlushConcurrent
)

func (f FlushOrder) String() string {
	if f == FlushConcurrent {
		return "concurrent"
	}
	return "serial"
}

// ParseFlushOrder parses a -flush-order value.
func ParseFlushOrder(s string) (FlushOrder, error) {
	switch s {
	case "serial":
		return FlushSerial, nil
	case "concurrent":
		return FlushConcurrent, nil
	}
	return FlushSerial, fmt.Errorf("unknown -flush-order %q (valid: serial, concurrent)", s)
}

// The defaults of the settings of an Identity: a setting equal to its
// default is left out of the text header and the benchmark name. The
// emu flags take their defaults from here.
const (
	DefaultKernel     = "5.10"
	DefaultTLB        = "skylake-sp"
	DefaultPCID       = true
	DefaultQuantum    = 1000
	DefaultFlushCeil  = 33
	DefaultMemMiB     = 512
	DefaultMaxCycles  = 20_000_000_000 // built-in workloads; emu run: 0
	DefaultSeed       = 1
	DefaultCostsLabel = "default"
)

// Identity is everything that decides what a run counted: what ran (a
// built-in workload and its parameters, or a program and its argv), on
// which machine and kernel model, with which costs, by which emu. It is
// the one definition from which the text header, the JSON "config" and
// "variant", the benchmark name and config lines are derived.
type Identity struct {
	Args    []string // the command line as run, without "emu" (for the header)
	Version string   // emu version

	Workload string // workload name, or the program's base name
	Program  bool   // emu run: Argv is the guest's argv, no workload parameters
	Argv     []string

	// Workload parameters and their defaults for this workload (threads:
	// one per vCPU beside main unless the workload says otherwise).
	Threads, Pages, Iterations          int
	DefThreads, DefPages, DefIterations int

	CPUs int
	Seed uint64

	Kernel     string
	Patches    []string // sorted, the -patch ones (not the kernel's own)
	PTI        bool
	THP        bool
	FlushOrder FlushOrder
	FlushMech  string // -flush: "" (ipi, the default), "invlpgb" or "rar"
	Idle       string // -idle: "" (poll, the default) or "c6"
	MmapLock   string // -mmap-lock: "" (spin, the default) or "sleep"
	TLB        string // TLB geometry preset
	PCID       bool
	Quantum    uint64
	FlushCeil  int
	MemMiB     uint64

	Costs       string // cost file's base name, or "default"
	CostsSHA256 string // hex SHA-256 of the cost file's content, "" for default

	MaxCycles, DefMaxCycles uint64
	FailOnHazard            bool
}

// Config is the identity as the JSON "config" object: every setting, in
// display order.
func (id *Identity) Config() []KV {
	kv := []KV{{"workload", id.Workload}, {"cpus", id.CPUs}}
	if id.Program {
		argv := id.Argv
		if argv == nil {
			argv = []string{}
		}
		kv = append(kv, KV{"argv", argv})
	} else {
		kv = append(kv, KV{"threads", id.Threads}, KV{"pages", id.Pages}, KV{"iterations", id.Iterations})
	}
	patches := id.Patches
	if patches == nil {
		patches = []string{}
	}
	kv = append(kv,
		KV{"seed", id.Seed}, KV{"kernel", id.Kernel}, KV{"patches", patches},
		KV{"pti", id.PTI}, KV{"thp", id.THP}, KV{"flush_order", id.FlushOrder.String()})
	if id.FlushMech != "" {
		kv = append(kv, KV{"flush", id.FlushMech}) // only when set: default results keep their config
	}
	if id.Idle != "" {
		kv = append(kv, KV{"idle", id.Idle})
	}
	if id.MmapLock != "" {
		kv = append(kv, KV{"mmap_lock", id.MmapLock})
	}
	kv = append(kv, KV{"costs", id.Costs})
	if id.CostsSHA256 != "" {
		kv = append(kv, KV{"costs_sha256", id.CostsSHA256})
	}
	kv = append(kv,
		KV{"tlb", id.TLB}, KV{"pcid", id.PCID}, KV{"quantum", id.Quantum},
		KV{"flush_ceiling", id.FlushCeil}, KV{"mem_mib", id.MemMiB},
		KV{"max_cycles", id.MaxCycles}, KV{"fail_on_hazard", id.FailOnHazard})
	return kv
}

// IdentityFromConfig rebuilds the identity of a result read back from JSON
// (the inverse of Config). Args and the defaults of the workload
// parameters and of -cpus are not stored: the read values count as the
// defaults.
func IdentityFromConfig(kv []KV, version string) *Identity {
	id := &Identity{Version: version, FlushOrder: FlushSerial,
		Kernel: DefaultKernel, TLB: DefaultTLB, PCID: DefaultPCID, Quantum: DefaultQuantum, FlushCeil: DefaultFlushCeil,
		MemMiB: DefaultMemMiB, Costs: DefaultCostsLabel, MaxCycles: DefaultMaxCycles, DefMaxCycles: DefaultMaxCycles}
	num := func(v any) int64 {
		switch x := v.(type) {
		case int:
			return int64(x)
		case int64:
			return x
		case uint64:
			return int64(x)
		case float64:
			return int64(x)
		}
		return 0
	}
	str := func(v any) string { s, _ := v.(string); return s }
	for _, e := range kv {
		v := e.Value
		switch e.Key {
		case "workload":
			id.Workload = str(v)
		case "cpus":
			id.CPUs = int(num(v))
		case "argv":
			id.Program = true
			id.Argv, _ = v.([]string)
		case "threads":
			id.Threads = int(num(v))
		case "pages":
			id.Pages = int(num(v))
		case "iterations":
			id.Iterations = int(num(v))
		case "seed":
			id.Seed = uint64(num(v))
		case "kernel":
			id.Kernel = str(v)
		case "patches":
			id.Patches, _ = v.([]string)
		case "pti":
			id.PTI = v == true
		case "thp":
			id.THP = v == true
		case "flush_order":
			id.FlushOrder, _ = ParseFlushOrder(str(v))
		case "flush":
			id.FlushMech = str(v)
		case "idle":
			id.Idle = str(v)
		case "mmap_lock":
			id.MmapLock = str(v)
		case "costs":
			id.Costs = str(v)
		case "costs_sha256":
			id.CostsSHA256 = str(v)
		case "tlb":
			id.TLB = str(v)
		case "pcid":
			id.PCID = v == true
		case "quantum":
			id.Quantum = uint64(num(v))
		case "flush_ceiling":
			id.FlushCeil = int(num(v))
		case "mem_mib":
			id.MemMiB = uint64(num(v))
		case "max_cycles":
			id.MaxCycles = uint64(num(v))
		case "fail_on_hazard":
			id.FailOnHazard = v == true
		}
	}
	id.DefThreads, id.DefPages, id.DefIterations = id.Threads, id.Pages, id.Iterations
	if id.Program {
		id.DefMaxCycles = 0
	}
	return id
}

// Variant is the kernel model: the -kernel baseline, then "+patch" for
// each -patch, and "+pti", "+thp", "+concurrent-flush" when set.
func (id *Identity) Variant() string {
	v := id.Kernel
	for _, p := range id.Patches {
		v += "+" + p
	}
	if id.PTI {
		v += "+pti"
	}
	if id.THP {
		v += "+thp"
	}
	if id.FlushOrder == FlushConcurrent {
		v += "+concurrent-flush"
	}
	if id.FlushMech != "" {
		v += "+" + id.FlushMech
	}
	return v
}

// setting is one named value of the identity that shapes the counters,
// with whether it differs from its default.
type setting struct {
	key, value string
	changed    bool
}

// shaping lists the settings beyond workload, cpus, kernel and patches
// that change what a run counts, in display order. The variant's pti, thp
// and flush order are among them.
func (id *Identity) shaping() []setting {
	onoff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	var s []setting
	if !id.Program {
		s = append(s,
			setting{"threads", strconv.Itoa(id.Threads), id.Threads != id.DefThreads},
			setting{"pages", strconv.Itoa(id.Pages), id.Pages != id.DefPages},
			setting{"iterations", strconv.Itoa(id.Iterations), id.Iterations != id.DefIterations})
	}
	s = append(s,
		setting{"pti", onoff(id.PTI), id.PTI},
		setting{"thp", onoff(id.THP), id.THP},
		setting{"flush", id.FlushOrder.String(), id.FlushOrder != FlushSerial},
		setting{"tlb_flush", orIPI(id.FlushMech), id.FlushMech != ""},
		setting{"idle", orDefault(id.Idle, "poll"), id.Idle != ""},
		setting{"mmap_lock", orDefault(id.MmapLock, "spin"), id.MmapLock != ""},
		setting{"tlb", id.TLB, id.TLB != DefaultTLB},
		setting{"pcid", onoff(id.PCID), id.PCID != DefaultPCID},
		setting{"quantum", strconv.FormatUint(id.Quantum, 10), id.Quantum != DefaultQuantum},
		setting{"flush_ceiling", strconv.Itoa(id.FlushCeil), id.FlushCeil != DefaultFlushCeil},
		setting{"mem_mib", strconv.FormatUint(id.MemMiB, 10), id.MemMiB != DefaultMemMiB},
	)
	costs := id.Costs
	if id.CostsSHA256 != "" {
		costs += "@" + shortHash(id.CostsSHA256)
	}
	s = append(s, setting{"costs", costs, id.CostsSHA256 != "" || (id.Costs != DefaultCostsLabel && id.Costs != "")})
	return s
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// CommandLine is the command as run, shell-quoted: "emu ARGS…".
func (id *Identity) CommandLine() string {
	parts := []string{"emu"}
	for _, a := range id.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./,:+@%", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// headerSettings is the parenthesised list of the text header: cpus, the
// seed(s), the kernel variant, then every other non-default setting.
func (id *Identity) headerSettings(seeds []uint64) []string {
	par := []string{"cpus=" + strconv.Itoa(id.CPUs)}
	switch n := len(seeds); {
	case n == 1:
		par = append(par, fmt.Sprintf("seed=%d", seeds[0]))
	case n > 1:
		par = append(par, fmt.Sprintf("seed=%d..%d", seeds[0], seeds[n-1]))
	}
	if id.Workload != "" && !id.Program {
		par = append(par, "workload="+id.Workload)
	}
	par = append(par, "kernel="+id.Variant())
	for _, s := range id.shaping() {
		switch s.key {
		case "pti", "thp", "flush", "tlb_flush": // in the variant
			continue
		}
		if s.changed {
			par = append(par, s.key+"="+s.value)
		}
	}
	if id.MaxCycles != id.DefMaxCycles {
		par = append(par, fmt.Sprintf("max_cycles=%d", id.MaxCycles))
	}
	if id.FailOnHazard {
		par = append(par, "fail_on_hazard")
	}
	return par
}

// BenchName is the Go benchmark name:
// BenchmarkWorkload/workload=W/cpus=N/kernel=K/patch=P, then "/key=value"
// for every other setting that shapes the counters and differs from its
// default (threads, pages, iterations, pti, thp, flush, tlb, pcid,
// quantum, flush_ceiling, mem_mib, costs), so that `benchstat -col /patch`
// pivots on the patch and runs of different settings never share a name.
func (id *Identity) BenchName() string {
	var b strings.Builder
	b.WriteString("BenchmarkWorkload/workload=" + benchValue(id.Workload))
	b.WriteString("/cpus=" + strconv.Itoa(id.CPUs))
	b.WriteString("/kernel=" + benchValue(id.Kernel))
	patch := "none"
	if len(id.Patches) > 0 {
		patch = strings.Join(id.Patches, "+")
	}
	b.WriteString("/patch=" + benchValue(patch))
	for _, s := range id.shaping() {
		if s.changed {
			b.WriteString("/" + s.key + "=" + benchValue(s.value))
		}
	}
	return b.String()
}

// BenchConfig is the benchfmt file configuration ("key: value" lines)
// written before the results: the settings that do not shape the counters
// and so are not in the name. The emu version is left out: benchstat
// compares one configuration's results across files, and two emu versions
// are exactly what one compares.
func (id *Identity) BenchConfig() []KV {
	kv := []KV{{"emu-max-cycles", strconv.FormatUint(id.MaxCycles, 10)}}
	if id.FailOnHazard {
		kv = append(kv, KV{"emu-fail-on-hazard", "on"})
	}
	return kv
}

// Identity returns r's identity: the one it was made with, or the one
// rebuilt from its Config (a result read from JSON).
func (r *Result) Identity() *Identity {
	if r.ID != nil {
		return r.ID
	}
	return IdentityFromConfig(r.Config, r.Version)
}

// SetIdentity makes id the identity of r and derives Command, Workload,
// Version and Config from it.
func (r *Result) SetIdentity(id *Identity) {
	r.ID = id
	r.Tool = "emu"
	r.Version = id.Version
	r.Command = id.CommandLine()
	r.Workload = id.Workload
	r.Config = id.Config()
}

// orIPI is the -flush value of an identity: "ipi" for the default ("").
// orDefault is v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orIPI(mech string) string {
	if mech == "" {
		return "ipi"
	}
	return mech
}
