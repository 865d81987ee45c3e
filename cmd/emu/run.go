package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tlbemu/emu/internal/elfload"
	"github.com/tlbemu/emu/internal/outfile"
	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// testHookPlanned, when set (by tests), is called once the command line has
// been validated and before anything is run or written; a non-nil error
// ends the command with it. FuzzFlags uses it to keep fuzzing to parsing.
var testHookPlanned func() error

// plan is one validated configuration to run, -r times.
type plan struct {
	name     string // workload name or the program's base name
	cfg      kernelmodel.Config
	costsSum string           // SHA-256 of the -costs file
	defaults workloads.Params // the workload's parameters without -threads/-pages/-iterations
	prog     []byte
	exe      string   // the program's absolute path: the guest's /proc/self/exe, AT_EXECFN
	interp   string   // its PT_INTERP ("" for a static program)
	env      []string // the guest's environment (emu run: emu's own, as perf stat passes it)
	argv     func(seed uint64) []string
	params   workloads.Params // resolved workload parameters (workloads only)
	wl       *workloads.Workload
	userProg bool
	seed     uint64
	runs     int
	id       *report.Identity
}

// parseRunFlags parses the flags of emu, emu run and emu ab; -h prints
// the help to stdout.
func parseRunFlags(args []string, stdout io.Writer, mode cmdMode) (*options, []string, error) {
	o := &options{}
	fs := newFlagSet(o, stdout, mode)
	if mode == modeProgram {
		fs.SetInterspersed(false)
	}
	err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if !fs.Changed("cpus") && mode != modeProgram {
		// A workload may need more CPUs than the default 2 to show what it
		// is for (uffd_wp: three writers, a monitor and main).
		if wl, err := workloads.Lookup(o.workload); err == nil && wl.CPUs > 0 {
			o.cpus = wl.CPUs
		}
	}
	if fs.Changed("patch") && (len(o.patches) == 0 || slices.Contains(o.patches, "")) {
		return nil, nil, usagef("-patch: empty patch name (valid: %s)", strings.Join(patchList(), ", "))
	}
	if o.json && mode != modeAB {
		if fs.Changed("format") && o.format != "json" {
			return nil, nil, usagef("-json conflicts with -format %s", o.format)
		}
		o.format = "json"
	}
	if mode == modeAB {
		o.format = "text"
		if o.json {
			o.format = "json"
		}
	}
	if o.outFormat, err = parseFormat(o.format); err != nil {
		return nil, nil, err
	}
	if o.repeat < 1 || o.repeat > 10000 {
		return nil, nil, usagef("-r/-repeat must be 1..10000, got %d", o.repeat)
	}
	o.tlbSet = fs.Changed("tlb")
	o.flushSet = fs.Changed("flush-order")
	if o.flush, err = report.ParseFlushOrder(o.flushOrder); err != nil {
		return nil, nil, usagef("%v", err)
	}
	switch mode {
	case modeProgram:
		o.cmdline = append([]string{"run"}, args...)
	case modeAB:
		o.cmdline = append([]string{"ab"}, args...)
	default:
		o.cmdline = slices.Clone(args)
	}
	if o.plot != "" {
		if _, err := report.PlotFormat(o.plot); err != nil {
			return nil, nil, usagef("-plot: %v", err)
		}
	}
	return o, fs.Args(), nil
}

