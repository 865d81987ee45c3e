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
var subcommands = []string{"run", "ab", "compare", "sweep", "merge", "report", "study", "list", "costs", "calibrate", "version", "help", "completion", "man"}

// subcommandHelp describes each subcommand (zsh and fish show it).
var subcommandHelp = map[string]string{
	"run":        "run your own static x86-64 executable",
	"ab":         "run without and with a patch, print the %change table",
	"compare":    "the %change table of saved -json results",
	"list":       "describe workloads, kernels and patches",
	"costs":      "print every cost-model key with its value",
	"calibrate":  "reproduce published measurements, print each error",
	"sweep":      "run a grid of points, one JSON result each",
	"merge":      "fold per-seed results into runs=N results",
	"report":     "the LKP table and verdicts of a sweep directory",
	"study":      "a named study over variants, CPU counts and seeds",
	"version":    "print the emu version",
	"help":       "this help, or a command's",
	"completion": "a bash, zsh or fish completion script",
	"man":        "the manual page",
}

// shells are the shells emu completion writes a script for.
var shells = []string{"bash", "zsh", "fish"}

// complFlag is one flag as the completion scripts see it.
type complFlag struct {
	name, short, usage string
	kind               complKind
	values             []string // enumValue: the valid values
}

type complKind int

const (
	flagBool  complKind = iota // takes no value (or an optional =value)
	flagEnum                   // one of values
	flagFile                   // a file or directory name
	flagOther                  // a number or duration: nothing to complete
)

