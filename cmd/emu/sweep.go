package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/internal/sweep"
)

// sweepKnobs are the emu flags a sweep may vary with -knob or set with
// fixed arguments: the ones that shape a run's identity. Output, timing
// and repetition flags are the sweep's own business.
var sweepKnobs = []string{"threads", "pages", "iterations", "pti", "thp", "flush-order", "costs", "tlb", "pcid",
	"quantum", "flush-ceiling", "mem", "max-cycles", "fail-on-hazard"}

// maxExperimentBytes bounds an experiment file.
const maxExperimentBytes = 1 << 20

// The environment variables that name a batch task's point when -index is
// not given: Slurm's job array index (sbatch(1) "OUTPUT ENVIRONMENT
// VARIABLES") and a Kubernetes Indexed Job's completion index
// (batch/v1 Job, completionMode: Indexed).
var indexEnv = []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}

// emuRunner runs a sweep point in this process with the code emu runs:
// parseRunFlags, newPlan, session.execute. Each run has its own machine,
// so concurrent points are as deterministic as single ones.
type emuRunner struct {
	stderr io.Writer // a built-in workload's own stderr when it fails
}

func (r emuRunner) plan(args []string) (*plan, error) {
	o, rest, err := parseRunFlags(args, io.Discard, modeWorkload)
	if errors.Is(err, pflag.ErrHelp) {
		return nil, usagef("-h is not a flag of a run")
	}
	if err != nil {
		return nil, err
	}
	for _, bad := range []struct {
		set  bool
		flag string
	}{{o.out != "", "-o"}, {o.trace != "", "-trace"}, {o.plot != "", "-plot"}, {o.outFormat != formatText, "-format/-json"},
		{o.repeat != 1, "-r (use -seeds)"}, {o.cpuProfile != "" || o.memProfile != "", "-cpuprofile/-memprofile"},
		{o.timeout != 0, "-timeout"}} {
		if bad.set {
			return nil, usagef("%s is not a flag of a sweep point (a point's flags: -workload -cpus -kernel -patch -seed -%s)", bad.flag, strings.Join(sweepKnobs, " -"))
		}
	}
	return newPlan(o, rest, modeWorkload)
}

func (r emuRunner) Identity(args []string) (*report.Identity, error) {
	p, err := r.plan(args)
	if err != nil {
		return nil, err
	}
	return p.id, nil
}

func (r emuRunner) Run(ctx context.Context, args []string) (*report.Result, error) {
	p, err := r.plan(args)
	if err != nil {
		return nil, err
	}
	s := &session{log: zap.NewNop(), stderr: r.stderr}
	res, runErr := s.execute(ctx, p)
	if res.Runs() == 0 {
		return nil, runErr
	}
	res.Status = runStatus(runErr)
	return res, runErr
}

// lockedWriter serialises the writes of concurrent points.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sweepOptions are emu sweep's flags.
type sweepOptions struct {
	file      string
	workloads []string
	cpus      string
	kernels   []string
	patchSets []string
	seeds     string
	knobs     []string
	dir       string
	jobs      int
	list      bool
	index     int
	emit      string
	out       string
	image     string
	pvc       string
	quiet     bool
}

func newSweepFlags(o *sweepOptions, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("emu sweep", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = false
	fs.StringVarP(&o.file, "file", "f", "", "experiment file (YAML) with the grid; flags given as well replace its dimensions")
	fs.StringSliceVar(&o.workloads, "workload", nil, "workloads, comma-separated (default: emu's, clear_refs)")
	fs.StringVar(&o.cpus, "cpus", "", "CPU counts: a list and ranges such as 2,4 or 1-8 (default: the workload's)")
	fs.StringSliceVar(&o.kernels, "kernel", nil, "kernel baselines, comma-separated (default: 5.10)")
	fs.StringArrayVar(&o.patchSets, "patch-set", nil, "a set of patches run on every kernel, comma-separated; repeat for more sets; none: the kernel alone")
	fs.StringVar(&o.seeds, "seeds", "", "seeds: a list and ranges such as 1-8 (default: 1)")
	fs.StringArrayVar(&o.knobs, "knob", nil, "another flag to vary, as FLAG=V1,V2 (repeatable): -"+strings.Join(sweepKnobs, " -"))
	fs.StringVar(&o.dir, "dir", "sweep", "directory of the results, one JSON file per point")
	fs.IntVarP(&o.jobs, "jobs", "j", 0, "points run at once (0: one per core); with -emit, the array's parallelism")
	fs.BoolVar(&o.list, "list", false, "print the points (index, name, flags) instead of running them")
	fs.IntVar(&o.index, "index", -1, "run only point I (default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX when set)")
	fs.StringVar(&o.emit, "emit", "", "write a batch job for the grid instead of running it: slurm (an sbatch --array script) or k8s (an Indexed Job)")
	fs.StringVarP(&o.out, "output", "o", "", "write -list or -emit output to this file instead of stdout")
	fs.StringVar(&o.image, "image", "emu:latest", "-emit k8s: the container image, with emu on its PATH")
	fs.StringVar(&o.pvc, "pvc", "emu-sweep", "-emit k8s: the PersistentVolumeClaim mounted at -dir for the results")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar or summary on stderr")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: emu sweep [flags] [-- FLAGS FOR EVERY POINT]")
		fmt.Fprintln(out, "Runs every point of the grid workloads × cpus × kernels × patch sets × knobs × seeds")
		fmt.Fprintln(out, "(seeds vary fastest), each as its own deterministic emu run, written to -dir as")
		fmt.Fprintln(out, "one JSON result per point; points whose result is there already are skipped.")
		fmt.Fprintln(out, "Fold the seeds with 'emu merge', print the tables with 'emu report DIR'.")
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(out, "\nExit status: 0 every point completed, 1 a point failed (its result is written with its status), 2 usage error.")
	}
	return fs
}

