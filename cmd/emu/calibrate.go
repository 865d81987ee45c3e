package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/calib"
)

// cmdCalibrate is emu calibrate: run the guest ports of the published
// microbenchmarks (package calib) under each target's -cpu-model/-virt
// preset and print, per target, the published figure, the emulated one,
// the error and the source. Exit 1 if a target the model should reach is
// outside ±calib.Tolerance.
func cmdCalibrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("emu calibrate", pflag.ContinueOnError)
	fs.SetOutput(stdout)
	targets := fs.StringSlice("target", nil, "run only these targets (IDs as printed, e.g. S1,S10/4; a prefix such as S10 selects S10/1…S10/full)")
	list := fs.Bool("list", false, "list the targets and their sources without running them")
	out := fs.StringP("output", "o", "", "write the table to this file (- for stdout) instead of stdout; a regular file is replaced atomically")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: emu calibrate [-target ID,...] [-list] [-o FILE]")
		fmt.Fprintln(stdout, "Runs freestanding guest ports of published TLB-flush, shootdown and fault")
		fmt.Fprintln(stdout, "microbenchmarks on the model, each under the preset of the machine it was")
		fmt.Fprintln(stdout, "measured on, and prints the published figure, the emulated one, the error")
		fmt.Fprintf(stdout, "and the source. Exit status: 0 every target within ±%.0f %% or printed as\n", calib.Tolerance)
		fmt.Fprintln(stdout, "UNREACHABLE with the reason, 1 a target outside, 2 usage error.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("emu calibrate: unexpected argument %q", fs.Arg(0))
	}
	if err := checkOutputs(outputPath{"-o", *out}); err != nil {
		return err
	}
	all := calib.Targets()
	sel := all
	if len(*targets) > 0 {
		sel = nil
		for _, id := range *targets {
			n := len(sel)
			for _, t := range all {
				if (t.ID == id || strings.HasPrefix(t.ID, id+"/")) && !slices.ContainsFunc(sel, func(s calib.Target) bool { return s.ID == t.ID }) {
					sel = append(sel, t)
				}
			}
			if len(sel) == n {
				ids := make([]string, len(all))
				for i, t := range all {
					ids[i] = t.ID
				}
				return usagef("-target: unknown target %q (valid: %s)", id, strings.Join(ids, ", "))
			}
		}
	}
	write := func(w io.Writer) error {
		if *list {
			for _, t := range sel {
				fmt.Fprintf(w, "%-9s %s: %s; %s\n", t.ID, t.What, fmtFigure(t.Published, t.Unit), t.Source)
			}
			return nil
		}
		rows, err := calib.Run(ctx, sel, calib.PresetConfig)
		if err != nil {
			return err
		}
		if err := calib.Format(w, rows); err != nil {
			return err
		}
		ok, unreach, outside := 0, 0, 0
		for _, r := range rows {
			switch {
			case r.Unreachable != "":
				unreach++
			case r.Within():
				ok++
			default:
				outside++
			}
		}
		_, err = fmt.Fprintf(w, "%d targets: %d within ±%.0f %%, %d unreachable (reason printed), %d outside\n", len(rows), ok, calib.Tolerance, unreach, outside)
		if err == nil && outside > 0 {
			err = errOutside{outside}
		}
		return err
	}
	var err error
	if *out == "" || *out == "-" {
		err = write(stdout)
	} else {
		err = writeFile(*out, write)
	}
	return err
}

// errOutside is the failure of a calibration with targets outside the
// tolerance (the table is still written).
type errOutside struct{ n int }

func (e errOutside) Error() string {
	return fmt.Sprintf("calibrate: %d target(s) outside ±%.0f %%", e.n, calib.Tolerance)
}

func fmtFigure(v float64, u calib.Unit) string { return fmt.Sprintf("%.0f %s", v, u) }