// newPlan resolves the workload or program and the kernel configuration.
func newPlan(o *options, args []string, mode cmdMode) (*plan, error) {
	p := &plan{seed: o.seed, runs: o.repeat, userProg: mode == modeProgram}
	if o.seed > ^uint64(0)-uint64(o.repeat) {
		return nil, usagef("-seed %d + -r %d overflows", o.seed, o.repeat)
	}
	if p.userProg {
		if len(args) == 0 {
			return nil, usagef("emu run: no program given (usage: emu run [flags] PROGRAM [ARGS...])")
		}
		b, hdr, err := readProgram(args[0])
		if err != nil {
			return nil, usagef("%v", err)
		}
		p.interp = hdr.Interp
		argv := slices.Clone(args)
		p.prog, p.argv = b, func(uint64) []string { return argv }
		p.name = filepath.Base(args[0])
		if p.exe, err = filepath.Abs(args[0]); err != nil {
			return nil, usagef("%s: %v", args[0], err)
		}
		// The environment is the guest's input as argv is (perf stat
		// passes its own); -env-clear starts the guest with none, so that
		// runs from different shells lay out the stack identically.
		if !o.envClear {
			p.env = os.Environ()
		}
	} else {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q (flags start with - or --)", args[0])
		}
		wl, err := workloads.Lookup(o.workload)
		if err != nil {
			return nil, usagef("%v", err)
		}
		params := wl.Defaults
		if params.Threads == 0 {
			params.Threads = max(o.cpus-1, 1)
		}
		p.defaults = params
		if o.threads < 0 || o.pages < 0 || o.iterations < 0 {
			return nil, usagef("-threads, -pages and -iterations must not be negative")
		}
		// The limits every built-in guest's runtime enforces
		// (workloads/rt.c parse_params: MAX_THREADS, 2^24 pages).
		if o.threads > maxWorkloadThreads {
			return nil, usagef("-threads must be 1..%d, got %d", maxWorkloadThreads, o.threads)
		}
		if o.pages > maxWorkloadPages {
			return nil, usagef("-pages must be 1..%d, got %d", maxWorkloadPages, o.pages)
		}
		if o.threads > 0 {
			params.Threads = o.threads
		}
		if o.pages > 0 {
			params.Pages = o.pages
		}
		if o.iterations > 0 {
			params.Iterations = o.iterations
		}
		if params.Pages < wl.MinPages {
			return nil, usagef("-pages must be %d..%d for workload %s, got %d", wl.MinPages, maxWorkloadPages, wl.Name, params.Pages)
		}
		p.params = params
		p.wl = wl
		p.prog = wl.ELF
		p.argv = func(seed uint64) []string {
			q := params
			q.Seed = seed
			return wl.Argv(q)
		}
		p.name = wl.Name
	}
	cfg, sum, err := buildConfig(o)
	if err != nil {
		return nil, err
	}
	p.cfg, p.costsSum = cfg, sum
	if p.userProg {
		// The program's own directory is visible read-only by default, and
		// for a dynamically linked one what its loader reads: the
		// interpreter's directory, the library directories and the cache.
		p.cfg.ROMounts = append(p.cfg.ROMounts, filepath.Dir(p.exe))
		if p.interp != "" {
			if _, err := os.Stat(p.interp); err != nil {
				return nil, usagef("%s: interpreter %s not found: %v", args[0], p.interp, err)
			}
			for _, d := range []string{filepath.Dir(p.interp), "/lib", "/lib64", "/usr/lib", "/etc/ld.so.cache"} {
				if _, err := os.Stat(d); err == nil && !slices.Contains(p.cfg.ROMounts, d) {
					p.cfg.ROMounts = append(p.cfg.ROMounts, d)
				}
			}
		}
	}
	p.id = p.identity(o)
	return p, nil
}

// Limits of the built-in workloads' parameters (workloads/rt.h MAX_THREADS,
// workloads/rt.c parse_params).
const (
	maxWorkloadThreads = 1024
	maxWorkloadPages   = 1 << 24
)