// cmdSweep is emu sweep.
func cmdSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &sweepOptions{}
	fs := newSweepFlags(o, stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	g, err := sweepGrid(o, fs)
	if err != nil {
		return err
	}
	if o.jobs < 0 || o.jobs > 4096 {
		return usagef("-j must be 0..4096, got %d", o.jobs)
	}
	runner := emuRunner{stderr: &lockedWriter{w: stderr}}
	points, err := g.Points(runner)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return usagef("emu sweep: %v", err)
		}
		return usagef("emu sweep: %v", err)
	}
	if o.emit != "" && o.list {
		return usagef("emu sweep: -emit and -list conflict")
	}
	if o.out != "" && !o.list && o.emit == "" {
		return usagef("emu sweep: -o is for -list and -emit (results go to -dir)")
	}
	if err := checkOutputs(outputPath{"-o", o.out}); err != nil {
		return err
	}
	if testHookPlanned != nil {
		if err := testHookPlanned(); err != nil {
			return err
		}
	}
	switch {
	case o.list:
		return emit(o.out, stdout, stdout, func(w io.Writer) error { return listPoints(w, points) })
	case o.emit != "":
		return emitJob(o, g, points, stdout)
	}
	index := o.index
	if !fs.Changed("index") {
		for _, env := range indexEnv {
			if v, ok := os.LookupEnv(env); ok {
				i, err := strconv.Atoi(v)
				if err != nil {
					return usagef("emu sweep: $%s=%q is not a point index", env, v)
				}
				index = i
				break
			}
		}
	}
	if index != -1 {
		if index < 0 || index >= len(points) {
			return usagef("emu sweep: point index %d out of range (valid: 0..%d)", index, len(points)-1)
		}
		points = points[index : index+1]
	}
	bar := newProgress(stderr, !o.quiet)
	sum, err := sweep.Run(ctx, runner, points, o.dir, sweep.Options{Jobs: o.jobs,
		Progress: func(done, total int, _ *sweep.Point) { bar.points(done, total) }})
	bar.pointsDone()
	if err != nil {
		return fmt.Errorf("emu sweep: %w", err)
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "emu: sweep: %d points: %d run, %d already done, %d failed; results in %s\n",
			len(points), sum.Ran, sum.Skipped, len(sum.Failed), o.dir)
	}
	if len(sum.Failed) > 0 {
		f := sum.Failed[0]
		return fmt.Errorf("sweep: %d of %d points failed (their results have their status); first: point %d (%s): %v",
			len(sum.Failed), len(points), f.Point.Index, f.Point.Name(), f.Err)
	}
	return nil
}

func listPoints(w io.Writer, points []sweep.Point) error {
	for _, p := range points {
		if _, err := fmt.Fprintf(w, "%d\t%s\t%s\n", p.Index, p.Name(), strings.Join(p.Args, " ")); err != nil {
			return err
		}
	}
	return nil
}

