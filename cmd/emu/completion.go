package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
	"github.com/tlbemu/emu/tlb"
	"github.com/tlbemu/emu/workloads"
)

// subcommands are emu's commands, for completion.
var subcommands = []string{"run", "ab", "compare", "sweep", "merge", "report", "list", "costs", "version", "help", "completion", "man"}

// cmdCompletion is emu completion bash: a bash completion script, made
// from the flag definitions so that it cannot fall behind them. Load it
// with `source <(emu completion bash)`.
func cmdCompletion(args []string, w io.Writer) error {
	if len(args) != 1 || args[0] != "bash" {
		return usagef("emu completion: give the shell (valid: bash)")
	}
	// Every flag of every command, as -name (emu accepts the Go style)
	// and -x for a shorthand; those taking a file or directory name
	// (string-valued ones other than the enums) complete file names, the
	// numeric ones nothing.
	seen := map[string]bool{}
	var names, fileFlags, numFlags []string
	enum := map[string]bool{"workload": true, "kernel": true, "patch": true, "base-patch": true, "tlb": true, "format": true, "flush-order": true}
	for _, mode := range []cmdMode{modeWorkload, modeProgram, modeAB} {
		var o options
		newFlagSet(&o, io.Discard, mode).VisitAll(func(f *pflag.Flag) {
			if seen[f.Name] {
				return
			}
			seen[f.Name] = true
			forms := "-" + f.Name + "|--" + f.Name
			names = append(names, "-"+f.Name)
			if f.Shorthand != "" {
				forms += "|-" + f.Shorthand
				names = append(names, "-"+f.Shorthand)
			}
			switch {
			case f.NoOptDefVal != "" || enum[f.Name]:
			case f.Value.Type() == "string":
				fileFlags = append(fileFlags, forms)
			default:
				numFlags = append(numFlags, forms)
			}
		})
	}
	sort.Strings(names)
	sort.Strings(fileFlags)
	sort.Strings(numFlags)
	var wls, patches []string
	for _, wl := range workloads.All() {
		wls = append(wls, wl.Name)
	}
	for _, p := range kernelmodel.Patches {
		patches = append(patches, string(p.Name))
	}
	values := []struct{ flag, words string }{
		{"-workload|--workload", strings.Join(wls, " ")},
		{"-kernel|--kernel", strings.Join(kernelmodel.KernelNames(), " ")},
		{"-patch|--patch|-base-patch|--base-patch", strings.Join(patches, " ")},
		{"-tlb|--tlb", strings.Join(tlb.ConfigNames(), " ")},
		{"-format|--format", strings.Join(formats, " ")},
		{"-flush-order|--flush-order", report.FlushSerial.String() + " " + report.FlushConcurrent.String()},
	}
	fmt.Fprintln(w, "# bash completion for emu (emu completion bash); load with: source <(emu completion bash)")
	fmt.Fprintln(w, "_emu() {")
	fmt.Fprintln(w, `	local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"`)
	fmt.Fprintln(w, `	case "$prev" in`)
	for _, v := range values {
		fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", v.flag, v.words)
	}
	fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", strings.Join(fileFlags, "|"))
	fmt.Fprintf(w, "\t%s) COMPREPLY=(); return ;;\n", strings.Join(numFlags, "|"))
	fmt.Fprintln(w, "\tesac")
	fmt.Fprintf(w, "\tif [[ $COMP_CWORD -eq 1 && $cur != -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(subcommands, " "))
	fmt.Fprintf(w, "\tif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(names, " "))
	fmt.Fprintln(w, `	COMPREPLY=($(compgen -f -- "$cur"))`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -F _emu emu")
	return nil
}
