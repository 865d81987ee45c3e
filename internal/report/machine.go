package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteCSV writes one line per counter in `perf stat -x,` field order
// (ecosystem.md §1.1): counter-value, unit, event, variance (only with
// several runs, "x.xx%"), event-runtime, pcnt-running, metric-value,
// metric-unit. The runtime is the emulated elapsed time in ns (every
// counter counts for the whole run, so pcnt-running is 100.00).
func WriteCSV(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	var runtime float64
	if el, ok := r.Counter("emu_elapsed_cycles"); ok {
		runtime = el.Mean() * 1000 / CyclesPerMicrosecond
	}
	for _, c := range r.Counters {
		f := []string{plainNum(c.Mean()), c.Unit, c.Name}
		if r.Runs() > 1 {
			f = append(f, fmt.Sprintf("%.2f%%", c.RelStderr()))
		}
		f = append(f, strconv.FormatFloat(runtime, 'f', 0, 64), "100.00")
		if v, unit, ok := r.metric(c.Name); ok {
			f = append(f, fmt.Sprintf("%.2f", v), unit)
		} else {
			f = append(f, "", "")
		}
		fmt.Fprintln(ew, strings.Join(f, ","))
	}
	return ew.err
}

// plainNum formats like perf's CSV "%.0f", or "%.2f" for a fractional mean.
func plainNum(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// BenchName is the Go benchmark name of a result (Identity.BenchName).
func BenchName(r *Result) string { return r.Identity().BenchName() }

// benchValue keeps a name part free of the characters the benchmark format
// gives meaning to (white space, '/').
func benchValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == '\t' || r == '\n' {
			return '_'
		}
		return r
	}, s)
}

// BenchUnit is the benchmark-format unit of a counter: its name + "/op".
func BenchUnit(counter string) string { return benchValue(counter) + "/op" }

// WriteBench writes r in the Go benchmark format, one result line per run
// (iteration count 1, every counter as "<value> <counter>/op"), preceded by
// Unit metadata lines (golang/go#43744): better=lower for every counter,
// and assume=exact when there is a single run (the emulator is
// deterministic; with -r N the seeds vary the interleaving, so benchstat's
// default non-parametric assumption applies).
func WriteBench(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	for _, kv := range r.Identity().BenchConfig() {
		fmt.Fprintf(ew, "%s: %s\n", kv.Key, formatValue(kv.Value))
	}
	assume := ""
	if r.Runs() == 1 {
		assume = " assume=exact"
	}
	for _, c := range r.Counters {
		fmt.Fprintf(ew, "Unit %s%s better=lower\n", BenchUnit(c.Name), assume)
	}
	name := BenchName(r)
	for run := range r.Runs() {
		var b strings.Builder
		b.WriteString(name)
		b.WriteString(" 1")
		for _, c := range r.Counters {
			b.WriteString(" ")
			b.WriteString(strconv.FormatFloat(c.Samples[run], 'f', -1, 64))
			b.WriteString(" ")
			b.WriteString(BenchUnit(c.Name))
		}
		fmt.Fprintln(ew, b.String())
	}
	return ew.err
}