// sweepGrid builds the grid from the experiment file, then the flags.
func sweepGrid(o *sweepOptions, fs *pflag.FlagSet) (sweep.Grid, error) {
	var g sweep.Grid
	if o.file != "" {
		data, err := readInput(o.file, maxExperimentBytes)
		if err != nil {
			return g, usagef("%v", err)
		}
		if g, err = parseExperiment(data); err != nil {
			return g, usagef("%s: %v", o.file, err)
		}
	}
	var err error
	if fs.Changed("workload") {
		g.Workloads = o.workloads
	}
	if fs.Changed("cpus") {
		if g.CPUs, err = parseIntList(o.cpus, 1, 256); err != nil {
			return g, usagef("-cpus: %v", err)
		}
	}
	if fs.Changed("kernel") {
		g.Kernels = o.kernels
	}
	if fs.Changed("patch-set") {
		g.PatchSets = nil
		for _, s := range o.patchSets {
			g.PatchSets = append(g.PatchSets, parsePatchSet(s))
		}
	}
	if fs.Changed("seeds") {
		seeds, err := parseIntList(o.seeds, 0, 1<<62)
		if err != nil {
			return g, usagef("-seeds: %v", err)
		}
		g.Seeds = nil
		for _, s := range seeds {
			g.Seeds = append(g.Seeds, uint64(s))
		}
	}
	if fs.Changed("knob") {
		g.Knobs = nil
		for _, k := range o.knobs {
			name, vals, ok := strings.Cut(k, "=")
			if !ok || vals == "" {
				return g, usagef("-knob %q: want FLAG=V1,V2 (flags: %s)", k, strings.Join(sweepKnobs, ", "))
			}
			g.Knobs = append(g.Knobs, sweep.Knob{Flag: strings.TrimLeft(name, "-"), Values: strings.Split(vals, ",")})
		}
	}
	if fs.NArg() > 0 {
		if i := fs.ArgsLenAtDash(); i != 0 {
			return g, usagef("emu sweep: unexpected argument %q (flags for every point go after --)", fs.Arg(0))
		}
		g.Args = append(g.Args, fs.Args()...)
	}
	return g, checkGrid(&g)
}

// checkGrid rejects what the points' own validation would not name well:
// a knob that is not a run flag, empty values, the grid's size.
func checkGrid(g *sweep.Grid) error {
	for _, k := range g.Knobs {
		if !slices.Contains(sweepKnobs, k.Flag) {
			return usagef("emu sweep: -knob %s: not a knob (valid: %s)", k.Flag, strings.Join(sweepKnobs, ", "))
		}
		if len(k.Values) == 0 || slices.Contains(k.Values, "") {
			return usagef("emu sweep: -knob %s: empty value", k.Flag)
		}
	}
	for _, w := range g.Workloads {
		if w == "" {
			return usagef("emu sweep: empty workload name")
		}
	}
	for _, k := range g.Kernels {
		if k == "" {
			return usagef("emu sweep: empty kernel name")
		}
	}
	if n := g.Size(); n > sweep.MaxPoints {
		return usagef("emu sweep: the grid has more than %d points", sweep.MaxPoints)
	}
	return nil
}

// parsePatchSet parses "a,b" (or "none", or "") into a patch set.
func parsePatchSet(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseIntList parses "1,2,4-8" into its values, each within lo..hi, at
// most sweep.MaxPoints of them.
func parseIntList(s string, lo, hi int64) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, b, isRange := strings.Cut(part, "-")
		x, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number or range N-M", part)
		}
		y := x
		if isRange {
			if y, err = strconv.ParseInt(strings.TrimSpace(b), 10, 64); err != nil || y < x {
				return nil, fmt.Errorf("%q is not a range N-M with N ≤ M", part)
			}
		}
		if x < lo || y > hi {
			return nil, fmt.Errorf("%q: values must be %d..%d", part, lo, hi)
		}
		if y-x >= int64(sweep.MaxPoints) || len(out)+int(y-x) >= sweep.MaxPoints {
			return nil, fmt.Errorf("more than %d values", sweep.MaxPoints)
		}
		for v := x; v <= y; v++ {
			out = append(out, int(v))
		}
	}
	return out, nil
}

// gridFlags is g as emu sweep flags: what an emitted job runs on every
// node, so that it needs no experiment file.
func gridFlags(g sweep.Grid) []string {
	var out []string
	ints := func(vs []int) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = strconv.Itoa(v)
		}
		return strings.Join(s, ",")
	}
	if len(g.Workloads) > 0 {
		out = append(out, "-workload", strings.Join(g.Workloads, ","))
	}
	if len(g.CPUs) > 0 {
		out = append(out, "-cpus", ints(g.CPUs))
	}
	if len(g.Kernels) > 0 {
		out = append(out, "-kernel", strings.Join(g.Kernels, ","))
	}
	for _, ps := range g.PatchSets {
		v := "none"
		if len(ps) > 0 {
			v = strings.Join(ps, ",")
		}
		out = append(out, "-patch-set", v)
	}
	for _, k := range g.Knobs {
		out = append(out, "-knob", k.Flag+"="+strings.Join(k.Values, ","))
	}
	if len(g.Seeds) > 0 {
		s := make([]string, len(g.Seeds))
		for i, v := range g.Seeds {
			s[i] = strconv.FormatUint(v, 10)
		}
		out = append(out, "-seeds", strings.Join(s, ","))
	}
	if len(g.Args) > 0 {
		out = append(append(out, "--"), g.Args...)
	}
	return out
}

// absDir is dir made absolute, for a job that runs elsewhere.
func absDir(dir string) (string, error) {
	if filepath.IsAbs(dir) {
		return filepath.Clean(dir), nil
	}
	return filepath.Abs(dir)
}
