// Command emu runs multithreaded x86-64 guest programs on emulated CPUs
// against a model of the Linux v5.10 page-fault and TLB-flush paths, and
// reports what a kernel change costs (flushes, IPIs, cycles, lock waits) and
// whether any write slipped through a stale TLB entry.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// Exit codes of emu's own outcomes (README "Exit status"). emu run exits
// with the guest's status instead when the guest ran to its end.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	// SIGTERM (timeout(1), batch schedulers) ends a run as Ctrl-C does:
	// the counters so far are printed and temporary files removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// guestStatus is the end of an emu run guest that exited non-zero or was
// killed: emu exits with the guest's status, as a shell reports it (the
// exit code, or 128+N for signal N). err, if set, is printed (a killing
// signal is named, as a shell does); a plain exit prints nothing.
type guestStatus struct {
	code int
	err  error
}

func (e *guestStatus) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("guest exited with status %d", e.code)
}

func (e *guestStatus) Unwrap() error { return e.err }

// usageError is a bad command line or bad input file: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole program; tests call it directly. It returns the exit
// code and writes one line "emu: …" to stderr for any error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A panic is a bug in emu, but the user still gets one line and a
		// failure exit instead of a Go trace; -v shows the stack.
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "emu: internal error: %v\n", p)
			if hasVerbose(args) {
				fmt.Fprintf(stderr, "%s\n", debug.Stack())
			}
			code = exitFail
		}
	}()
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	var gs *guestStatus
	if errors.As(err, &gs) {
		if gs.err != nil {
			fmt.Fprintf(stderr, "emu: %s\n", strings.ReplaceAll(gs.err.Error(), "\n", " "))
		}
		return gs.code
	}
	fmt.Fprintf(stderr, "emu: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFail
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

func hasVerbose(args []string) bool {
	for _, a := range args {
		if a == "-v" || a == "--verbose" || a == "-verbose" {
			return true
		}
	}
	return false
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 2 && isHelpFlag(args[1]) {
		switch args[0] {
		case "version", "completion", "man", "help":
			// These take no flags; -h asks for their help as for the others.
			return cmdHelp(ctx, args[:1], stdout, stderr)
		}
	}
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return cmdList(args[1:], stdout, stderr)
		case "costs":
			return cmdCosts(args[1:], stdout, stderr)
		case "calibrate":
			return cmdCalibrate(ctx, args[1:], stdout)
		case "version", "--version", "-version":
			if len(args) > 1 {
				return usagef("%s: unexpected argument %q", args[0], args[1])
			}
			fmt.Fprintln(stdout, "emu", version())
			return nil
		case "help":
			return cmdHelp(ctx, args[1:], stdout, stderr)
		case "completion":
			return cmdCompletion(args[1:], stdout)
		case "man":
			return cmdMan(args[1:], stdout)
		case "run":
			return cmdRun(ctx, args[1:], stdin, stdout, stderr, modeProgram)
		case "ab":
			return cmdAB(ctx, args[1:], stdout, stderr)
		case "compare":
			return cmdCompare(args[1:], stdout, stderr)
		case "sweep":
			return cmdSweep(ctx, args[1:], stdout, stderr)
		case "merge":
			return cmdMerge(args[1:], stdout, stderr)
		case "report":
			return cmdReport(args[1:], stdout, stderr)
		case "study":
			return cmdStudy(ctx, args[1:], stdout, stderr)
		}
	}
	return cmdRun(ctx, args, nil, stdout, stderr, modeWorkload)
}

// cmdHelp is emu help [COMMAND]: the help of emu or of COMMAND, on
// stdout, as COMMAND -h prints it.
func cmdHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		return dispatch(ctx, []string{"-h"}, nil, stdout, stderr)
	case len(args) > 1:
		return usagef("emu help: one command at most, got %q", strings.Join(args, " "))
	}
	switch args[0] {
	case "run", "ab", "compare", "list", "costs", "calibrate", "sweep", "merge", "report", "study":
		return dispatch(ctx, []string{args[0], "-h"}, nil, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "Usage: emu version (or emu --version): print the emu version")
		return nil
	case "man":
		fmt.Fprintln(stdout, "Usage: emu man: print the emu(1) manual page in roff (read it with: emu man | man -l -)")
		return nil
	case "completion":
		fmt.Fprintln(stdout, "Usage: emu completion bash|zsh|fish: print a completion script (load it with: source <(emu completion bash), source <(emu completion zsh) after compinit, emu completion fish | source)")
		return nil
	case "help":
		fmt.Fprintln(stdout, "Usage: emu help [COMMAND]: the help of emu or of COMMAND (run, ab, compare, list, costs, calibrate, version, completion)")
		return nil
	}
	return usagef("emu help: unknown command %q (valid: %s)", args[0], strings.Join(subcommands, ", "))
}