// completionFlags is every flag of every command once, sorted, as
// derived from the flag definitions so that the scripts cannot fall
// behind them: string-valued flags other than the enums take a file name.
func completionFlags() []complFlag {
	var wls, patches []string
	for _, wl := range workloads.All() {
		wls = append(wls, wl.Name)
	}
	for _, p := range kernelmodel.Patches {
		patches = append(patches, string(p.Name))
	}
	enums := map[string][]string{
		"workload":    wls,
		"kernel":      kernelmodel.KernelNames(),
		"patch":       patches,
		"base-patch":  patches,
		"tlb":         tlb.ConfigNames(),
		"format":      formats,
		"flush-order": {report.FlushSerial.String(), report.FlushConcurrent.String()},
		"flush":       kernelmodel.FlushMechNames(),
	}
	seen := map[string]bool{}
	var out []complFlag
	for _, mode := range []cmdMode{modeWorkload, modeProgram, modeAB} {
		var o options
		newFlagSet(&o, io.Discard, mode).VisitAll(func(f *pflag.Flag) {
			if seen[f.Name] {
				return
			}
			seen[f.Name] = true
			cf := complFlag{name: f.Name, short: f.Shorthand, usage: f.Usage}
			switch {
			case enums[f.Name] != nil:
				cf.kind, cf.values = flagEnum, enums[f.Name]
			case f.NoOptDefVal != "":
				cf.kind = flagBool
			case f.Value.Type() == "string":
				cf.kind = flagFile
			default:
				cf.kind = flagOther
			}
			out = append(out, cf)
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// cmdCompletion is emu completion bash|zsh|fish: a completion script that
// completes the subcommands, every flag (as -name, --name and -x), the
// values of the enum flags and file names for the flags that take one.
// Load it with `source <(emu completion bash)` (zsh: the same, or save it
// as _emu in $fpath; fish: `emu completion fish | source`).
func cmdCompletion(args []string, w io.Writer) error {
	if len(args) != 1 {
		return usagef("emu completion: give the shell (valid: %s)", strings.Join(shells, ", "))
	}
	flags := completionFlags()
	switch args[0] {
	case "bash":
		writeBash(w, flags)
	case "zsh":
		writeZsh(w, flags)
	case "fish":
		writeFish(w, flags)
	default:
		return usagef("emu completion: unknown shell %q (valid: %s)", args[0], strings.Join(shells, ", "))
	}
	return nil
}

// forms are a flag's spellings: -name|--name[|-x].
func (f complFlag) forms() string {
	s := "-" + f.name + "|--" + f.name
	if f.short != "" {
		s += "|-" + f.short
	}
	return s
}

func writeBash(w io.Writer, flags []complFlag) {
	var names, fileFlags, numFlags []string
	for _, f := range flags {
		names = append(names, "-"+f.name)
		if f.short != "" {
			names = append(names, "-"+f.short)
		}
		switch f.kind {
		case flagFile:
			fileFlags = append(fileFlags, f.forms())
		case flagOther:
			numFlags = append(numFlags, f.forms())
		}
	}
	sort.Strings(names)
	fmt.Fprintln(w, "# bash completion for emu (emu completion bash); load with: source <(emu completion bash)")
	fmt.Fprintln(w, "_emu() {")
	fmt.Fprintln(w, `	local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"`)
	fmt.Fprintln(w, `	case "$prev" in`)
	for _, f := range flags {
		if f.kind == flagEnum {
			fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", f.forms(), strings.Join(f.values, " "))
		}
	}
	fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", strings.Join(fileFlags, "|"))
	fmt.Fprintf(w, "\t%s) COMPREPLY=(); return ;;\n", strings.Join(numFlags, "|"))
	fmt.Fprintln(w, "\tesac")
	fmt.Fprintf(w, "\tif [[ $COMP_CWORD -eq 1 && $cur != -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(subcommands, " "))
	fmt.Fprintf(w, "\tif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(names, " "))
	fmt.Fprintln(w, `	COMPREPLY=($(compgen -f -- "$cur"))`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -F _emu emu")
}

// shQuote quotes s for a POSIX-style shell (zsh and fish read '…' alike
// but for the escape of ': zsh closes and reopens, fish takes \').
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// zshDescribe formats name:description for _describe, whose names must
// escape ':'.
func zshDescribe(name, desc string) string {
	return zshQuote(strings.ReplaceAll(name, ":", `\:`) + ":" + desc)
}

// writeZsh writes a zsh completion function with the same cases as the
// bash one, and descriptions for the subcommands and flags.
func writeZsh(w io.Writer, flags []complFlag) {
	fmt.Fprintln(w, "#compdef emu")
	fmt.Fprintln(w, "# zsh completion for emu (emu completion zsh); load with: source <(emu completion zsh)")
	fmt.Fprintln(w, "# after compinit, or save it as _emu in a directory of $fpath")
	fmt.Fprintln(w, "_emu() {")
	fmt.Fprintln(w, `	local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"`)
	fmt.Fprintln(w, `	case "$prev" in`)
	var fileFlags, numFlags []string
	for _, f := range flags {
		switch f.kind {
		case flagEnum:
			var q []string
			for _, v := range f.values {
				q = append(q, zshQuote(v))
			}
			fmt.Fprintf(w, "\t(%s) compadd -- %s; return ;;\n", f.forms(), strings.Join(q, " "))
		case flagFile:
			fileFlags = append(fileFlags, f.forms())
		case flagOther:
			numFlags = append(numFlags, f.forms())
		}
	}
	fmt.Fprintf(w, "\t(%s) _files; return ;;\n", strings.Join(fileFlags, "|"))
	fmt.Fprintf(w, "\t(%s) return ;;\n", strings.Join(numFlags, "|"))
	fmt.Fprintln(w, "\tesac")
	fmt.Fprintln(w, `	if (( CURRENT == 2 )) && [[ $cur != -* ]]; then`)
	fmt.Fprint(w, "\t\tlocal -a cmds; cmds=(")
	for i, c := range subcommands {
		if i > 0 {
			fmt.Fprint(w, " ")
		}
		fmt.Fprint(w, zshDescribe(c, subcommandHelp[c]))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintln(w, `		_describe -t commands 'emu command' cmds; return`)
	fmt.Fprintln(w, "\tfi")
	fmt.Fprintln(w, `	if [[ $cur == -* ]]; then`)
	fmt.Fprintln(w, "\t\tlocal -a opts; opts=(")
	for _, f := range flags {
		fmt.Fprintf(w, "\t\t\t%s\n", zshDescribe("-"+f.name, f.usage))
		if f.short != "" {
			fmt.Fprintf(w, "\t\t\t%s\n", zshDescribe("-"+f.short, f.usage))
		}
	}
	fmt.Fprintln(w, "\t\t)")
	fmt.Fprintln(w, `		_describe -t options 'emu flag' opts; return`)
	fmt.Fprintln(w, "\tfi")
	fmt.Fprintln(w, "\t_files")
	fmt.Fprintln(w, "}")
	// Autoloaded from $fpath the file is _emu's body: run it; sourced,
	// register it.
	fmt.Fprintln(w, `if [[ "${funcstack[1]}" == _emu ]]; then _emu "$@"; else compdef _emu emu; fi`)
}

// writeFish writes fish complete commands: subcommands as the first
// argument, each flag in its three spellings (-o name: emu's Go-style
// single-dash form), enum values, file names for the file flags.
func writeFish(w io.Writer, flags []complFlag) {
	fmt.Fprintln(w, "# fish completion for emu (emu completion fish); load with: emu completion fish | source")
	fmt.Fprintln(w, "complete -c emu -f")
	for _, c := range subcommands {
		fmt.Fprintf(w, "complete -c emu -n 'test (count (commandline -opc)) -eq 1' -a %s -d %s\n", fishQuote(c), fishQuote(subcommandHelp[c]))
	}
	for _, f := range flags {
		line := "complete -c emu -o " + fishQuote(f.name) + " -l " + fishQuote(f.name)
		if f.short != "" {
			line += " -s " + fishQuote(f.short)
		}
		switch f.kind {
		case flagEnum:
			line += " -x -a " + fishQuote(strings.Join(f.values, " "))
		case flagFile:
			line += " -r -F"
		case flagOther:
			line += " -x"
		}
		line += " -d " + fishQuote(f.usage)
		fmt.Fprintln(w, line)
	}
}
