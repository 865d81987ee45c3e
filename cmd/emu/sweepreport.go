package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tlbemu/emu/internal/report"
	"github.com/tlbemu/emu/internal/sweep"
	"github.com/tlbemu/emu/workloads"
)

// maxInputs bounds the files and directories one merge or report reads.
const maxInputs = 10_000

// loadInputs reads the results of paths: every result of a directory
// (sweep.Load), or one -json file.
func loadInputs(paths []string) ([]*report.Result, []string, error) {
	if len(paths) > maxInputs {
		return nil, nil, usagef("more than %d inputs", maxInputs)
	}
	var results []*report.Result
	var names []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		if fi.IsDir() {
			rs, ns, err := sweep.Load(p)
			if err != nil {
				return nil, nil, usagef("%v", err)
			}
			results = append(results, rs...)
			names = append(names, ns...)
			if len(results) > sweep.MaxPoints {
				return nil, nil, usagef("more than %d results", sweep.MaxPoints)
			}
			continue
		}
		data, err := readInput(p, maxResultBytes)
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		if err := oneJSONValue(data); err != nil {
			return nil, nil, usagef("%s: %v", p, err)
		}
		r, err := report.ReadJSON(bytes.NewReader(data), p)
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		results = append(results, r)
		names = append(names, filepath.Base(p))
	}
	for _, r := range results {
		withWorkloadDefaults(r)
	}
	return results, names, nil
}

// withWorkloadDefaults gives a result read back from JSON the identity it
// was made with: a JSON config holds the workload's parameters but not
// their defaults, which decide the non-default settings of its name and
// header (Identity.BenchName). A built-in workload's are known here.
func withWorkloadDefaults(r *report.Result) {
	id := r.Identity()
	if id.Program {
		return
	}
	wl, err := workloads.Lookup(id.Workload)
	if err != nil {
		return
	}
	d := wl.Defaults
	if d.Threads == 0 {
		d.Threads = max(id.CPUs-1, 1)
	}
	id.DefThreads, id.DefPages, id.DefIterations = d.Threads, d.Pages, d.Iterations
	r.ID = id
}

// cmdMerge is emu merge -o OUT INPUT…: the per-seed results of one
// identity folded into one runs=N result each.
func cmdMerge(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("emu merge", pflag.ContinueOnError)
	fs.SetOutput(stdout)
	out := fs.StringP("output", "o", "", "a directory for the merged results (one file per identity), or FILE.json when they fold into one (required)")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: emu merge -o OUT DIR|RESULT.json ...")
		fmt.Fprintln(stdout, "Folds results that differ only in their seed (a sweep's per-seed points, or -json")
		fmt.Fprintln(stdout, "results from several machines) into one result each, with the runs of all the")
		fmt.Fprintln(stdout, "seeds, as emu -r N collects them: emu compare and emu report test their changes.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("emu merge: no inputs (usage: emu merge -o OUT DIR|RESULT.json ...)")
	}
	if *out == "" {
		return usagef("emu merge: -o OUT is required (a directory, or FILE.json for one merged result)")
	}
	results, _, err := loadInputs(fs.Args())
	if err != nil {
		return err
	}
	merged, err := sweep.Merge(results)
	if err != nil {
		return usagef("emu merge: %v", err)
	}
	if testHookPlanned != nil {
		if err := testHookPlanned(); err != nil {
			return err
		}
	}
	if strings.HasSuffix(*out, ".json") {
		if len(merged) != 1 {
			return usagef("emu merge: the inputs fold into %d results; -o must be a directory", len(merged))
		}
		if err := checkOutputs(outputPath{"-o", *out}); err != nil {
			return err
		}
		return emit(*out, stdout, stdout, func(w io.Writer) error { return report.WriteJSON(w, merged[0]) })
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usagef("-o: %v", err)
	}
	for _, m := range merged {
		path := filepath.Join(*out, sweep.MergedFile(m))
		if err := writeFile(path, func(w io.Writer) error { return report.WriteJSON(w, m) }); err != nil {
			return fmt.Errorf("-o: %w", err)
		}
	}
	return nil
}

