// Package calib reproduces published TLB-shootdown, flush and fault
// measurements on the kernel model: each Target runs a freestanding guest
// port of the published microbenchmark (guest/calib.c) and compares the
// emulated figure with the published one.
//
// The emulated figure is always measured: RDTSC deltas inside the guest
// (the vCPU's cycle clock) or, for the per-flush figures that the kernel
// authors timed with the tlb:tlb_flush tracepoint, the model's
// flush_tlb_mm_range trace spans. No target has a cost of its own: a
// target the model cannot reproduce is listed with the reason
// (Target.Unreachable) instead.
package calib

//go:generate bash guest/build.sh

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tlbemu/emu/kernelmodel"
)

//go:embed guest/calib.elf
var guestELF []byte

// Tolerance is the largest |error| a reachable target may have, in percent.
const Tolerance = 25.0

// Unit is what a figure counts.
type Unit string

// The units of the published figures.
const (
	NS     Unit = "ns"
	Cycles Unit = "cycles"
)

// Setup names the machine a target was measured on, as emu's presets: the
// CPU model (-cpu-model) and virtualisation (-virt, "" for bare metal).
type Setup struct {
	CPUModel string
	Virt     string
}

// Bench is one run of the guest: MODE THREADS PAGES ITERATIONS, with PTI
// and the concurrent flush (4ce94eabac16) on or off. The guest's two timed
// parts (A, B: see guest/calib.c) are returned per iteration, with the
// mean flush_tlb_mm_range span per iteration.
type Bench struct {
	Mode       string // "madv" or "mprot"
	Threads    int
	Pages      int
	Iterations int
	PTI        bool
	Concurrent bool
}

// Result is what a Bench measured, in cycles per iteration.
type Result struct {
	A, B  float64
	Flush float64 // mean duration of the main thread's flush_tlb_mm_range spans
}

// Target is one published figure and how to measure it.
type Target struct {
	ID        string  // the figure's tag: "S1", "S10/4p", ...
	What      string  // one line: what was measured
	Published float64 // the published figure, in Unit
	Unit      Unit
	Source    string // the primary source (mail, commit, paper)
	Setup     Setup
	// Unreachable, if not empty, is why the model cannot reproduce the
	// figure; the target is still measured and printed.
	Unreachable string
	// Measure computes the emulated figure in Unit from bench results
	// (run calls Runner.Run, memoised).
	Measure func(run func(Bench) (Result, error), ghz float64) (float64, error)
}

// Row is a measured target.
type Row struct {
	Target
	Emulated float64
	ErrPct   float64 // (Emulated − Published) / Published × 100
}

// Within reports whether the row is within Tolerance.
func (r Row) Within() bool { return math.Abs(r.ErrPct) <= Tolerance }

// ConfigFor returns the machine configuration of a setup with cpus vCPUs
// and the GHz of its clock (to convert cycles to ns).
type ConfigFor func(s Setup, cpus int) (kernelmodel.Config, float64, error)

// Run measures every target. Runs are memoised per (setup, bench).
func Run(ctx context.Context, targets []Target, cfgFor ConfigFor) ([]Row, error) {
	type key struct {
		s Setup
		b Bench
	}
	memo := map[key]Result{}
	var rows []Row
	for _, t := range targets {
		_, ghz, err := cfgFor(t.Setup, 1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ID, err)
		}
		run := func(b Bench) (Result, error) {
			k := key{t.Setup, b}
			if r, ok := memo[k]; ok {
				return r, nil
			}
			cfg, _, err := cfgFor(t.Setup, b.Threads)
			if err != nil {
				return Result{}, err
			}
			r, err := RunBench(ctx, cfg, b)
			if err != nil {
				return Result{}, err
			}
			memo[k] = r
			return r, nil
		}
		v, err := t.Measure(run, ghz)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ID, err)
		}
		rows = append(rows, Row{Target: t, Emulated: v, ErrPct: (v - t.Published) / t.Published * 100})
	}
	return rows, nil
}

