// Package study runs a named study: one workload under every kernel
// variant of a question (v5.10, each patch alone, the December 2020
// proposal with each fix, 5.10-stable) across CPU counts and seeds, as
// one internal/sweep grid, and turns the per-seed results into a table
// and one verdict line per variant.
//
// The table has one row per variant and CPU count. For the study's loss
// counters (what users lose, counted as they see it: lost soft-dirty
// pages for clear_refs, lost writes and missed uffd-wp faults for
// uffd_wp) it gives the mean, min–max and the runs with any loss; for the
// cost counters (remote flushes, IPIs, full local flushes, flush-pending
// flushes, PTE-lock wait, cycles) the mean and its change against v5.10
// at the same CPU count, with the significance test emu compare applies
// (report.Significance: Mann-Whitney U over the per-seed samples, α =
// 0.05).
//
// The verdict lines are computed from the table (Verdicts) by these
// rules, applied per variant over the study's CPU counts C (ascending);
// "lost" is the per-run sum of the loss counters, "loses at c" means at
// least one run at c lost something:
//
//   - The baseline (the first variant) gets "loses tracking at every CPU
//     count", "at c1, c2 CPUs only" or "loses nothing at any CPU count",
//     with the range of its per-CPU-count mean losses.
//   - A variant that loses nothing at any c: "closes the hole at every
//     CPU count" when the baseline loses somewhere, else "no loss on
//     either side".
//   - A variant that loses at every c: "leaves lost events at every CPU
//     count", with its mean range and the baseline's.
//   - A variant that loses nothing exactly at the CPU counts ≥ N (N not
//     the smallest): "closes it only at ≥ N CPUs". If at every one of
//     those counts nr_tlb_local_flush_all is significantly above the
//     baseline's and at least twice it, the clause "the loss disappears
//     together with nr_tlb_local_flush_all escalation (B → V at N CPUs)"
//     follows, else "not explained by nr_tlb_local_flush_all escalation".
//     If the variant's flush-pending check fired (mean
//     emu_flush_pending_flushes > 0) at a CPU count where it still loses,
//     ", not with the check (F flush-pending flushes at c CPUs leave L
//     lost)" follows.
//   - Any other pattern: "closes it at c… CPUs only, loses at c… CPUs".
//   - Every non-baseline variant then gets its cost: the range of the
//     significant changes of nr_tlb_remote_flush over the CPU counts
//     ("costs +X % to +Y % remote flushes", "saves …"), "for no hazard"
//     when the baseline loses nothing at those CPU counts, or "no
//     significant change in remote flushes".
//
// A study is deterministic: its points are sweep points (one machine
// each), read back in grid order, so the same flags give the same bytes at
// any -j and GOMAXPROCS.
package study

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/internal/sweep"
)

// Variant is one kernel of a study: a -kernel baseline and -patch set.
type Variant struct {
	Name    string   // the row label, e.g. "pte-fault-flush-pending+clear-refs-flush"
	Kernel  string   // -kernel
	Patches []string // -patch, empty for the kernel alone
}

// Def is a named study.
type Def struct {
	Name     string
	Workload string
	Summary  string
	// Args are emu flags given to every point (the workload's size).
	Args []string
	// Loss are the counters of lost events, summed per run into "lost".
	Loss []string
	// Cost are the counters compared against the baseline.
	Cost     []string
	Variants []Variant
}

// The counters every study compares (README "Counters").
const (
	RemoteFlush    = "nr_tlb_remote_flush"
	LocalFlushAll  = "nr_tlb_local_flush_all"
	PendingFlushes = "emu_flush_pending_flushes"
)

var costCounters = []string{RemoteFlush, "emu_ipis_sent", LocalFlushAll, PendingFlushes, "emu_ptl_wait_cycles", "cycles"}

