// Package bench is emu's performance-regression suite: Go benchmarks that
// report the modelled costs of every workload and kernel variant (flushes,
// IPIs, emulated cycles per run, all exact) beside the emulator's own speed
// (emulated MIPS, host ns per instruction, allocations per instruction).
//
//	go test -run '^$' -bench . -count 6 ./bench > new.txt
//	benchstat old.txt new.txt
//
// Benchmark names match `emu -format bench`
// (Workload/workload=W/cpus=N/kernel=K/patch=P), so either source can be
// compared with benchstat. This file holds the helper the benchmarks share;
// `go test ./bench` runs only its quick self-test.
package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// Case is one run: a workload with small parameters on a kernel variant.
type Case struct {
	Workload   string
	CPUs       int
	Kernel     string // -kernel ("5.10" if empty)
	Patches    []kernelmodel.Patch
	Pages      int    // 0: the workload's default
	Iterations int    // 0: the workload's default
	Seed       uint64 // 0 counts as 1
}

// Name is the case's benchmark sub-name, in emu -format bench's spelling.
func (c Case) Name() string {
	patch := "none"
	if len(c.Patches) > 0 {
		patch = ""
		for i, p := range c.Patches {
			if i > 0 {
				patch += "+"
			}
			patch += string(p)
		}
	}
	return fmt.Sprintf("workload=%s/cpus=%d/kernel=%s/patch=%s", c.Workload, c.CPUs, c.kernel(), patch)
}

func (c Case) kernel() string {
	if c.Kernel == "" {
		return "5.10"
	}
	return c.Kernel
}

// Metrics are one run's modelled counts and its host cost.
type Metrics struct {
	Instructions  uint64        // guest instructions retired
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
	p := wl.Defaults
	if p.Threads == 0 {
		p.Threads = max(c.CPUs-1, 1)
	}
	if c.Pages > 0 {
		p.Pages = c.Pages
	}
	if c.Iterations > 0 {
		p.Iterations = c.Iterations
	}
	p.Seed = max(c.Seed, 1)
	cfg := kernelmodel.DefaultConfig()
	cfg.CPUs = c.CPUs
	cfg.Kernel = c.kernel()
	cfg.Patches = c.Patches
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	m, err := kernelmodel.New(cfg, nil)
	if err != nil {
		return Metrics{}, err
	}
	if err := m.Load(wl.ELF, wl.Argv(p)); err != nil {
		return Metrics{}, err
	}
	if err := m.Run(ctx); err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	host := time.Since(start)
	runtime.ReadMemStats(&ms1)
	if code := m.ExitCode(); code != 0 {
		return Metrics{}, fmt.Errorf("%s: guest exited with status %d", c.Name(), code)
	}
	st := m.Stats()
	get := func(name string) uint64 { v, _ := st.Get(name); return v }
	return Metrics{
		Instructions:  get("instructions"),
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