// readProgram reads the executable of emu run, as execve would accept it:
// a regular file, whose ELF and program headers are checked before the
// rest is read (so a large non-ELF file is refused at once), of at most
// maxProgramBytes. It returns the headers' PT_INTERP and PIE findings.
func readProgram(path string) ([]byte, elfload.Headers, error) {
	var h elfload.Headers
	// Stat first: opening a FIFO would wait for a writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, h, err
	} else if !fi.Mode().IsRegular() {
		return nil, h, fmt.Errorf("%s: not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, h, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, h, err
	}
	if !fi.Mode().IsRegular() {
		return nil, h, fmt.Errorf("%s: not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	if h, err = elfload.ReadHeaders(f, fi.Size()); err != nil {
		return nil, h, fmt.Errorf("%s: %w", path, err)
	}
	if fi.Size() > maxProgramBytes {
		return nil, h, fmt.Errorf("%s: %d bytes, larger than the %d MiB limit", path, fi.Size(), maxProgramBytes>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProgramBytes+1))
	if err != nil {
		return nil, h, err
	}
	if len(b) > maxProgramBytes {
		return nil, h, fmt.Errorf("%s: grew beyond the %d MiB limit while read", path, maxProgramBytes>>20)
	}
	return b, h, nil
}

// maxTraceStale bounds -trace-stale-stores: each mark is ~150 bytes of
// trace.
const maxTraceStale = 1_000_000

func buildConfig(o *options) (kernelmodel.Config, string, error) {
	cfg, sum := kernelmodel.DefaultConfig(), ""
	err := buildConfigInto(o, &cfg, &sum)
	return cfg, sum, err
}

func buildConfigInto(o *options, cfgp *kernelmodel.Config, sum *string) (err error) {
	cfg := *cfgp
	defer func() { *cfgp = cfg }()
	if o.cpus < 1 || o.cpus > 256 {
		return usagef("-cpus must be 1..256, got %d", o.cpus)
	}
	cfg.CPUs = o.cpus
	if _, ok := kernelmodel.Kernels[o.kernel]; !ok {
		return usagef("unknown kernel %q (valid: %s)", o.kernel, strings.Join(kernelmodel.KernelNames(), ", "))
	}
	cfg.Kernel = o.kernel
	ps, err := kernelmodel.ParsePatches(o.patches)
	if err != nil {
		return usagef("%v", err)
	}
	cfg.Patches = ps
	tc, err := tlb.ConfigByName(o.tlbPreset)
	if err != nil {
		return usagef("%v", err)
	}
	cfg.TLB = tc
	if o.cpuModel != "" || o.virt != "" {
		if _, err := kernelmodel.ApplyPreset(&cfg, o.cpuModel, o.virt); err != nil {
			return usagef("%v", err)
		}
		if o.tlbSet { // -tlb's geometry, the preset's costs
			costs := cfg.TLB.Costs
			cfg.TLB = tc
			cfg.TLB.Costs = costs
		}
	}
	// The cost file may set tlb.* costs, so it applies after the presets.
	if *sum, err = applyCostFileHash(&cfg, o.costs); err != nil {
		return err
	}
	cfg.PCID = o.pcid
	cfg.PTI = o.pti
	cfg.THP = o.thp
	cfg.ConcurrentFlush = o.flush == report.FlushConcurrent
	if o.flushSet && !cfg.ConcurrentFlush && cfg.Has(kernelmodel.PatchConcurrentFlush) {
		by := "-patch concurrent-flush"
		if slices.Contains(kernelmodel.Kernels[cfg.Kernel], kernelmodel.PatchConcurrentFlush) {
			by = "-kernel " + cfg.Kernel + " (it has concurrent-flush)"
		}
		return usagef("-flush-order serial contradicts %s: flush_tlb_multi sends the IPIs before the local flush (4ce94eabac16)", by)
	}
	if err := setFlushMech(&cfg, o.flushMech); err != nil {
		return err
	}
	if o.quantum == 0 || o.quantum > cfg.IPICosts.DeliveryCycles {
		return usagef("-quantum must be 1..%d cycles (the IPI delivery latency)", cfg.IPICosts.DeliveryCycles)
	}
	cfg.Quantum = o.quantum
	if o.flushCeil < 0 {
		return usagef("-flush-ceiling must not be negative")
	}
	cfg.FlushCeil = o.flushCeil
	if o.memMiB < 16 || o.memMiB > 64<<10 {
		return usagef("-mem must be 16..65536 MiB")
	}
	cfg.MemBytes = o.memMiB << 20
	cfg.MaxCycles = o.maxCycles
	cfg.FailHazard = o.failHazard
	if o.traceStale < 0 || o.traceStale > maxTraceStale {
		return usagef("-trace-stale-stores must be 0..%d, got %d", maxTraceStale, o.traceStale)
	}
	cfg.TraceStaleStores = o.traceStale
	if o.faultAround/4096 > 512 {
		return usagef("-fault-around-bytes must be at most 2 MiB (fault_around_bytes_set: PTRS_PER_PTE pages), got %d", o.faultAround)
	}
	cfg.FaultAroundBytes = o.faultAround
	idle, err := kernelmodel.ParseIdleMode(o.idle)
	if err != nil {
		return usagef("%v", err)
	}
	if idle != kernelmodel.IdlePoll {
		cfg.Idle = idle // else "": the default run
	}
	switch o.mmapLock {
	case "", "spin":
	case "sleep":
		cfg.MmapLockSleep = true
	default:
		return usagef("unknown -mmap-lock %q (valid: spin, sleep)", o.mmapLock)
	}
	if o.tmpfsMiB > 64<<10 {
		return usagef("-tmpfs-size must be 0..65536 MiB")
	}
	cfg.TmpfsBytes = o.tmpfsMiB << 20
	for _, d := range o.roMounts {
		if !filepath.IsAbs(d) {
			a, err := filepath.Abs(d)
			if err != nil {
				return usagef("-ro-mount %s: %v", d, err)
			}
			d = a
		}
		if _, err := os.Stat(d); err != nil {
			return usagef("-ro-mount: %v", err)
		}
		cfg.ROMounts = append(cfg.ROMounts, filepath.Clean(d))
	}
	return nil
}

// mmapLockLabel is the identity's -mmap-lock: "" for the default spin.
func mmapLockLabel(sleep bool) string {
	if sleep {
		return "sleep"
	}
	return ""
}

func patchList() []string {
	var out []string
	for _, p := range kernelmodel.Patches {
		out = append(out, string(p.Name))
	}
	return out
}

// effectivePatches is every patch a configuration runs with: its
// kernel's and its -patch ones.
func effectivePatches(cfg kernelmodel.Config) []string {
	return patchNames(append(slices.Clone(kernelmodel.Kernels[cfg.Kernel]), cfg.Patches...))
}

func patchNames(ps []kernelmodel.Patch) []string {
	out := []string{}
	for _, q := range ps {
		out = append(out, string(q))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// identity is the run identity of p: what ran, with which settings.
func (p *plan) identity(o *options) *report.Identity {
	cfg := p.cfg
	costs := report.DefaultCostsLabel
	if o.costs != "" {
		costs = filepath.Base(o.costs)
	}
	if o.cpuModel != "" || o.virt != "" {
		// The presets are where the costs come from: "zen3/nested", or
		// "zen3/nested+FILE" with a cost file.
		label := cfg.CPUModel + "/" + cfg.Virt
		if o.costs != "" {
			label += "+" + costs
		}
		costs = label
	}
	id := &report.Identity{
		Args: o.cmdline, Version: version(), Workload: p.name, Program: p.userProg,
		CPUs: cfg.CPUs, Seed: p.seed,
		Kernel: cfg.Kernel, Patches: patchNames(cfg.Patches), PTI: cfg.PTI, THP: cfg.THP,
		FlushOrder: o.flush, FlushMech: flushMechLabel(cfg.Flush), TLB: cfg.TLB.Name, PCID: cfg.PCID, Quantum: cfg.Quantum,
		Idle: string(cfg.Idle), MmapLock: mmapLockLabel(cfg.MmapLockSleep),
		FlushCeil: cfg.FlushCeil, MemMiB: cfg.MemBytes >> 20,
		Costs: costs, CostsSHA256: p.costsSum,
		MaxCycles: cfg.MaxCycles, DefMaxCycles: report.DefaultMaxCycles, FailOnHazard: cfg.FailHazard,
	}
	if p.userProg {
		id.Argv = p.argv(p.seed)
		id.DefMaxCycles = 0
	} else {
		id.Threads, id.Pages, id.Iterations = p.params.Threads, p.params.Pages, p.params.Iterations
		id.DefThreads, id.DefPages, id.DefIterations = p.defaults.Threads, p.defaults.Pages, p.defaults.Iterations
	}
	return id
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

// session is what the runs of one command share: logging, the progress
// bar and the trace.
type session struct {
	stdin          io.Reader // emu run: the guest's fd 0
	stdout, stderr io.Writer // the guest's fds 1 and 2 (emu run), fd 2 (workloads)
	log            *zap.Logger
	progress       *progress
	trace          *report.TraceWriter
	pid            int               // the trace's process id of the next run
	nosys          map[string]uint64 // unimplemented system calls of all runs: name → calls
}

// reportUnimplemented prints the system calls the guests made that the
// model does not implement (they got -ENOSYS), most frequent first, on
// one line: "emu: unimplemented syscalls: name ×count, …".
func (s *session) reportUnimplemented(w io.Writer) {
	if len(s.nosys) == 0 {
		return
	}
	names := make([]string, 0, len(s.nosys))
	for n := range s.nosys {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if s.nosys[a] != s.nosys[b] {
			return s.nosys[a] > s.nosys[b]
		}
		return a < b
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s ×%d", n, s.nosys[n])
	}
	fmt.Fprintf(w, "emu: unimplemented syscalls: %s\n", strings.Join(parts, ", "))
}

// execute runs p.runs times with seeds p.seed, p.seed+1, …, each on a
// fresh machine, and collects the result. It stops at the first failing
// run; the result then holds the runs so far and Error says why.
func (s *session) execute(ctx context.Context, p *plan) (*report.Result, error) {
	res := &report.Result{}
	res.SetIdentity(p.id)
	for i := range p.runs {
		seed := p.seed + uint64(i)
		st, err := s.runOnce(ctx, p, seed, i)
		if st != nil {
			addStats(res, seed, *st)
		}
		if err != nil {
			if p.runs > 1 {
				err = fmt.Errorf("run %d of %d (seed %d): %w", i+1, p.runs, seed, err)
			}
			res.Error = err.Error()
			return res, err
		}
	}
	return res, nil
}

func (s *session) runOnce(ctx context.Context, p *plan, seed uint64, i int) (*kernelmodel.Stats, error) {
	cfg := p.cfg
	cfg.Seed = seed // AT_RANDOM, getrandom, /dev/urandom
	s.pid++
	if s.trace != nil {
		pid := s.pid
		s.trace.Process(pid, fmt.Sprintf("%s %s seed=%d", p.name, p.id.Variant(), seed))
		var args []report.TraceArg
		tw := s.trace
		cfg.Trace = func(ev kernelmodel.TraceEvent) {
			args = args[:0]
			for _, a := range ev.Args {
				args = append(args, report.TraceArg{Key: a.Key, Value: a.Value})
			}
			switch ev.Kind {
			case kernelmodel.TraceFlowOut, kernelmodel.TraceFlowIn:
				tw.Flow(pid, ev.CPU, ev.Kind == kernelmodel.TraceFlowOut, ev.Cat, ev.Name, ev.ID, ev.Start)
			case kernelmodel.TraceCounter:
				tw.Counter(pid, ev.Name, ev.Start, args)
			default:
				tw.Event(pid, ev.CPU, ev.Cat, ev.Name, ev.Start, ev.Dur, args)
			}
		}
	}
	if p.userProg {
		// As perf stat: the guest's output streams to emu's own stdout and
		// stderr as the guest writes it, and stdin passes through.
		cfg.Stdin, cfg.Stdout, cfg.Stderr = s.stdin, s.stdout, s.stderr
	} else {
		// Built-in workloads are silent on success; what one says on its
		// stderr when it fails is shown.
		cfg.Stderr = s.stderr
	}
	m, err := kernelmodel.New(cfg, s.log)
	if err != nil {
		return nil, usagef("%v", err)
	}
	argv := p.argv(seed)
	exe := p.exe
	if exe == "" {
		exe = argv[0]
	}
	if err := m.Exec(p.prog, exe, argv, p.env); err != nil {
		if p.userProg {
			// A malformed program, or a dynamic one whose interpreter is
			// missing, is bad input: exit 2.
			return nil, usagef("%s: %v", argv[0], err)
		}
		return nil, err
	}
	s.progress.start(m, i, p.runs)
	runErr := m.Run(ctx)
	s.progress.done()
	runErr = guestEnd(p, m, runErr)
	for _, u := range m.UnimplementedSyscalls() {
		if s.nosys == nil {
			s.nosys = map[string]uint64{}
		}
		s.nosys[u.Name] += u.Count
	}
	st := m.Stats()
	if runErr == nil && p.wl != nil {
		// A built-in guest's own report on fd 1 (captured: cfg.Stdout is
		// nil for built-ins): will-it-scale ops, or counts it checked the
		// way its users do (workloads.Workload.Report).
		gc, err := p.wl.Report(m.Output())
		if err != nil {
			return &st, err
		}
		for _, c := range gc {
			st.Counters = append(st.Counters, kernelmodel.Counter(c))
		}
	}
	return &st, runErr
}

// guestEnd turns how the guest ended into the run's error. A workload that
// exits non-zero or is killed has failed (exit 1). An emu run guest's
// non-zero exit or killing signal becomes emu's exit status (guestStatus):
// the code, or 128+N for signal N, as a shell reports it.
func guestEnd(p *plan, m *kernelmodel.Machine, runErr error) error {
	code, sig := m.ExitStatus()
	var gs *kernelmodel.GuestSignal
	if sig == 0 && errors.As(runErr, &gs) {
		sig = gs.Sig
	}
	killed := runErr
	if killed == nil && sig != 0 {
		killed = fmt.Errorf("guest killed by %s", kernelmodel.SignalName(sig))
	}
	switch {
	case !p.userProg && runErr == nil && sig != 0:
		return killed
	case !p.userProg && runErr == nil && code != 0:
		return fmt.Errorf("guest exited with status %d", code)
	case !p.userProg:
		return runErr
	case sig != 0:
		return &guestStatus{code: 128 + sig, err: killed}
	case runErr != nil:
		return runErr
	case code&0xff != 0:
		return &guestStatus{code: code & 0xff}
	}
	return nil
}

// addStats converts one run's kernelmodel.Stats into report samples.
func addStats(res *report.Result, seed uint64, st kernelmodel.Stats) {
	counters := make([]report.Sample, 0, len(st.Counters))
	for _, c := range st.Counters {
		counters = append(counters, report.Count(c.Name, c.Unit, c.Value))
	}
	var perCPU [][]report.Sample
	for i, n := range st.TLBIRQs {
		row := []report.Sample{report.Count("interrupts.TLB", "", n)}
		if i < len(st.CPUCycles) {
			row = append(row, report.Count("cycles", "cycles", st.CPUCycles[i]))
		}
		perCPU = append(perCPU, row)
	}
	var hists []report.Hist
	for _, h := range st.Hists {
		rh := report.Hist{Name: h.Name, Key: h.Key, Log2: h.Log2}
		for _, b := range h.Buckets {
			rh.Buckets = append(rh.Buckets, report.Bucket{Value: b.Value, Count: b.Count})
		}
		hists = append(hists, rh)
	}
	res.AddRun(seed, counters, perCPU, hists)
}

// cmdRun is emu [flags] and emu run [flags] PROG [ARGS].
//
// emu run writes the result to stderr, as perf stat does, so that the
// guest's own stdout stays its own; -o FILE (or -o - for stdout) moves it.
func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, mode cmdMode) (err error) {
	o, rest, err := parseRunFlags(args, stdout, mode)
	if err != nil {
		return err
	}
	p, err := newPlan(o, rest, mode)
	if err != nil {
		return err
	}
	if err := o.checkOutputs(mode); err != nil {
		return err
	}
	if testHookPlanned != nil {
		if err := testHookPlanned(); err != nil {
			return err
		}
	}
	ctx, cancel := withTimeout(ctx, o.timeout)
	defer cancel()
	s, finish, err := openSession(o, stdout, stderr, mode)
	if err != nil {
		return err
	}
	defer func() {
		if ferr := finish(); err == nil {
			err = ferr
		}
	}()
	if stdin != nil {
		stdin = newCtxReader(ctx, stdin)
	}
	s.stdin, s.stdout, s.stderr = stdin, stdout, stderr
	res, runErr := s.execute(ctx, p)
	runErr = timeoutError(ctx, o.timeout, runErr)
	if res.Runs() == 0 {
		return runErr
	}
	res.Status = runStatus(runErr)
	resultW := stdout
	if mode == modeProgram {
		resultW = stderr
	}
	if err := emit(o.out, resultW, stdout, func(w io.Writer) error { return writeFormat(w, o.outFormat, res) }); err != nil {
		return err
	}
	if o.plot != "" {
		format, _ := report.PlotFormat(o.plot)
		if err := writeFile(o.plot, func(w io.Writer) error { return report.PlotHists(w, format, res) }); err != nil {
			return fmt.Errorf("-plot: %w", err)
		}
	}
	if mode == modeProgram {
		s.reportUnimplemented(stderr)
	}
	return runErr
}

// checkOutputs checks the output paths of the run flags (checkOutputs)
// and that at most one thing writes to stdout: -trace - needs the result
// in a file (-o FILE), and under emu run stdout is the program's.
func (o *options) checkOutputs(mode cmdMode) error {
	if err := checkOutputs(o.outputs()...); err != nil {
		return err
	}
	switch {
	case o.trace != "-":
	case mode == modeProgram:
		return usagef("-trace -: under emu run stdout is the program's; name a file")
	case o.out == "" || o.out == "-":
		return usagef("-trace - and the result would both go to stdout: write the result with -o FILE")
	}
	return nil
}

// outputs lists the output paths of the run flags, for checkOutputs.
func (o *options) outputs() []outputPath {
	return []outputPath{{"-o", o.out}, {"-trace", o.trace}, {"-plot", o.plot}, {"-html", o.html},
		{"-cpuprofile", o.cpuProfile}, {"-memprofile", o.memProfile}}
}

// withTimeout bounds ctx by -timeout (0: no bound).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// timeoutErr is the error of a run that -timeout ended.
type timeoutErr struct {
	d   time.Duration
	err error
}

func (e *timeoutErr) Error() string {
	return fmt.Sprintf("-timeout %v reached (host time): %v", e.d, e.err)
}

func (e *timeoutErr) Unwrap() error { return e.err }

// timeoutError names -timeout when it is what ended the run.
func timeoutError(ctx context.Context, d time.Duration, err error) error {
	if err != nil && errors.Is(err, kernelmodel.ErrInterrupted) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &timeoutErr{d, err}
	}
	return err
}

// openSession starts what the runs share: profiles, logger, progress bar
// and trace file. finish stops and writes them.
//
// emu run draws no progress bar: stderr carries the guest's own output.
func openSession(o *options, stdout, stderr io.Writer, mode cmdMode) (*session, func() error, error) {
	var closers []func() error
	finish := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	stopProf, err := startProfiles(o.cpuProfile, o.memProfile)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, stopProf)
	log := newLogger(o, stderr)
	closers = append(closers, func() error { _ = log.Sync(); return nil })
	s := &session{log: log, progress: newProgress(stderr, !o.quiet && !o.verbose && mode != modeProgram)}
	if o.trace == "-" {
		s.trace = report.NewTraceWriter(stdout)
		closers = append(closers, func() error {
			if err := s.trace.Close(); err != nil {
				return fmt.Errorf("-trace: %w", err)
			}
			return nil
		})
	} else if o.trace != "" {
		f, err := outfile.Create(o.trace)
		if err != nil {
			finish()
			return nil, nil, fmt.Errorf("-trace: %w", err)
		}
		s.trace = report.NewTraceWriter(f)
		closers = append(closers, func() error {
			if err := s.trace.Close(); err != nil {
				f.Abort()
				return fmt.Errorf("-trace: %w", err)
			}
			if err := f.Commit(); err != nil {
				return fmt.Errorf("-trace: %w", err)
			}
			return nil
		})
	}
	return s, finish, nil
}

func writeFormat(w io.Writer, format outputFormat, res *report.Result) error {
	switch format {
	case formatJSON:
		return report.WriteJSON(w, res)
	case formatCSV:
		return report.WriteCSV(w, res)
	case formatPerfJSON:
		return report.WritePerfJSON(w, res)
	case formatBench:
		return report.WriteBench(w, res)
	}
	return report.WriteText(w, res)
}

// emit writes a result to def when path is empty, to stdout for "-",
// and otherwise to the file (writeFile: whole or nothing for a regular
// file).
func emit(path string, def, stdout io.Writer, write func(io.Writer) error) error {
	switch path {
	case "":
		return write(def)
	case "-":
		return write(stdout)
	}
	if err := writeFile(path, write); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	return nil
}

// runStatus is the status line of a result: how its runs ended, from the
// error that ended them (nil: all completed).
func runStatus(err error) string {
	var hz *kernelmodel.Hazard
	var gs *guestStatus
	var te *timeoutErr
	switch {
	case err == nil:
		return "completed"
	case errors.As(err, &hz):
		return fmt.Sprintf("hazard at cpu %d, rip %#x (%s), store to %#x: %s", hz.CPU, hz.RIP, hz.Insn, hz.Addr, hz.Kind)
	case errors.Is(err, kernelmodel.ErrMaxCycles):
		_, where, _ := strings.Cut(err.Error(), kernelmodel.ErrMaxCycles.Error()+": ")
		return fmt.Sprintf("stopped at max-cycles (%s)", where)
	case errors.As(err, &te):
		return fmt.Sprintf("timeout (-timeout %v of host time)", te.d)
	case errors.Is(err, kernelmodel.ErrInterrupted):
		return "interrupted"
	case errors.As(err, &gs):
		return "completed, " + gs.Error()
	}
	return "failed: " + strings.ReplaceAll(err.Error(), "\n", " ")
}
