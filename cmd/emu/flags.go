package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// normalizeSingleDash rewrites Go-style "-name" and "-name=v" into "--name…"
// when name is a registered long flag, so `emu -workload clear_refs` means
// what a Go user expects under pflag (pflag would read it as the shorthand
// cluster -w -o -r …: github.com/spf13/pflag, "Command line flag syntax"). The value token of a value-taking
// flag is never touched, and everything after "--" is left alone.
func normalizeSingleDash(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "--") {
			out = append(out, a)
			n := strings.SplitN(a[2:], "=", 2)
			if f := fs.Lookup(n[0]); f != nil && len(n) == 1 && f.NoOptDefVal == "" && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if len(a) > 2 && a[0] == '-' && !strings.HasPrefix(a, "-test.") {
			n := strings.SplitN(a[1:], "=", 2)
			if f := fs.Lookup(n[0]); f != nil {
				out = append(out, "-"+a)
				if len(n) == 1 && f.NoOptDefVal == "" && i+1 < len(args) {
					i++
					out = append(out, args[i])
				}
				continue
			}
		}
		// A value-taking shorthand given as its own token ("-o FILE",
		// "-r 5") keeps its value even when the value starts with '-'.
		if len(a) == 2 && a[0] == '-' && a[1] != '-' {
			if f := fs.ShorthandLookup(a[1:]); f != nil && f.NoOptDefVal == "" && i+1 < len(args) {
				out = append(out, a, args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// parseFlags parses args with fs after normalizing single-dash long flags.
// A parse error becomes a one-line usage error that names the valid flags.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	err := fs.Parse(normalizeSingleDash(fs, args))
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return err
	}
	msg := err.Error()
	// pflag reads an unknown "-name" as the shorthand cluster -n -a …;
	// name the whole token instead.
	if _, tok, ok := strings.Cut(msg, "unknown shorthand flag: "); ok {
		if _, tok, ok = strings.Cut(tok, " in "); ok && len(tok) > 2 {
			msg = "unknown flag: " + tok
		}
	}
	if strings.Contains(msg, "unknown") {
		var names []string
		fs.VisitAll(func(f *pflag.Flag) { names = append(names, "-"+f.Name) })
		msg += " (valid: " + strings.Join(names, " ") + "; see 'emu -h')"
	}
	return usagef("%s", msg)
}

// options are the run flags (emu, emu run, emu ab).
type options struct {
	workload    string
	cpus        int
	threads     int
	pages       int
	iterations  int
	seed        uint64
	repeat      int
	kernel      string
	patches     []string
	basePatch   []string // emu ab -base-patch: on both sides
	pti         bool
	thp         bool
	envClear    bool
	roMounts    []string // emu run -ro-mount
	tmpfsMiB    uint64   // emu run -tmpfs-size
	faultAround uint64   // -fault-around-bytes
	idle        string   // -idle: poll, c6
	mmapLock    string   // -mmap-lock: spin, sleep
	flushOrder  string
	flush       report.FlushOrder // flushOrder, parsed
	flushMech   string            // -flush: ipi, invlpgb, rar
	costs       string
	cmdline     []string // the command line as run, without "emu"
	json        bool
	format      string
	outFormat   outputFormat // format, parsed
	out         string
	plot        string
	html        string // emu ab -html
	trace       string
	traceStale  int // -trace-stale-stores
	maxCycles   uint64
	timeout     time.Duration
	failHazard  bool
	tlbPreset   string
	tlbSet      bool   // -tlb given: its geometry beats -cpu-model's
	flushSet    bool   // -flush-order given
	cpuModel    string // -cpu-model preset ("" = skylake-sp)
	virt        string // -virt preset ("" = none)
	pcid        bool
	quantum     uint64
	flushCeil   int
	memMiB      uint64
	cpuProfile  string
	memProfile  string
	verbose     bool
	quiet       bool
}

// outputFormat is a -format value, parsed once (parseRunFlags).
type outputFormat int

const (
	formatText outputFormat = iota
	formatJSON
	formatCSV
	formatBench
	formatPerfJSON
)

// formats are the valid -format values, indexed by outputFormat.
var formats = []string{"text", "json", "csv", "bench", "perf-json"}

func (f outputFormat) String() string { return formats[f] }

func parseFormat(s string) (outputFormat, error) {
	if i := slices.Index(formats, s); i >= 0 {
		return outputFormat(i), nil
	}
	return formatText, usagef("unknown format %q (valid: %s)", s, strings.Join(formats, ", "))
}

// cmdMode says which command a flag set is for.
type cmdMode int

const (
	modeWorkload cmdMode = iota // emu [flags]
	modeProgram                 // emu run [flags] PROG [ARGS]
	modeAB                      // emu ab -patch X [flags]
)

// newFlagSet defines the run flags on a new flag set whose help (-h)
// goes to out. Parse errors are returned, never printed by pflag
// (ContinueOnError), so out receives only the help that was asked for.
func newFlagSet(o *options, out io.Writer, mode cmdMode) *pflag.FlagSet {
	fs := pflag.NewFlagSet("emu", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = false
	if mode != modeProgram {
		fs.StringVar(&o.workload, "workload", "clear_refs", "built-in workload to run (see 'emu list')")
	}
	fs.IntVar(&o.cpus, "cpus", 2, "number of emulated CPUs (1-256); a workload may default to more (uffd_wp: 4)")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: one per vCPU beside the main thread)")
	fs.IntVar(&o.pages, "pages", 0, "size of the workload's mapping in 4 KiB pages (0: workload default)")
	fs.IntVar(&o.iterations, "iterations", 0, "rounds of the workload's main loop (0: workload default)")
	fs.Uint64Var(&o.seed, "seed", report.DefaultSeed, "seed of the guest's random generators and of the timing jitter: start skew, IPI delivery, lock hand-off (first run)")
	fs.IntVarP(&o.repeat, "repeat", "r", 1, "runs with seeds seed..seed+N-1; counters become mean ( +- rel. std. error ) as perf stat -r")
	fs.StringVar(&o.kernel, "kernel", report.DefaultKernel, "kernel baseline: "+strings.Join(kernelmodel.KernelNames(), ", "))
	patchHelp := "kernel patch to apply (repeatable or comma-separated; see 'emu list')"
	if mode == modeAB {
		patchHelp = "the patch under test: side B runs with it, side A without (required)"
	}
	fs.StringSliceVar(&o.patches, "patch", nil, patchHelp)
	if mode == modeAB {
		fs.StringSliceVar(&o.basePatch, "base-patch", nil, "patches applied on both sides: A = base + these, B = base + these + -patch")
	}
	fs.BoolVar(&o.pti, "pti", false, "model page-table isolation (user PCIDs, deferred user flush)")
	fs.BoolVar(&o.thp, "thp", false, "model 2 MiB transparent huge pages for anonymous memory")
	if mode == modeProgram {
		fs.BoolVar(&o.envClear, "env-clear", false, "start the program with an empty environment (default: emu's own, as perf stat passes it)")
		fs.StringArrayVar(&o.roMounts, "ro-mount", nil, "a host directory (or file) the guest sees read-only at the same path (repeatable; default: the program's directory, and for a dynamic program its interpreter's and /lib, /lib64, /usr/lib, /etc/ld.so.cache)")
		fs.Uint64Var(&o.tmpfsMiB, "tmpfs-size", 64, "size limit of the guest's tmpfs at /tmp and /dev/shm, in MiB (0: unlimited)")
	}
	fs.Uint64Var(&o.faultAround, "fault-around-bytes", 65536, "fault_around_bytes: cached file pages mapped around a read fault (4096 or less: off; rounded down to a power of two)")
	fs.StringVar(&o.idle, "idle", "poll", "what an idle CPU does: poll (no idle states, lazy on the last mm) or c6 (Skylake-SP C6 when the predicted idle reaches kernel.c6_residency: leave_mm, then kernel.c6_exit_cycles to wake)")
	fs.StringVar(&o.mmapLock, "mmap-lock", "spin", "how an mmap_lock reader waits: spin (optimistic spinning) or sleep (rwsem_down_read_slowpath: schedule() until granted, as since 617f3ef95177 removed reader spinning; a writer on a reader-owned lock sleeps after rwsem_rspin_threshold)")
	fs.StringVar(&o.flushOrder, "flush-order", "serial", "flush_tlb_mm_range order: serial (v5.10: local, then IPIs) or concurrent (v5.13+: IPIs first)")
	fs.StringVar(&o.flushMech, "flush", "ipi", "remote TLB invalidation for processes with a global ASID (needs -kernel 6.18): "+strings.Join(kernelmodel.FlushMechNames(), ", ")+" (invlpgb: -cpu-model zen3/zen4; rar: -cpu-model sapphire-rapids, a model estimate)")
	fs.StringVar(&o.costs, "costs", "", "cost-model file, YAML with sections per preset or 'section.key = cycles' lines (see 'emu costs')")
	fs.StringVar(&o.cpuModel, "cpu-model", "", "CPU preset for TLB geometry and costs: "+strings.Join(kernelmodel.CPUModelNames, ", ")+" (default skylake-sp)")
	fs.StringVar(&o.virt, "virt", "", "virtualisation preset for IPI costs: "+strings.Join(kernelmodel.VirtNames, ", ")+" (default none: bare metal)")
	if mode == modeAB {
		fs.StringVar(&o.html, "html", "", "also write a self-contained HTML report (tables, verdicts, plot, run identities) to this file")
		fs.BoolVar(&o.json, "json", false, "write the comparison (both results, the changes, fail:runs and verdicts) as JSON")
	}
	if mode != modeAB {
		fs.BoolVar(&o.json, "json", false, "same as -format json")
		fs.StringVar(&o.format, "format", "text", "output format: "+strings.Join(formats, ", "))
	}
	outHelp := "write the result to this file (- for stdout) instead of stdout; a regular file is replaced atomically"
	if mode == modeProgram {
		outHelp = "write the result to this file (- for stdout) instead of stderr; a regular file is replaced atomically"
	}
	fs.StringVarP(&o.out, "output", "o", "", outHelp)
	fs.StringVar(&o.plot, "plot", "", "also draw the histograms (A/B: the counters side by side) to FILE.svg or FILE.png")
	fs.StringVar(&o.trace, "trace", "", "write a Chrome/Perfetto trace-event timeline (JSON) to this file (- for stdout, with -o FILE)")
	fs.IntVar(&o.traceStale, "trace-stale-stores", 100, "-trace: mark the first N stale-TLB hazard stores of each run as instants (0-1000000)")
	// A built-in workload needs < 10^8 cycles, so the bound only stops a
	// model bug. A user's program runs until it ends, as under perf stat;
	// Ctrl-C or -timeout stop it with the counters so far.
	maxCycles := uint64(report.DefaultMaxCycles)
	if mode == modeProgram {
		maxCycles = 0
	}
	fs.Uint64Var(&o.maxCycles, "max-cycles", maxCycles, "stop a runaway guest after this many cycles on any CPU (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop the run after this much host wall time, like Ctrl-C (0: no limit)")
	fs.BoolVar(&o.failHazard, "fail-on-hazard", false, "exit 1 at the first stale-TLB hazard, naming it")
	fs.StringVar(&o.tlbPreset, "tlb", report.DefaultTLB, "TLB geometry preset: "+strings.Join(tlb.ConfigNames(), ", "))
	fs.BoolVar(&o.pcid, "pcid", report.DefaultPCID, "use PCIDs (CR4.PCIDE=1, Linux's 6 dynamic ASIDs)")
	fs.Uint64Var(&o.quantum, "quantum", report.DefaultQuantum, "cycles a vCPU may run ahead of the others (≤ IPI latency)")
	fs.IntVar(&o.flushCeil, "flush-ceiling", report.DefaultFlushCeil, "tlb_single_page_flush_ceiling in pages")
	fs.Uint64Var(&o.memMiB, "mem", report.DefaultMemMiB, "guest-physical memory in MiB")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the emulator itself to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of the emulator itself to this file")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging to stderr")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar or log output on stderr")
	fs.Usage = func() { usage(fs, out, mode) }
	return fs
}

func usage(fs *pflag.FlagSet, w io.Writer, mode cmdMode) {
	switch mode {
	case modeProgram:
		fmt.Fprintln(w, "Usage: emu run [flags] PROGRAM [ARGS...]   (an x86-64 Linux executable: static, PIE or dynamically linked)")
	case modeAB:
		fmt.Fprintln(w, "Usage: emu ab -patch X [-base-patch P] [-workload W] [-r N] [flags]")
		fmt.Fprintln(w, "Runs W twice, A without and B with patch X (both with all other flags and the")
		fmt.Fprintln(w, "-base-patch ones), and prints")
		io.WriteString(w, "the LKP-style %change table, as 'emu compare' would for the two JSON results.\n")
	default:
		fmt.Fprintln(w, "Usage: emu [flags]                 run a built-in workload (default: -workload clear_refs)")
		fmt.Fprintln(w, "       emu run [flags] PROG [ARGS] run your own static x86-64 executable")
		io.WriteString(w, "       emu ab -patch X [flags]     run without and with patch X, print the %change table\n")
		io.WriteString(w, "       emu compare A.json B.json…  the %change table of saved -json results\n")
		fmt.Fprintln(w, "       emu sweep [flags]           run a grid of points (-j N, -list, -index I, -emit slurm|k8s)")
		fmt.Fprintln(w, "       emu merge -o OUT DIR…       fold per-seed results into runs=N results")
		fmt.Fprintln(w, "       emu report [-html F] DIR…   the LKP tables, fail:runs and verdicts of a sweep")
		fmt.Fprintln(w, "       emu list                    describe workloads, kernels and patches")
		fmt.Fprintln(w, "       emu costs [-costs FILE] [-cpu-model M] [-virt V]  every cost-model key with its value and source")
		fmt.Fprintln(w, "       emu calibrate               reproduce the published TLB-flush figures, with the error of each")
		fmt.Fprintln(w, "       emu help [COMMAND]          this help, or COMMAND's")
		fmt.Fprintln(w, "       emu completion SHELL        a bash, zsh or fish completion script (source <(emu completion bash))")
		fmt.Fprintln(w, "       emu man                     the manual page (emu man | man -l -)")
		fmt.Fprintln(w, "       emu version                 (or emu --version)")
	}
	fmt.Fprintln(w, "\nFlags (Go-style single-dash long flags such as -workload are accepted):")
	fs.PrintDefaults()
	if mode != modeProgram {
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
	if mode == modeProgram {
		fmt.Fprintln(w, "\nExit status: the guest's (its exit code, or 128+N when killed by signal N); emu's own")
		fmt.Fprintln(w, "failures: 1 the run failed (emulator error, -max-cycles, -timeout, interrupted, hazard with")
		fmt.Fprintln(w, "-fail-on-hazard), 2 usage or bad input. The result goes to stderr (or -o FILE).")
		return
	}
	fmt.Fprintln(w, "\nExit status: 0 ok, 1 the run failed (guest error, hazard with -fail-on-hazard), 2 usage error.")
}
