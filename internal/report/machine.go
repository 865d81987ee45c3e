package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteCSV writes one line per counter in `perf stat -x,` field order
// (tools/perf/util/stat-display.c): counter-value, unit, event, variance (only with
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
		f := []string{c.meanText(2), c.Unit, c.Name}
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
			b.WriteString(c.sampleText(run))
			b.WriteString(" ")
			b.WriteString(BenchUnit(c.Name))
		}
		fmt.Fprintln(ew, b.String())
	}
	return ew.err
}

// WritePerfJSON writes r as `perf stat -j` does: one JSON object per
// counter per line, with perf's field names, order and number formats
// (tools/perf/util/stat-display.c: print_counter_value_json,
// print_noise_pct_json, print_running_json, print_metric_json):
// "counter-value" a string "%f", "unit", "event", "variance" (%.2f, only
// with several runs), "event-runtime" (ns, an integer), "pcnt-running"
// (%.2f), then "metric-value" ("%f") and "metric-unit" when the counter
// has a derived metric. Fields are separated by ", " and keys by " : ",
// as perf prints them.
func WritePerfJSON(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	var runtime uint64
	if el, ok := r.Counter("emu_elapsed_cycles"); ok {
		runtime = uint64(math.Round(el.Mean() * 1000 / CyclesPerMicrosecond))
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, c := range r.Counters {
		f := []string{
			`"counter-value" : "` + c.meanFixed(6) + `"`,
			`"unit" : ` + q(c.Unit),
			`"event" : ` + q(c.Name),
		}
		if r.Runs() > 1 {
			f = append(f, fmt.Sprintf(`"variance" : %.2f`, c.RelStderr()))
		}
		f = append(f, fmt.Sprintf(`"event-runtime" : %d`, runtime), `"pcnt-running" : 100.00`)
		if v, unit, ok := r.metric(c.Name); ok {
			f = append(f, `"metric-value" : "`+strconv.FormatFloat(v, 'f', 6, 64)+`"`, `"metric-unit" : `+q(unit))
		}
		fmt.Fprintln(ew, "{"+strings.Join(f, ", ")+"}")
	}
	return ew.err
}