// versionOverride replaces version() in tests, so golden files do not
// depend on the build's VCS stamp.
var versionOverride string

// version is the emu version recorded in every result: the module version,
// or devel-<commit> (with "+dirty" for a modified tree) for a VCS build.
func version() string {
	if versionOverride != "" {
		return versionOverride
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) >= 12 {
			v := "devel-" + rev[:12]
			if dirty {
				v += "+dirty"
			}
			return v
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "devel"
}

func cmdList(args []string, w, stderr io.Writer) error {
	fs := pflag.NewFlagSet("emu list", pflag.ContinueOnError)
	fs.SetOutput(w) // only -h writes there: parse errors are returned
	costs := fs.Bool("costs", false, "list the cost-model keys with their defaults instead")
	asJSON := fs.Bool("json", false, "write the workloads, kernels and patches as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("emu list: unexpected argument %q", fs.Arg(0))
	}
	if *costs && *asJSON {
		return usagef("emu list: -costs and -json conflict (emu costs prints the cost file format)")
	}
	if *costs {
		return printDefaultCosts(w)
	}
	if *asJSON {
		return writeListJSON(w)
	}
	fmt.Fprintln(w, "Workloads (-workload):")
	for _, wl := range workloads.All() {
		fmt.Fprintf(w, "  %s\n      %s\n", wl.Name, wl.Summary)
		if wl.Doc != "" {
			for _, line := range wrap(wl.Doc, 88) {
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
		d := wl.Defaults
		threads := strconv.Itoa(d.Threads)
		if d.Threads == 0 {
			threads = "one per vCPU beside main"
		}
		fmt.Fprintf(w, "      defaults: -threads %s, -pages %d, -iterations %d; valid: -threads 1..%d, -pages %d..%d\n",
			threads, d.Pages, d.Iterations, maxWorkloadThreads, max(wl.MinPages, 1), maxWorkloadPages)
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
	fmt.Fprintln(w, "\nCost model: 'emu costs' lists every key; override with -costs FILE.")
	return nil
}

// The emu list -json document.
type listDoc struct {
	Workloads []listWorkload `json:"workloads"`
	Kernels   []listKernel   `json:"kernels"`
	Patches   []listPatch    `json:"patches"`
}

type listWorkload struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Doc     string `json:"doc,omitempty"`
	CPUs    int    `json:"cpus"`
	// Threads 0: one per vCPU beside the main thread.
	Threads    int `json:"threads"`
	Pages      int `json:"pages"`
	Iterations int `json:"iterations"`
	MinPages   int `json:"min_pages"`
}

type listKernel struct {
	Name    string   `json:"name"`
	Patches []string `json:"patches"`
}

type listPatch struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Origin  string `json:"origin"`
}

func writeListJSON(w io.Writer) error {
	doc := listDoc{Workloads: []listWorkload{}, Kernels: []listKernel{}, Patches: []listPatch{}}
	for _, wl := range workloads.All() {
		cpus := wl.CPUs
		if cpus == 0 {
			cpus = 2
		}
		doc.Workloads = append(doc.Workloads, listWorkload{Name: wl.Name, Summary: wl.Summary, Doc: wl.Doc, CPUs: cpus,
			Threads: wl.Defaults.Threads, Pages: wl.Defaults.Pages, Iterations: wl.Defaults.Iterations, MinPages: max(wl.MinPages, 1)})
	}
	for _, k := range kernelmodel.KernelNames() {
		doc.Kernels = append(doc.Kernels, listKernel{Name: k, Patches: patchNames(kernelmodel.Kernels[k])})
	}
	for _, p := range kernelmodel.Patches {
		doc.Patches = append(doc.Patches, listPatch{Name: string(p.Name), Summary: p.Summary, Origin: p.Origin})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
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
