package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/workloads"
)

// cmdMan is emu man: the emu(1) manual page in roff (man(7) macros),
// made from the flag definitions and the workload, kernel and patch
// lists. Read it with `emu man | man -l -`.
func cmdMan(args []string, w io.Writer) error {
	if len(args) > 0 {
		return usagef("emu man: unexpected argument %q", args[0])
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p(`.TH EMU 1 "" "emu %s" "User Commands"`, roffEscape(version()))
	p(".SH NAME")
	p(`emu \- run multithreaded x86\-64 programs on emulated CPUs against a model of the Linux v5.10 TLB\-flush paths`)
	p(".SH SYNOPSIS")
	for _, s := range []string{
		"[flags]", "run [flags] PROGRAM [ARGS...]", "ab \\-patch X [\\-base\\-patch P] [flags]",
		"compare [\\-json] [\\-plot FILE] BASE.json NEW.json...", "list [\\-json | \\-costs]", "costs [\\-costs FILE] [\\-cpu\\-model M] [\\-virt V]", "calibrate [\\-target ID,...] [\\-o FILE]",
		"sweep [\\-f EXPERIMENT.yaml] [grid flags] [\\-dir D] [\\-j N] [\\-list | \\-index I | \\-emit slurm|k8s]",
		"merge \\-o OUT DIR|RESULT.json...", "report [\\-html FILE] DIR|RESULT.json...",
		"study [\\-cpus L] [\\-seeds L] [\\-j N] [\\-dir D] [\\-json] clear_refs|uffd_wp",
		"help [COMMAND]", "completion bash|zsh|fish", "man", "version",
	} {
		p(".B emu\n%s\n.br", s)
	}
	p(".SH DESCRIPTION")
	p("emu runs a built\\-in workload (or, with")
	p(".BR run ,")
	p("an x86\\-64 Linux executable: static, PIE or dynamically linked) on emulated CPUs and reports what the kernel did")
	p("in the layout of perf stat, bpftrace and /proc/interrupts: TLB flushes, shootdown IPIs, cycles, lock waits,")
	p("and every write that went through a stale TLB entry. The report ends with a status line.")
	p(".B ab")
	p("runs twice, without and with a patch, and prints the LKP %%change table with the fail:runs block")
	p("of the hazard counters and one verdict line per hazard counter.")
	p(".B sweep")
	p("runs a grid of points (workloads, CPU counts, kernels, patch sets, knobs, seeds), one JSON result per point,")
	p("resumable; \\-emit writes an sbatch \\-\\-array script or a Kubernetes Indexed Job for it.")
	p(".B merge")
	p("folds per\\-seed results into one runs=N result per identity;")
	p(".B report")
	p("prints the LKP tables and verdicts of a sweep directory (\\-html: a self\\-contained page);")
	p(".B study")
	p("runs a named study over every variant, CPU count and seed and prints the computed verdicts.")
	p(".SH OPTIONS")
	seen := map[string]bool{}
	for _, mode := range []cmdMode{modeWorkload, modeProgram, modeAB} {
		var o options
		newFlagSet(&o, io.Discard, mode).VisitAll(func(f *pflag.Flag) {
			if seen[f.Name] {
				return
			}
			seen[f.Name] = true
			name := "\\-" + roffEscape(f.Name)
			if f.Shorthand != "" {
				name = "\\-" + f.Shorthand + ", " + name
			}
			arg := ""
			if f.NoOptDefVal == "" {
				arg = " " + strings.ToUpper(f.Value.Type())
			}
			p(".TP\n.B %s%s", name, arg)
			u := roffEscape(f.Usage)
			if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				u += " (default " + roffEscape(f.DefValue) + ")"
			}
			p("%s", u)
		})
	}
	p(".SH WORKLOADS")
	for _, wl := range workloads.All() {
		p(".TP\n.B %s\n%s", roffEscape(wl.Name), roffEscape(wl.Summary))
	}
	p(".SH KERNELS AND PATCHES")
	for _, k := range kernelmodel.KernelNames() {
		ps := strings.Join(patchNames(kernelmodel.Kernels[k]), ", ")
		if ps == "" {
			ps = "v5.10 as released"
		}
		p(".TP\n.B %s\n%s", roffEscape(k), roffEscape(ps))
	}
	for _, pi := range kernelmodel.Patches {
		p(".TP\n.B %s\n%s (%s)", roffEscape(string(pi.Name)), roffEscape(pi.Summary), roffEscape(pi.Origin))
	}
	p(".SH EXIT STATUS")
	p("0 ok; 1 the run failed (guest error, \\-max\\-cycles, \\-timeout, interrupted, hazard with \\-fail\\-on\\-hazard);")
	p("2 usage error or bad input. emu run exits with the guest's status (its exit code, or 128+N when killed by signal N).")
	p(".SH SEE ALSO")
	p(".BR perf-stat (1),")
	p(".BR bpftrace (8)")
	return nil
}

// roffEscape makes s safe as roff text: backslashes and minus signs
// escaped, and a leading '.' or '\” (a request) guarded.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