// reportGroup is one table of emu report: results of one workload and
// one set of settings beside the kernel variant, baseline first.
type reportGroup struct {
	results []*report.Result
	names   []string
}

// variantKeys are the settings a report table compares: the kernel
// variant's parts (Identity.Variant) and the seeds.
var variantKeys = []string{"kernel", "patches", "pti", "thp", "flush_order", "seed"}

// reportGroups folds results into their tables: one per workload and
// setting beside the variant, in order of first appearance; within a
// table the result with the fewest patches comes first (the baseline).
func reportGroups(results []*report.Result, names []string) []reportGroup {
	var groups []reportGroup
	index := map[string]int{}
	for i, r := range results {
		var key strings.Builder
		key.WriteString(r.Version + "\x00" + r.Workload)
		for _, kv := range r.Config {
			if !slices.Contains(variantKeys, kv.Key) {
				fmt.Fprintf(&key, "\x00%s=%v", kv.Key, kv.Value)
			}
		}
		k := key.String()
		g, ok := index[k]
		if !ok {
			g = len(groups)
			index[k] = g
			groups = append(groups, reportGroup{})
		}
		groups[g].results = append(groups[g].results, r)
		groups[g].names = append(groups[g].names, names[i])
	}
	for gi := range groups {
		g := &groups[gi]
		order := make([]int, len(g.results))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return len(g.results[a].Identity().Patches) - len(g.results[b].Identity().Patches)
		})
		rs, ns := make([]*report.Result, len(order)), make([]string, len(order))
		for i, j := range order {
			rs[i], ns[i] = g.results[j], g.names[j]
		}
		g.results, g.names = rs, ns
	}
	return groups
}

// cmdReport is emu report [-html FILE] DIR|RESULT.json…: the LKP tables
// of a sweep, its seeds merged.
func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("emu report", pflag.ContinueOnError)
	fs.SetOutput(stdout)
	out := fs.StringP("output", "o", "", "write the tables to this file (- for stdout) instead of stdout")
	html := fs.String("html", "", "also write a self-contained HTML report (tables, verdicts, plots, run identities) to this file")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: emu report [-html FILE] DIR|RESULT.json ...")
		fmt.Fprintln(stdout, "Prints the results of a sweep directory (or of -json files), the seeds of each")
		io.WriteString(stdout, "identity merged (emu merge): one LKP %change table, with fail:runs and verdicts,\n")
		fmt.Fprintln(stdout, "per workload and setting, comparing the kernel variants (the fewest patches first).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("emu report: no inputs (usage: emu report DIR|RESULT.json ...)")
	}
	if err := checkOutputs(outputPath{"-o", *out}, outputPath{"-html", *html}); err != nil {
		return err
	}
	results, _, err := loadInputs(fs.Args())
	if err != nil {
		return err
	}
	merged, err := sweep.Merge(results)
	if err != nil {
		return usagef("emu report: %v", err)
	}
	mergedNames := make([]string, len(merged))
	for i, m := range merged {
		mergedNames[i] = sweep.MergedFile(m)
	}
	groups := reportGroups(merged, mergedNames)
	var sections []report.HTMLSection
	var text bytes.Buffer
	for _, g := range groups {
		sec := report.HTMLSection{Results: g.results}
		if len(g.results) == 1 {
			fmt.Fprintln(&text, strings.Repeat("=", 89))
			if err := report.WriteText(&text, g.results[0]); err != nil {
				return err
			}
		} else {
			c, err := report.Compare(g.results, g.names)
			if err != nil {
				return usagef("emu report: %v", err)
			}
			sec.Comparison = c
			if err := report.WriteCompare(&text, c); err != nil {
				return err
			}
		}
		fmt.Fprintln(&text)
		sections = append(sections, sec)
	}
	if err := emit(*out, stdout, stdout, func(w io.Writer) error { _, err := w.Write(text.Bytes()); return err }); err != nil {
		return err
	}
	if *html != "" {
		title := "emu report: " + strings.Join(fs.Args(), " ")
		if err := writeFile(*html, func(w io.Writer) error { return report.WriteHTML(w, title, sections) }); err != nil {
			return fmt.Errorf("-html: %w", err)
		}
	}
	return nil
}
