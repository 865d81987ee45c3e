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
		var samples []*benchmath.Sample
		for i, r := range results {
			ctr, _ := r.Counter(name)
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
			samples = append(samples, benchmath.NewSample(append([]float64(nil), ctr.Samples...), &benchmath.DefaultThresholds))
			if i > 0 {
				if m != row.Means[0] {
					differs = true
				}
				b := row.Means[0]
				if b == 0 {
					b = 1e-100
				}
				row.Changes = append(row.Changes, 100*(m-b)/b)
				if c.Repeated {
					t := benchmath.AssumeNothing.Compare(samples[0], samples[i])
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

// WriteCompare writes c as the LKP kernel-test-robot table (ecosystem.md
// §1.10, lib/compare.rb show_group_header / show_perf_header /
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
	return ew.err
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
