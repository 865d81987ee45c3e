// Package bench is emu's performance-regression suite: Go benchmarks that
// report the modelled costs of every workload and kernel variant (flushes,
// IPIs, emulated cycles per run, all exact) beside the emulator's own speed
// (emulated MIPS, host ns per instruction, allocations per instruction).
//
//	go test -run '^$' -bench . -count 6 ./bench > new.txt
//	benchstat old.txt new.txt
//
// Benchmark names are derived from the same run identity as `emu -format
// bench` (Workload/workload=W/cpus=N/kernel=K/patch=P, then every setting
// that differs from its default, e.g. /pages=1024/iterations=2), so either
// source can be compared with benchstat and different settings never share
// a name. This file holds the helper the benchmarks share;
// `go test ./bench` runs only its quick self-test.
package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// Case is one run: a workload with small parameters on a kernel variant.
type Case struct {
	Workload   string
	CPUs       int
	Kernel     string // -kernel ("5.10" if empty)
	Patches    []kernelmodel.Patch
	Threads    int    // 0: the workload's default (emu's: CPUs-1 when it has none)
	Pages      int    // 0: the workload's default
	Iterations int    // 0: the workload's default
	Seed       uint64 // 0 counts as 1
}

// Name is the case's benchmark sub-name: the run identity's benchmark
// name (report.Identity.BenchName) without "BenchmarkWorkload/", so that a
// case and `emu -format bench` with the same settings share one name, and
// cases of different settings (pages, iterations, ...) never do.
func (c Case) Name() string {
	return strings.TrimPrefix(c.Identity().BenchName(), "BenchmarkWorkload/")
}

// Identity is the run identity of c, as emu would record it for
// `emu -workload W -cpus N -kernel K -patch P -pages … -iterations …`.
func (c Case) Identity() *report.Identity {
	cfg := c.config()
	id := &report.Identity{
		Workload: c.Workload, CPUs: cfg.CPUs, Seed: max(c.Seed, 1), Kernel: cfg.Kernel,
		TLB: cfg.TLB.Name, PCID: cfg.PCID, Quantum: cfg.Quantum, FlushCeil: cfg.FlushCeil,
		MemMiB: cfg.MemBytes >> 20, Costs: report.DefaultCostsLabel,
		MaxCycles: cfg.MaxCycles, DefMaxCycles: cfg.MaxCycles,
	}
	for _, p := range c.Patches {
		id.Patches = append(id.Patches, string(p))
	}
	sort.Strings(id.Patches)
	id.Patches = slices.Compact(id.Patches)
	if wl, err := workloads.Lookup(c.Workload); err == nil {
		def := c.defaults(wl)
		p := c.params(wl)
		id.Threads, id.Pages, id.Iterations = p.Threads, p.Pages, p.Iterations
		id.DefThreads, id.DefPages, id.DefIterations = def.Threads, def.Pages, def.Iterations
	}
	return id
}

// defaults are wl's parameters on c's CPUs, as emu resolves them without
// -threads, -pages and -iterations.
func (c Case) defaults(wl *workloads.Workload) workloads.Params {
	p := wl.Defaults
	if p.Threads == 0 {
		p.Threads = max(c.CPUs-1, 1)
	}
	return p
}

// params are the parameters c runs wl with.
func (c Case) params(wl *workloads.Workload) workloads.Params {
	p := c.defaults(wl)
	if c.Threads > 0 {
		p.Threads = c.Threads
	}
	if c.Pages > 0 {
		p.Pages = c.Pages
	}
	if c.Iterations > 0 {
		p.Iterations = c.Iterations
	}
	p.Seed = max(c.Seed, 1)
	return p
}

func (c Case) config() kernelmodel.Config {
	cfg := kernelmodel.DefaultConfig()
	cfg.CPUs = c.CPUs
	cfg.Kernel = c.kernel()
	cfg.Patches = c.Patches
	return cfg
}

func (c Case) kernel() string {
	if c.Kernel == "" {
		return report.DefaultKernel
	}
	return c.Kernel
}

// Metrics are one run's modelled counts and its host cost.
type Metrics struct {
	Instructions  uint64        // guest instructions retired
	Parallel      uint64        // emu_parallel_instructions: retired in parallel phases
	Cycles        uint64        // emulated busy cycles, all CPUs
	RemoteFlushes uint64        // nr_tlb_remote_flush: shootdown requests
	IPIs          uint64        // emu_ipis_sent
	TLBIRQs       uint64        // interrupts.TLB: shootdown IPIs handled
	StaleWrites   uint64        // emu_stale_tlb_writes
	Host          time.Duration // wall time of New + Load + Run
	Mallocs       uint64        // heap allocations during the run (all goroutines)
}

// Run runs c once on a fresh machine and returns what it counted. A guest
// that exits non-zero is an error.
func Run(ctx context.Context, c Case) (Metrics, error) {
	wl, err := workloads.Lookup(c.Workload)
	if err != nil {
		return Metrics{}, err
	}
	return runMachine(ctx, c.config(), wl.ELF, wl.Argv(c.params(wl)), c.Name())
}

// RunELF runs a static guest executable (elf, argv; as `emu run -cpus
// cpus`) once on a fresh machine with the default configuration and
// returns what it counted, as Run does for a workload. The guest's output
// is kept by the machine, not printed.
func RunELF(ctx context.Context, cpus int, elf []byte, argv []string) (Metrics, error) {
	cfg := kernelmodel.DefaultConfig()
	cfg.CPUs = cpus
	return runMachine(ctx, cfg, elf, argv, argv[0])
}

// runMachine builds a machine of cfg, runs elf with argv on it and returns
// the counters, the host time and the allocations of the run; name labels
// its errors. A guest that exits non-zero is an error.
func runMachine(ctx context.Context, cfg kernelmodel.Config, elf []byte, argv []string, name string) (Metrics, error) {
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	m, err := kernelmodel.New(cfg, nil)
	if err != nil {
		return Metrics{}, err
	}
	if err := m.Load(elf, argv); err != nil {
		return Metrics{}, err
	}
	if err := m.Run(ctx); err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", name, err)
	}
	host := time.Since(start)
	runtime.ReadMemStats(&ms1)
	if code := m.ExitCode(); code != 0 {
		return Metrics{}, fmt.Errorf("%s: guest exited with status %d", name, code)
	}
	st := m.Stats()
	get := func(name string) uint64 { v, _ := st.Get(name); return v }
	return Metrics{
		Instructions:  get("instructions"),
		Parallel:      get("emu_parallel_instructions"),
		Cycles:        get("cycles"),
		RemoteFlushes: get("nr_tlb_remote_flush"),
		IPIs:          get("emu_ipis_sent"),
		TLBIRQs:       get("interrupts.TLB"),
		StaleWrites:   get("emu_stale_tlb_writes"),
		Host:          host,
		Mallocs:       ms1.Mallocs - ms0.Mallocs,
	}, nil
}

// Variants are the kernel variants every workload is benchmarked on: v5.10,
// v5.10 with each patch alone, and 5.10-stable (the merged fixes).
func Variants() []Case {
	out := []Case{{Kernel: "5.10"}}
	for _, p := range kernelmodel.Patches {
		out = append(out, Case{Kernel: "5.10", Patches: []kernelmodel.Patch{p.Name}})
	}
	return append(out, Case{Kernel: "5.10-stable"})
}
