package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"golang.org/x/perf/benchmath"
)

// The LKP compare table's widths (intel/lkp-tests lib/compare.rb).
const (
	lkpAbsWidth = 10
	lkpRelWidth = 10
	lkpErrWidth = 6
)

// Comparison is the A/B(/C…) comparison of results of one workload: the
// first result is the baseline.
type Comparison struct {
	Results  []*Result
	Labels   []string // one per result: the values of AxisKeys, or the file name
	AxisKeys []string // the settings that differ between results ("file" if none does)
	Common   []KV     // the settings all results share
	Rows     []CompareRow
	// Repeated is set when every result has at least two runs: rows then
	// carry a significance test per non-baseline result.
	Repeated bool
	// Hazards holds one row per hazard counter (HazardCounters) that any
	// result has: LKP's fail:runs block.
	Hazards []HazardRow
	// Estimates are the lines that label the comparison a model estimate:
	// the cost keys without a measurement the differing side depends on,
	// with their values (emu ab -flush rar: the kernel.rar_* keys).
	Estimates []string
	// Notes are further lines about the comparison ("note: …").
	Notes []string
}

// HazardCounters are the counters of functional failures: writes that
// went through a stale TLB entry and lost an effect the kernel promised.
// ab and compare show them as LKP shows functional failures (fail:runs,
// %reproduction) and give a verdict per column.
var HazardCounters = []string{"emu_stale_tlb_writes", "emu_lost_soft_dirty", "emu_write_after_cow", "emu_missed_uffd_wp"}

// HazardRow is one hazard counter across the results.
type HazardRow struct {
	Name  string
	Fails []int     // per result: runs in which the counter is non-zero
	Runs  []int     // per result: runs
	Means []float64 // per result: the counter's mean
}

// Reproduction is LKP's %reproduction of result i against the baseline:
// the difference of the failing fractions, in percent.
func (h HazardRow) Reproduction(i int) float64 {
	frac := func(j int) float64 {
		if h.Runs[j] == 0 {
			return 0
		}
		return float64(h.Fails[j]) / float64(h.Runs[j])
	}
	return 100 * (frac(i) - frac(0))
}

// Verdict is the one-line correctness verdict of result i (> 0) against
// the baseline for h, computed from the means: e.g.
// "emu_stale_tlb_writes 40,050 → 0: the hole closes".
func (h HazardRow) Verdict(i int) string {
	a, b := h.Means[0], h.Means[i]
	var what string
	switch {
	case a > 0 && b == 0:
		what = "the hole closes"
	case a == 0 && b > 0:
		what = "a hole opens"
	case a == 0 && b == 0:
		what = "no hazard on either side"
	case b < a:
		what = "fewer, but the hole stays open"
	case b > a:
		what = "more: the hole widens"
	default:
		what = "the hole stays open"
	}
	return fmt.Sprintf("%s %s → %s: %s", h.Name, bigNum(a), bigNum(b), what)
}

// Verdicts are the verdict lines of c: per non-baseline result, one per
// hazard row, prefixed by the result's label when there are several.
func (c *Comparison) Verdicts() []string {
	var out []string
	for i := 1; i < len(c.Results); i++ {
		for _, h := range c.Hazards {
			v := h.Verdict(i)
			if len(c.Results) > 2 {
				v = c.Labels[i] + ": " + v
			}
			out = append(out, v)
		}
	}
	return out
}

func (c *Comparison) hazards() {
	for _, name := range HazardCounters {
		h := HazardRow{Name: name}
		present := false
		for _, r := range c.Results {
			ctr, ok := r.Counter(name)
			present = present || ok
			fails := 0
			for _, v := range ctr.Samples {
				if v != 0 {
					fails++
				}
			}
			h.Fails = append(h.Fails, fails)
			h.Runs = append(h.Runs, r.Runs())
			h.Means = append(h.Means, ctr.Mean())
		}
		if present {
			c.Hazards = append(c.Hazards, h)
		}
	}
}

// CompareRow is one counter whose mean differs between results.
type CompareRow struct {
	Name   string
	Means  []float64 // per result
	RelStd []float64 // per result: stddev/mean in percent, -1 for one run
	// Changes holds, per non-baseline result, the % change of the mean
	// (new-base)/base·100 (LKP's calc_perf_change; a zero base counts as
	// 1e-100 as LKP does).
	Changes []float64
	// Tests holds, per non-baseline result, the Mann-Whitney U test of the
	// per-run samples (golang.org/x/perf/benchmath); nil unless Repeated.
	Tests []*benchmath.Comparison
}

// CompareError is a reason the results cannot be compared (different
// workloads, emu versions, too few files). The CLI exits 2 for it.
type CompareError struct{ Msg string }

func (e *CompareError) Error() string { return e.Msg }