// RunBench runs the guest once on cfg (its CPUs are set to b.Threads, PTI
// and ConcurrentFlush to b's).
func RunBench(ctx context.Context, cfg kernelmodel.Config, b Bench) (Result, error) {
	cfg.CPUs = b.Threads
	cfg.PTI = b.PTI
	cfg.ConcurrentFlush = b.Concurrent
	cfg.MaxCycles = 20_000_000_000
	cfg.NoJitter = true // the published figures are means: measure the mean path
	var flushSum, flushN uint64
	cfg.Trace = func(ev kernelmodel.TraceEvent) {
		if ev.CPU == 0 && ev.Name == "flush_tlb_mm_range" {
			flushSum += ev.Dur
			flushN++
		}
	}
	m, err := kernelmodel.New(cfg, nil)
	if err != nil {
		return Result{}, err
	}
	argv := []string{"/calib", b.Mode, strconv.Itoa(b.Threads), strconv.Itoa(b.Pages), strconv.Itoa(b.Iterations)}
	if err := m.Load(guestELF, argv); err != nil {
		return Result{}, err
	}
	if err := m.Run(ctx); err != nil {
		return Result{}, err
	}
	out := strings.TrimSpace(string(m.Output()))
	if m.ExitCode() != 0 {
		return Result{}, fmt.Errorf("guest %v exited %d: %s", argv[1:], m.ExitCode(), out)
	}
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != b.Mode {
		return Result{}, fmt.Errorf("guest %v: unexpected output %q", argv[1:], out)
	}
	a, err1 := strconv.ParseUint(f[1], 10, 64)
	bb, err2 := strconv.ParseUint(f[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Result{}, fmt.Errorf("guest %v: %v", argv[1:], err)
	}
	n := float64(b.Iterations)
	r := Result{A: float64(a) / n, B: float64(bb) / n}
	if flushN > 0 {
		r.Flush = float64(flushSum) / float64(flushN)
	}
	return r, nil
}

// Format prints the rows as an aligned table (target, setup, what,
// published figure, emulated figure, error, verdict, source number), then
// the numbered sources and, for each unreachable target, the reason.
func Format(w io.Writer, rows []Row) error {
	var b strings.Builder
	var srcs []string
	fmt.Fprintf(&b, "%-9s %-14s %-58s %12s %12s %8s  %-11s %s\n", "target", "setup", "what", "published", "emulated", "error", "verdict", "source")
	for _, r := range rows {
		setup := r.Setup.CPUModel
		if r.Setup.Virt != "" {
			setup += "+" + r.Setup.Virt
		}
		verdict := "ok"
		switch {
		case r.Unreachable != "":
			verdict = "UNREACHABLE"
		case !r.Within():
			verdict = "OUTSIDE"
		}
		n := slices.Index(srcs, r.Source)
		if n < 0 {
			srcs = append(srcs, r.Source)
			n = len(srcs) - 1
		}
		fmt.Fprintf(&b, "%-9s %-14s %-58s %9.0f %-2s %9.0f %-2s %+7.1f%%  %-11s [%d]\n",
			r.ID, setup, r.What, r.Published, unitShort(r.Unit), r.Emulated, unitShort(r.Unit), r.ErrPct, verdict, n+1)
	}
	b.WriteString("\nSources:\n")
	for i, s := range srcs {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, s)
	}
	first := true
	for _, r := range rows {
		if r.Unreachable == "" {
			continue
		}
		if first {
			b.WriteString("\nUnreachable (the model cannot reproduce the figure, and why):\n")
			first = false
		}
		fmt.Fprintf(&b, "%s: %s\n", r.ID, r.Unreachable)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func unitShort(u Unit) string {
	if u == Cycles {
		return "cy"
	}
	return string(u)
}

// PresetConfig is the ConfigFor of emu calibrate: DefaultConfig with the
// setup's -cpu-model and -virt presets (kernelmodel.ApplyPreset), 64 MiB
// of memory.
func PresetConfig(s Setup, cpus int) (kernelmodel.Config, float64, error) {
	c := kernelmodel.DefaultConfig()
	p, err := kernelmodel.ApplyPreset(&c, s.CPUModel, s.Virt)
	if err != nil {
		return c, 0, err
	}
	c.CPUs = cpus
	c.MemBytes = 64 << 20
	return c, p.GHz, nil
}
