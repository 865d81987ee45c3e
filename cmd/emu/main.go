// Command emu runs multithreaded x86-64 guest programs on emulated CPUs
// against a model of the Linux v5.10 page-fault and TLB-flush paths, and
// reports what a kernel change costs (flushes, IPIs, cycles, lock waits) and
// whether any write slipped through a stale TLB entry.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// Exit codes (ecosystem.md §3.3).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole program; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "emu: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'emu -h' for usage.")
		return exitUsage
	}
	return exitFail
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return cmdList(stdout)
		case "version":
			fmt.Fprintln(stdout, "emu", version())
			return nil
		case "run":
			return cmdRun(ctx, args[1:], stdout, stderr, true)
		}
	}
	return cmdRun(ctx, args, stdout, stderr, false)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "devel"
}

// options are the run flags.
type options struct {
	workload   string
	cpus       int
	threads    int
	pages      int
	iterations int
	seed       uint64
	kernel     string
	patches    []string
	json       bool
	format     string
	out        string
	maxCycles  uint64
	failHazard bool
	tlbPreset  string
	pcid       bool
	quantum    uint64
	flushCeil  int
	memMiB     uint64
	verbose    bool
	quiet      bool
}

func newFlagSet(o *options, stderr io.Writer, userProg bool) *pflag.FlagSet {
	fs := pflag.NewFlagSet("emu", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	if !userProg {
		fs.StringVar(&o.workload, "workload", "clear_refs", "built-in workload to run (see 'emu list')")
	}
	fs.IntVar(&o.cpus, "cpus", 2, "number of emulated CPUs (1-256)")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: one per vCPU beside the main thread)")
	fs.IntVar(&o.pages, "pages", 0, "size of the workload's mapping in 4 KiB pages (0: workload default)")
	fs.IntVar(&o.iterations, "iterations", 0, "rounds of the workload's main loop (0: workload default)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the guest's random generators")
	fs.StringVar(&o.kernel, "kernel", "5.10", "kernel baseline: "+strings.Join(kernelmodel.KernelNames(), ", "))
	fs.StringSliceVar(&o.patches, "patch", nil, "kernel patch to apply (repeatable or comma-separated; see 'emu list')")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.StringVar(&o.format, "format", "text", "output format: text, json")
	fs.StringVarP(&o.out, "output", "o", "", "write the result to this file (atomically) instead of stdout")
	fs.Uint64Var(&o.maxCycles, "max-cycles", 20_000_000_000, "stop a runaway guest after this many cycles on any CPU (0: no limit)")
	fs.BoolVar(&o.failHazard, "fail-on-hazard", false, "exit 1 at the first stale-TLB hazard, naming it")
	fs.StringVar(&o.tlbPreset, "tlb", "skylake-sp", "TLB geometry preset")
	fs.BoolVar(&o.pcid, "pcid", true, "use PCIDs (CR4.PCIDE=1, Linux's 6 dynamic ASIDs)")
	fs.Uint64Var(&o.quantum, "quantum", 1000, "cycles a vCPU may run ahead of the others (≤ IPI latency)")
	fs.IntVar(&o.flushCeil, "flush-ceiling", 33, "tlb_single_page_flush_ceiling in pages")
	fs.Uint64Var(&o.memMiB, "mem", 512, "guest-physical memory in MiB")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging to stderr")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or log output on stderr")
	fs.Usage = func() { usage(fs, stderr, userProg) }
	return fs
}

func usage(fs *pflag.FlagSet, w io.Writer, userProg bool) {
	if userProg {
		fmt.Fprintln(w, "Usage: emu run [flags] PROGRAM [ARGS...]   (a static, non-PIE x86-64 Linux executable)")
	} else {
		fmt.Fprintln(w, "Usage: emu [flags]            run a built-in workload (default: -workload clear_refs)")
		fmt.Fprintln(w, "       emu run [flags] PROG   run your own static x86-64 executable")
		fmt.Fprintln(w, "       emu list               describe workloads, kernels and patches")
		fmt.Fprintln(w, "       emu version")
	}
	fmt.Fprintln(w, "\nFlags (Go-style single-dash long flags such as -workload are accepted):")
	fs.PrintDefaults()
	if !userProg {
		fmt.Fprintln(w, "\nWorkloads:")
		for _, wl := range workloads.All() {
			fmt.Fprintf(w, "  %-18s %s\n", wl.Name, wl.Summary)
		}
	}
	fmt.Fprintln(w, "\nKernels:", strings.Join(kernelmodel.KernelNames(), ", "))
	fmt.Fprintln(w, "Patches:")
	for _, p := range kernelmodel.Patches {
		fmt.Fprintf(w, "  %-28s %s\n", p.Name, p.Summary)
	}
}