// Compare checks that results (named by names, for messages) can be
// compared and builds the table of every counter whose mean differs from
// the baseline's (results[0]).
func Compare(results []*Result, names []string) (*Comparison, error) {
	if len(results) < 2 {
		return nil, &CompareError{"compare needs at least two results"}
	}
	base := results[0]
	for i, r := range results[1:] {
		if r.Workload != base.Workload {
			return nil, &CompareError{fmt.Sprintf("%s is workload %q but %s is workload %q: compare runs of one workload", names[0], base.Workload, names[i+1], r.Workload)}
		}
		if r.Version != base.Version {
			return nil, &CompareError{fmt.Sprintf("%s was written by emu %s but %s by emu %s: counters of different emu versions are not comparable (compare commits with -format bench and benchstat)", names[0], base.Version, names[i+1], r.Version)}
		}
	}
	c := &Comparison{Results: results, Repeated: true}
	for _, r := range results {
		if r.Runs() < 2 {
			c.Repeated = false
		}
	}
	c.axes(names)
	c.hazards()

	var order []string
	seen := map[string]bool{}
	for _, r := range results {
		for _, ctr := range r.Counters {
			if !seen[ctr.Name] {
				seen[ctr.Name] = true
				order = append(order, ctr.Name)
			}
		}
	}
	for _, name := range order {
		row := CompareRow{Name: name}
		differs := false
		var samples [][]float64
		var base Counter
		for i, r := range results {
			ctr, _ := r.Counter(name)
			if i == 0 {
				base = ctr
			}
			m := ctr.Mean()
			row.Means = append(row.Means, m)
			sd := -1.0
			if len(ctr.Samples) > 1 {
				sd = ctr.Stddev()
				if m != 0 {
					sd = 100 * sd / m
				}
			}
			row.RelStd = append(row.RelStd, sd)
			samples = append(samples, ctr.Samples)
			if i > 0 {
				if !ctr.sameMean(base) {
					differs = true
				}
				b := row.Means[0]
				if b == 0 {
					b = 1e-100
				}
				row.Changes = append(row.Changes, 100*(m-b)/b)
				if c.Repeated {
					t := Significance(samples[0], samples[i])
					row.Tests = append(row.Tests, &t)
				}
			}
		}
		if differs {
			c.Rows = append(c.Rows, row)
		}
	}
	return c, nil
}

// Significance is the test Compare applies to the per-run samples of the
// baseline and another result, as benchstat does: the Mann-Whitney U test
// (benchmath.AssumeNothing) with benchmath.DefaultThresholds (α = 0.05).
// The change is significant when P < Alpha.
func Significance(base, other []float64) benchmath.Comparison {
	a := benchmath.NewSample(append([]float64(nil), base...), &benchmath.DefaultThresholds)
	b := benchmath.NewSample(append([]float64(nil), other...), &benchmath.DefaultThresholds)
	return benchmath.AssumeNothing.Compare(a, b)
}

// axes splits the results' settings into the common ones and the compared
// ones, as LKP's header does (common axes, then one line per result).
func (c *Comparison) axes(names []string) {
	type kvs = []KV
	cfg := func(r *Result) kvs {
		out := kvs{}
		for _, kv := range r.Config {
			if kv.Key != "argv" {
				out = append(out, kv)
			}
		}
		return append(out, KV{"runs", r.Runs()})
	}
	var keys []string
	seen := map[string]bool{}
	for _, r := range c.Results {
		for _, kv := range cfg(r) {
			if !seen[kv.Key] {
				seen[kv.Key] = true
				keys = append(keys, kv.Key)
			}
		}
	}
	value := func(r *Result, k string) string {
		if k == "runs" {
			return fmt.Sprint(r.Runs())
		}
		if _, ok := r.Get(k); !ok {
			return "-"
		}
		return r.GetString(k)
	}
	for _, k := range keys {
		same := true
		v0 := value(c.Results[0], k)
		for _, r := range c.Results[1:] {
			if value(r, k) != v0 {
				same = false
			}
		}
		if same {
			c.Common = append(c.Common, KV{k, v0})
		} else {
			c.AxisKeys = append(c.AxisKeys, k)
		}
	}
	for i, r := range c.Results {
		if len(c.AxisKeys) == 0 {
			c.Labels = append(c.Labels, names[i])
			continue
		}
		var vs []string
		for _, k := range c.AxisKeys {
			vs = append(vs, value(r, k))
		}
		c.Labels = append(c.Labels, strings.Join(vs, "/"))
	}
	if len(c.AxisKeys) == 0 {
		c.AxisKeys = []string{"file"}
	}
}

