package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/kernelmodel"
)

// cmdCompare is emu compare [flags] A.json B.json [C.json …]: the LKP
// %change table of every counter whose mean differs from A's.
func cmdCompare(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("emu compare", pflag.ContinueOnError)
	fs.SetOutput(stdout) // only -h writes there: parse errors are returned
	out := fs.StringP("output", "o", "", "write the table to this file (- for stdout) instead of stdout; a regular file is replaced atomically")
	plotPath := fs.String("plot", "", "also draw the differing counters side by side to FILE.svg or FILE.png")
	asJSON := fs.Bool("json", false, "write the comparison (all results, the changes, fail:runs and verdicts) as JSON")
	htmlPath := fs.String("html", "", "also write a self-contained HTML report (tables, verdicts, plot, run identities) to this file")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: emu compare [flags] BASE.json NEW.json [NEW2.json ...]")
		io.WriteString(stdout, "Prints the LKP-style %stddev %change %stddev table of every counter that differs\n")
		fmt.Fprintln(stdout, "from BASE (files written by emu -json of one workload and one emu version);")
		fmt.Fprintln(stdout, "with -r N ≥ 2 results each change is tested for significance (Mann-Whitney U).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usagef("emu compare: need at least two result files (emu compare BASE.json NEW.json ...)")
	}
	if *plotPath != "" {
		if _, err := report.PlotFormat(*plotPath); err != nil {
			return usagef("-plot: %v", err)
		}
	}
	if err := checkOutputs(outputPath{"-o", *out}, outputPath{"-plot", *plotPath}, outputPath{"-html", *htmlPath}); err != nil {
		return err
	}
	if testHookPlanned != nil {
		if err := testHookPlanned(); err != nil {
			return err
		}
	}
	var results []*report.Result
	var names []string
	for _, path := range fs.Args() {
		data, err := readInput(path, maxResultBytes)
		if err != nil {
			return usagef("%v", err)
		}
		if err := oneJSONValue(data); err != nil {
			return usagef("%s: %v", path, err)
		}
		r, err := report.ReadJSON(bytes.NewReader(data), path)
		if err != nil {
			return usagef("%v", err)
		}
		results = append(results, r)
		names = append(names, filepath.Base(path))
	}
	return writeComparison(results, names, *out, *plotPath, *htmlPath, *asJSON, stdout)
}

// writeComparison compares results and writes the comparison; decorate, if
// not nil, adds to it first (emu ab -flush: its model-estimate label).
func writeComparison(results []*report.Result, names []string, out, plotPath, htmlPath string, asJSON bool, stdout io.Writer, decorate ...func(*report.Comparison)) error {
	c, err := report.Compare(results, names)
	if err != nil {
		var ce *report.CompareError
		if errors.As(err, &ce) {
			return usagef("%v", err)
		}
		return err
	}
	for _, d := range decorate {
		d(c)
	}
	write := report.WriteCompare
	if asJSON {
		write = report.WriteCompareJSON
	}
	if err := emit(out, stdout, stdout, func(w io.Writer) error { return write(w, c) }); err != nil {
		return err
	}
	if plotPath != "" && len(c.Rows) > 0 {
		format, _ := report.PlotFormat(plotPath)
		if err := writeFile(plotPath, func(w io.Writer) error { return report.PlotCompare(w, format, c) }); err != nil {
			return fmt.Errorf("-plot: %w", err)
		}
	}
	if htmlPath != "" {
		title := "emu: " + strings.Join(c.Labels, " vs ")
		if len(c.AxisKeys) > 0 && c.AxisKeys[0] != "file" {
			title = fmt.Sprintf("emu: %s, %s %s", results[0].Workload, strings.Join(c.AxisKeys, "/"), strings.Join(c.Labels, " vs "))
		}
		sec := []report.HTMLSection{{Comparison: c, Results: c.Results}}
		if err := writeFile(htmlPath, func(w io.Writer) error { return report.WriteHTML(w, title, sec) }); err != nil {
			return fmt.Errorf("-html: %w", err)
		}
	}
	return nil
}