func cmdList(w io.Writer) error {
	fmt.Fprintln(w, "Workloads:")
	for _, wl := range workloads.All() {
		fmt.Fprintf(w, "  %s\n      %s\n", wl.Name, wl.Summary)
		if wl.Doc != "" {
			for _, line := range wrap(wl.Doc, 88) {
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
	}
	fmt.Fprintln(w, "\nKernels (-kernel):")
	for _, k := range kernelmodel.KernelNames() {
		var ps []string
		for _, p := range kernelmodel.Kernels[k] {
			ps = append(ps, string(p))
		}
		if len(ps) == 0 {
			ps = []string{"v5.10 as released"}
		}
		fmt.Fprintf(w, "  %-14s %s\n", k, strings.Join(ps, ", "))
	}
	fmt.Fprintln(w, "\nPatches (-patch):")
	for _, p := range kernelmodel.Patches {
		fmt.Fprintf(w, "  %s\n      %s\n      origin: %s\n", p.Name, p.Summary, p.Origin)
	}
	return nil
}

func wrap(s string, width int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func newLogger(o *options, stderr io.Writer) *zap.Logger {
	if o.quiet {
		return zap.NewNop()
	}
	level := zapcore.WarnLevel
	if o.verbose {
		level = zapcore.DebugLevel
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), level))
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, userProg bool) error {
	var o options
	fs := newFlagSet(&o, stderr, userProg)
	if userProg {
		fs.SetInterspersed(false)
	}
	if err := fs.Parse(normalizeSingleDash(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if o.json {
		o.format = "json"
	}
	if o.format != "text" && o.format != "json" {
		return usagef("unknown format %q (valid: text, json)", o.format)
	}
	var prog []byte
	var argv []string
	var params workloads.Params
	if userProg {
		if fs.NArg() == 0 {
			return usagef("emu run: no program given")
		}
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return usagef("%v", err)
		}
		prog, argv = b, fs.Args()
	} else {
		if fs.NArg() > 0 {
			return usagef("unexpected argument %q (flags start with - or --)", fs.Arg(0))
		}
		wl, err := workloads.Lookup(o.workload)
		if err != nil {
			return usagef("%v", err)
		}
		params = wl.Defaults
		if o.threads < 0 || o.pages < 0 || o.iterations < 0 {
			return usagef("-threads, -pages and -iterations must not be negative")
		}
		if o.threads > 0 {
			params.Threads = o.threads
		} else if params.Threads == 0 {
			params.Threads = max(o.cpus-1, 1)
		}
		if o.pages > 0 {
			params.Pages = o.pages
		}
		if o.iterations > 0 {
			params.Iterations = o.iterations
		}
		params.Seed = o.seed
		prog, argv = wl.ELF, wl.Argv(params)
	}
	cfg, err := buildConfig(&o)
	if err != nil {
		return err
	}
	log := newLogger(&o, stderr)
	defer log.Sync()
	m, err := kernelmodel.New(cfg, log)
	if err != nil {
		return usagef("%v", err)
	}
	if err := m.Load(prog, argv); err != nil {
		if userProg {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		return err
	}
	runErr := m.Run(ctx)
	if runErr == nil && m.ExitCode() != 0 {
		runErr = fmt.Errorf("guest exited with status %d", m.ExitCode())
	}
	res := buildResult(&o, cfg, params, argv, userProg, m.Stats())
	if runErr != nil {
		res.Error = runErr.Error()
	}
	if err := emit(&o, res, stdout); err != nil {
		return err
	}
	return runErr
}

func buildConfig(o *options) (kernelmodel.Config, error) {
	cfg := kernelmodel.DefaultConfig()
	if o.cpus < 1 || o.cpus > 256 {
		return cfg, usagef("-cpus must be 1..256, got %d", o.cpus)
	}
	cfg.CPUs = o.cpus
	if _, ok := kernelmodel.Kernels[o.kernel]; !ok {
		return cfg, usagef("unknown kernel %q (valid: %s)", o.kernel, strings.Join(kernelmodel.KernelNames(), ", "))
	}
	cfg.Kernel = o.kernel
	ps, err := kernelmodel.ParsePatches(o.patches)
	if err != nil {
		return cfg, usagef("%v", err)
	}
	cfg.Patches = ps
	tc, err := tlb.ConfigByName(o.tlbPreset)
	if err != nil {
		return cfg, usagef("%v", err)
	}
	cfg.TLB = tc
	cfg.PCID = o.pcid
	if o.quantum == 0 || o.quantum > cfg.IPICosts.DeliveryCycles {
		return cfg, usagef("-quantum must be 1..%d cycles (the IPI delivery latency)", cfg.IPICosts.DeliveryCycles)
	}
	cfg.Quantum = o.quantum
	if o.flushCeil < 0 {
		return cfg, usagef("-flush-ceiling must not be negative")
	}
	cfg.FlushCeil = o.flushCeil
	if o.memMiB < 16 || o.memMiB > 64<<10 {
		return cfg, usagef("-mem must be 16..65536 MiB")
	}
	cfg.MemBytes = o.memMiB << 20
	cfg.MaxCycles = o.maxCycles
	cfg.FailHazard = o.failHazard
	return cfg, nil
}

func buildResult(o *options, cfg kernelmodel.Config, p workloads.Params, argv []string, userProg bool, st kernelmodel.Stats) *report.Result {
	cmd := "emu -workload " + o.workload
	if userProg {
		cmd = "emu run " + strings.Join(argv, " ")
	}
	var patches []string
	for _, q := range cfg.Patches {
		patches = append(patches, string(q))
	}
	sort.Strings(patches)
	if len(patches) > 0 {
		cmd += " -patch " + strings.Join(patches, ",")
	}
	if cfg.Kernel != "5.10" {
		cmd += " -kernel " + cfg.Kernel
	}
	r := &report.Result{Tool: "emu", Version: version(), Command: cmd, Runs: 1}
	wl := o.workload
	if userProg {
		wl = filepath.Base(argv[0])
	}
	r.Config = []report.KV{
		{Key: "workload", Value: wl}, {Key: "cpus", Value: cfg.CPUs}, {Key: "threads", Value: p.Threads},
		{Key: "pages", Value: p.Pages}, {Key: "iterations", Value: p.Iterations}, {Key: "seed", Value: p.Seed},
		{Key: "kernel", Value: cfg.Kernel}, {Key: "patches", Value: patches}, {Key: "argv", Value: argv},
		{Key: "tlb", Value: cfg.TLB.Name}, {Key: "pcid", Value: cfg.PCID}, {Key: "quantum", Value: cfg.Quantum},
		{Key: "flush_ceiling", Value: cfg.FlushCeil}, {Key: "mem_mib", Value: cfg.MemBytes >> 20},
		{Key: "max_cycles", Value: cfg.MaxCycles}, {Key: "fail_on_hazard", Value: cfg.FailHazard},
	}
	for _, c := range st.Counters {
		r.Counters = append(r.Counters, report.Counter{Name: c.Name, Value: float64(c.Value), Unit: c.Unit, Runs: 1})
	}
	r.TLBIRQs = st.TLBIRQs
	for _, h := range st.Hists {
		rh := report.Hist{Name: h.Name, Key: h.Key, Log2: h.Log2}
		for _, b := range h.Buckets {
			rh.Buckets = append(rh.Buckets, report.Bucket{Value: b.Value, Count: b.Count})
		}
		r.Hists = append(r.Hists, rh)
	}
	return r
}

// emit writes the result to stdout, or whole-or-nothing to -o.
func emit(o *options, r *report.Result, stdout io.Writer) error {
	write := func(w io.Writer) error {
		if o.format == "json" {
			return report.WriteJSON(w, r)
		}
		return report.WriteText(w, r)
	}
	if o.out == "" {
		return write(stdout)
	}
	return writeFileAtomic(o.out, write)
}

// writeFileAtomic writes via a temporary file in the same directory and a
// rename, so the file is either complete or absent.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