// Defs are the studies, by name.
var Defs = []Def{
	{
		Name:     "clear_refs",
		Workload: "clear_refs",
		Summary: "soft-dirty tracking (clear_refs \"4\" while writers store): v5.10, each clear_refs patch, " +
			"the proposal with each fix, 5.10-stable",
		// emu_lost_soft_dirty_pages: (page, interval) pairs a pagemap
		// reader misses, pages of the writer threads; the clearing
		// thread's own (its stack) apart.
		Loss:     []string{"emu_lost_soft_dirty_pages", "emu_lost_soft_dirty_pages_clearer"},
		Cost:     costCounters,
		Variants: clearRefsVariants,
	},
	{
		Name:     "clear_refs_predump",
		Workload: "clear_refs_predump",
		Summary: "soft-dirty tracking checked as CRIU's pre-dump does (clear_refs \"4\", TLB-resident writers, " +
			"pagemap read-back by the guest): v5.10, each clear_refs patch, the proposal with each fix, 5.10-stable",
		// emu_guest_lost_soft_dirty_pages: the writers' pages the guest's
		// own pagemap check finds clean after an interval in which it
		// knows they were written (clear_refs_predump.c); the clearing
		// thread's own pages, which the guest does not check, apart.
		Loss:     []string{"emu_guest_lost_soft_dirty_pages", "emu_lost_soft_dirty_pages_clearer"},
		Cost:     costCounters,
		Variants: clearRefsVariants,
	},
	{
		Name:     "uffd_wp",
		Workload: "uffd_wp",
		Summary: "userfaultfd write-protect with a monitor (the selftest pattern): v5.10, the proposal, " +
			"uffd-wp-flush-pending (6ce64428d620), 5.10-stable",
		// Events as the monitor sees them: a page copy that missed a
		// write (COW), a uffd-wp fault that was never raised; the
		// per-store counts stay in each point's result.
		Loss: []string{"emu_lost_cow_pages", "emu_lost_uffd_wp_faults"},
		Cost: costCounters,
		Variants: []Variant{
			{"5.10", "5.10", nil},
			{"pte-fault-flush-pending", "5.10", []string{"pte-fault-flush-pending"}},
			{"uffd-wp-flush-pending", "5.10", []string{"uffd-wp-flush-pending"}},
			{"5.10-stable", "5.10-stable", nil},
		},
	},
}

// clearRefsVariants are the kernels of the clear_refs questions.
var clearRefsVariants = []Variant{
	{"5.10", "5.10", nil},
	{"clear-refs-flush", "5.10", []string{"clear-refs-flush"}},
	{"clear-refs-mmap-write-lock", "5.10", []string{"clear-refs-mmap-write-lock"}},
	{"pte-fault-flush-pending", "5.10", []string{"pte-fault-flush-pending"}},
	{"pte-fault-flush-pending+clear-refs-flush", "5.10", []string{"pte-fault-flush-pending", "clear-refs-flush"}},
	{"pte-fault-flush-pending+clear-refs-mmap-write-lock", "5.10", []string{"pte-fault-flush-pending", "clear-refs-mmap-write-lock"}},
	{"5.10-stable", "5.10-stable", nil},
}

// DefaultCPUs and DefaultSeeds are a study's default grid.
var (
	DefaultCPUs  = []int{2, 3, 4, 8, 16}
	DefaultSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8}
)

// Names are the studies' names.
func Names() []string {
	var out []string
	for _, d := range Defs {
		out = append(out, d.Name)
	}
	return out
}

// Lookup is the study named name.
func Lookup(name string) (*Def, error) {
	for i := range Defs {
		if Defs[i].Name == name {
			return &Defs[i], nil
		}
	}
	return nil, fmt.Errorf("unknown study %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Points are the sweep points of d over cpus and seeds: per variant (in
// d's order) the grid of d's workload, cpus and seeds, concatenated and
// numbered from 0.
func (d *Def) Points(r sweep.Runner, cpus []int, seeds []uint64) ([]sweep.Point, error) {
	var points []sweep.Point
	for _, v := range d.Variants {
		g := sweep.Grid{Workloads: []string{d.Workload}, CPUs: cpus, Kernels: []string{v.Kernel},
			PatchSets: [][]string{v.Patches}, Seeds: seeds, Args: d.Args}
		ps, err := g.Points(r)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		for _, p := range ps {
			p.Index = len(points)
			points = append(points, p)
		}
	}
	return points, nil
}

// Options are Run's settings.
type Options struct {
	CPUs  []int
	Seeds []uint64
	// Jobs is the number of points run at once (0: one per core).
	Jobs int
	// Dir keeps the per-point results (a sweep directory: a second run
	// skips the points already there); empty: a temporary directory,
	// removed after the run.
	Dir      string
	Progress func(done, total int)
}

// Run runs d's grid with r and builds the study from the results.
func Run(ctx context.Context, r sweep.Runner, d *Def, o Options) (*Study, error) {
	if len(o.CPUs) == 0 || len(o.Seeds) == 0 {
		return nil, errors.New("study: no CPU counts or no seeds")
	}
	points, err := d.Points(r, o.CPUs, o.Seeds)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "emu-study-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	sopts := sweep.Options{Jobs: o.Jobs}
	if o.Progress != nil {
		sopts.Progress = func(done, total int, _ *sweep.Point) { o.Progress(done, total) }
	}
	sum, err := sweep.Run(ctx, r, points, dir, sopts)
	if err != nil {
		return nil, err
	}
	if len(sum.Failed) > 0 {
		f := sum.Failed[0]
		return nil, fmt.Errorf("%d of %d points failed; first: point %d (%s): %v", len(sum.Failed), len(points),
			f.Point.Index, f.Point.Name(), f.Err)
	}
	results := make([]*report.Result, len(points))
	for i := range points {
		if results[i], err = sweep.ReadResult(filepath.Join(dir, points[i].File())); err != nil {
			return nil, err
		}
	}
	return Build(d, o.CPUs, o.Seeds, results)
}