// WriteCompare writes c as the LKP kernel-test-robot table (lkp-tests
// lib/compare.rb show_group_header / show_perf_header /
// show_perf_change): the common settings, the compared ones, the column
// headers, then per counter the base mean and ±relative stddev (shown when
// above 2%), and per other result %change, mean and ±stddev, then the
// counter name. With repeated runs each name is followed by benchstat's
// significance note, "(p=0.008 n=5)" or "~ (p=0.310 n=5)" when the change
// is not significant at α = 0.05.
func WriteCompare(w io.Writer, c *Comparison) error {
	ew := &errWriter{w: w}
	fmt.Fprintln(ew, strings.Repeat("=", 89))
	var ck, cv []string
	for _, kv := range c.Common {
		ck = append(ck, kv.Key)
		cv = append(cv, formatValue(kv.Value))
	}
	fmt.Fprintf(ew, "%s:\n", strings.Join(ck, "/"))
	fmt.Fprintf(ew, "  %s\n\n", strings.Join(cv, "/"))
	fmt.Fprintf(ew, "%s: \n", strings.Join(c.AxisKeys, "/"))
	for _, l := range c.Labels {
		fmt.Fprintf(ew, "  %s\n", l)
	}
	fmt.Fprintln(ew)
	first := lkpAbsWidth + lkpErrWidth
	width := first + lkpRelWidth + 1
	fmt.Fprintf(ew, "%*s ", first, trunc(c.Labels[0], first))
	for _, l := range c.Labels[1:] {
		fmt.Fprintf(ew, "%*s ", width, trunc(l, width))
	}
	fmt.Fprintln(ew)
	fmt.Fprint(ew, strings.Repeat("-", first)+" ")
	for range c.Labels[1:] {
		fmt.Fprint(ew, strings.Repeat("-", width)+" ")
	}
	fmt.Fprintln(ew)
	n := len(c.Results) - 1
	writeFailures(ew, c)
	fmt.Fprintf(ew, "         %%stddev%s\n", strings.Repeat("     %change         %stddev", n))
	fmt.Fprintf(ew, "             \\  %s\n", strings.Repeat("        |                \\  ", n))
	for _, row := range c.Rows {
		var b strings.Builder
		for i, m := range row.Means {
			if i > 0 {
				fmt.Fprintf(&b, "%*s%% ", lkpRelWidth, formatChange(row.Changes[i-1]))
			}
			b.WriteString(lkpValue(m))
			if sd := row.RelStd[i]; sd > 2 {
				fmt.Fprintf(&b, " ±%*d%%", lkpErrWidth-3, int64(sd))
			} else {
				b.WriteString(strings.Repeat(" ", lkpErrWidth))
			}
		}
		fmt.Fprintf(&b, "  %s", row.Name)
		for _, t := range row.Tests {
			if t.P < t.Alpha {
				fmt.Fprintf(&b, "  (%s)", t)
			} else {
				fmt.Fprintf(&b, "  ~ (%s)", t)
			}
		}
		fmt.Fprintln(ew, b.String())
	}
	if len(c.Rows) == 0 {
		fmt.Fprintln(ew, "  (no counter differs)")
	}
	fmt.Fprintln(ew)
	if c.Repeated && len(c.Rows) > 0 {
		fmt.Fprintln(ew, "~: not significant at α=0.05 (Mann-Whitney U over the per-seed samples, golang.org/x/perf/benchmath)")
	}
	for _, v := range c.Verdicts() {
		fmt.Fprintf(ew, "verdict: %s\n", v)
	}
	for _, e := range c.Estimates {
		fmt.Fprintf(ew, "model estimate: %s\n", e)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}

// writeFailures writes LKP's functional-failure block (lib/compare.rb,
// the "fail:runs  %reproduction" header before the %stddev one): per
// hazard counter the runs in which it was non-zero out of all runs ("1:4",
// ":4" for none), and per other result the change of the failing
// fraction in percent.
func writeFailures(w io.Writer, c *Comparison) {
	if len(c.Hazards) == 0 {
		return
	}
	n := len(c.Results) - 1
	fmt.Fprintf(w, "       fail:runs%s\n", strings.Repeat("  %reproduction    fail:runs", n))
	fmt.Fprintln(w, strings.TrimRight("           |    "+strings.Repeat("         |             |    ", n), " "))
	failRuns := func(h HazardRow, i int) string {
		f := ""
		if h.Fails[i] > 0 {
			f = fmt.Sprint(h.Fails[i])
		}
		return fmt.Sprintf("%s:%d", f, h.Runs[i])
	}
	for _, h := range c.Hazards {
		var b strings.Builder
		fmt.Fprintf(&b, "%13s", failRuns(h, 0))
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%13.0f%%%14s", h.Reproduction(i), failRuns(h, i))
		}
		fmt.Fprintf(&b, "     %s", h.Name)
		fmt.Fprintln(w, b.String())
	}
}

// formatChange formats a % change as show_perf_change: %+.1f, or %+.2g
// from 100000 on (a change from zero is +1e+102 and more).
func formatChange(p float64) string {
	if math.Abs(p) < 100_000 {
		return fmt.Sprintf("%+.1f", p)
	}
	return fmt.Sprintf("%+.2g", p)
}

// lkpValue formats a mean as show_perf_change: %10.2f below 1000, %10.4g
// above 1e8, else %10d (Ruby truncates the float).
func lkpValue(v float64) string {
	switch a := math.Abs(v); {
	case a < 1000:
		return fmt.Sprintf("%*.2f", lkpAbsWidth, v)
	case a > 100_000_000:
		return fmt.Sprintf("%*.4g", lkpAbsWidth, v)
	}
	return fmt.Sprintf("%*d", lkpAbsWidth, int64(v))
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