// cmdAB is emu ab -patch X [flags]: side A runs the flags without -patch,
// side B with it; both -r times; the comparison is printed directly.
func cmdAB(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, rest, err := parseRunFlags(args, stdout, modeAB)
	if err != nil {
		return err
	}
	if o.flushMech != string(kernelmodel.FlushIPI) {
		return cmdABFlush(ctx, o, rest, stdout, stderr)
	}
	if len(o.patches) == 0 {
		return usagef("emu ab: -patch is required (the patch under test; see 'emu list'), or -flush invlpgb|rar (the mechanism under test)")
	}
	if slices.Contains(o.basePatch, "") {
		return usagef("-base-patch: empty patch name (valid: %s)", strings.Join(patchList(), ", "))
	}
	ob := *o
	ob.patches = append(slices.Clone(o.basePatch), o.patches...)
	pb, err := newPlan(&ob, rest, modeAB)
	if err != nil {
		return err
	}
	oa := *o
	oa.patches = slices.Clone(o.basePatch)
	pa, err := newPlan(&oa, rest, modeAB)
	if err != nil {
		return err
	}
	if slices.Equal(effectivePatches(pa.cfg), effectivePatches(pb.cfg)) {
		has := "-kernel " + o.kernel
		if len(o.basePatch) > 0 {
			has += " with -base-patch " + strings.Join(o.basePatch, ",")
		}
		return usagef("emu ab: the patch changes nothing (%s already has %s)", has, strings.Join(patchNames(pb.cfg.Patches), ","))
	}
	return runAB(ctx, o, pa, pb, stdout, stderr, nil)
}

// runAB runs the planned sides A and B of an emu ab (-patch or -flush) in
// one session and prints their comparison; label, if not nil, adds to it
// what only the caller knows, given the finished results (A, then B).
func runAB(ctx context.Context, o *options, pa, pb *plan, stdout, stderr io.Writer, label func(*report.Comparison, []*report.Result)) (err error) {
	if err := o.checkOutputs(modeAB); err != nil {
		return err
	}
	if testHookPlanned != nil {
		if err := testHookPlanned(); err != nil {
			return err
		}
	}
	s, finish, err := openSession(o, stdout, stderr, modeAB)
	if err != nil {
		return err
	}
	defer func() {
		if ferr := finish(); err == nil {
			err = ferr
		}
	}()
	ctx, cancel := withTimeout(ctx, o.timeout)
	defer cancel()
	var results []*report.Result
	for i, p := range []*plan{pa, pb} {
		r, err := s.execute(ctx, p)
		if err != nil {
			err = timeoutError(ctx, o.timeout, err)
			r.Status = runStatus(err)
			return abPartial(results, r, i, o.out, stdout, err)
		}
		r.Status = runStatus(nil)
		results = append(results, r)
	}
	var decorate []func(*report.Comparison)
	if label != nil {
		decorate = append(decorate, func(c *report.Comparison) { label(c, results) })
	}
	return writeComparison(results, []string{"A", "B"}, o.out, o.plot, o.html, o.outFormat == formatJSON, stdout, decorate...)
}

// abPartial ends an emu ab whose side failed (or was interrupted): there
// is no comparison, so the result of each side that ran is printed (the
// failed side's with the runs it finished), and the error says which side
// did not finish.
func abPartial(done []*report.Result, failed *report.Result, side int, out string, stdout io.Writer, err error) error {
	names := []string{"A", "B"}
	shown := append([]*report.Result(nil), done...)
	if failed.Runs() > 0 {
		shown = append(shown, failed)
	}
	if len(shown) > 0 {
		werr := emit(out, stdout, stdout, func(w io.Writer) error {
			for i, r := range shown {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "# side %s (%s)\n", names[i], r.Variant())
				if err := report.WriteText(w, r); err != nil {
					return err
				}
			}
			return nil
		})
		if werr != nil {
			return werr
		}
	}
	what := "nothing printed"
	switch {
	case side == 1 && failed.Runs() > 0:
		what = "printed A, and B so far; no comparison"
	case side == 1:
		what = "printed A; no comparison"
	case failed.Runs() > 0:
		what = "printed A so far; no comparison"
	}
	return fmt.Errorf("side %s (%s) did not finish (%s): %w", names[side], failed.Variant(), what, err)
}

// oneJSONValue refuses data that holds more than one JSON value (a result
// with something appended). Data that is not JSON at all is left to
// report.ReadJSON, which names the problem.
func oneJSONValue(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if dec.Decode(&v) != nil {
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON result at byte %d", dec.InputOffset())
	}
	return nil
}
