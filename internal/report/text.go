package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// perf stat's column widths (tools/perf/util/stat-display.c): COUNTS_LEN
// for the value, EVNAME_LEN for the event name (widened here to the longest
// counter so that the metric and noise columns stay aligned), METRIC_LEN
// for the "# …" column.
const (
	countsLen  = 18
	evnameLen  = 32
	metricLen  = 38
	metricFmt  = "%8.2f"
	metricPref = " # "
)

// Variant is the kernel model a result ran (Identity.Variant).
func (r *Result) Variant() string { return r.Identity().Variant() }

// metric is the derived value perf prints after '#', or ok=false.
func (r *Result) metric(name string) (v float64, unit string, ok bool) {
	mean := func(n string) (float64, bool) {
		c, ok := r.Counter(n)
		return c.Mean(), ok
	}
	switch name {
	case "instructions":
		ins, _ := mean("instructions")
		cyc, ok := mean("cycles")
		if ok && cyc > 0 {
			return ins / cyc, "insn per cycle", true
		}
	case "nr_tlb_remote_flush_received":
		rec, _ := mean(name)
		req, ok := mean("nr_tlb_remote_flush")
		if ok && req > 0 {
			return rec / req, "per remote flush", true
		}
	case "interrupts.TLB":
		t, _ := mean(name)
		if n := len(r.PerCPU); n > 0 {
			return t / float64(n), "per CPU", true
		}
	}
	return 0, "", false
}

// WriteText writes the perf-stat block (tools/perf/util/stat-display.c), the
// emulated elapsed time, the /proc/interrupts TLB row (arch_show_interrupts
// in arch/x86/kernel/irq.c) and the histograms in bpftrace's layout.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	runs := r.Runs()
	id := r.Identity()
	par := id.headerSettings(r.Seeds)
	if runs > 1 {
		par = append(par, fmt.Sprintf("%d runs", runs))
	}
	cmd := r.Command
	if r.ID != nil {
		cmd = r.ID.CommandLine()
	}
	fmt.Fprintf(ew, " Emulated counter stats for '%s' (%s):\n\n", cmd, strings.Join(par, ", "))

	width := evnameLen
	for _, c := range r.Counters {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Counters {
		var b strings.Builder
		fmt.Fprintf(&b, "%*s      %-*s", countsLen, groupDigits(c.meanText(2)), width, c.Name)
		if v, unit, ok := r.metric(c.Name); ok {
			m := metricPref + fmt.Sprintf(metricFmt, v)
			fmt.Fprintf(&b, "%s %-*s", m, metricLen-len(m)-1, unit)
		} else {
			b.WriteString(strings.Repeat(" ", metricLen))
		}
		if pct := c.RelStderr(); runs > 1 && pct != 0 {
			fmt.Fprintf(&b, "  ( +-%6.2f%% )", pct)
		}
		fmt.Fprintln(ew, strings.TrimRight(b.String(), " "))
	}
	if el, ok := r.Counter("emu_elapsed_cycles"); ok {
		sec := Counter{Samples: make([]float64, len(el.Samples))}
		for i, v := range el.Samples {
			sec.Samples[i] = v / (CyclesPerMicrosecond * 1e6)
		}
		fmt.Fprintln(ew)
		if runs > 1 {
			sd := sec.Stddev() / math.Sqrt(float64(runs))
			p := precision(sd)
			fmt.Fprintf(ew, " %17s +- %.*f seconds time elapsed (emulated, 3 GHz)  ( +-%6.2f%% )\n", el.meanScaled(CyclesPerMicrosecond*1e6, p), p, sd, sec.RelStderr())
		} else {
			fmt.Fprintf(ew, " %17s seconds time elapsed (emulated, 3 GHz)\n", el.meanScaled(CyclesPerMicrosecond*1e6, 9))
		}
	}
	writeTLBRow(ew, r)
	if runs > 1 && len(r.Hists) > 0 {
		fmt.Fprintf(ew, "\nHistograms: events of all %d runs.\n", runs)
	}
	for _, h := range r.Hists {
		if len(h.Buckets) == 0 {
			continue
		}
		fmt.Fprintln(ew)
		WriteHist(ew, h)
	}
	if r.Status != "" {
		fmt.Fprintf(ew, "\nstatus: %s\n", r.Status)
	}
	return ew.err
}

// precision is the number of decimals that shows sd with two significant
// digits (after perf's get_precision).
func precision(sd float64) int {
	if sd <= 0 || sd >= 1 {
		return 2
	}
	return min(9, int(math.Ceil(-math.Log10(sd)))+1)
}

// writeTLBRow prints the /proc/interrupts header and TLB row as
// arch_show_interrupts does with prec 3: "%*s: " then "%10u " per CPU,
// then "  TLB shootdowns"; the header is prec+8 blanks then "CPU%-8d".
// With several runs the per-CPU values are means, rounded.
func writeTLBRow(w io.Writer, r *Result) {
	var vals []string
	for _, row := range r.PerCPU {
		i := indexCounter(row.Counters, "interrupts.TLB")
		if i < 0 {
			return
		}
		vals = append(vals, row.Counters[i].meanFixed(0))
	}
	if len(vals) == 0 {
		return
	}
	var hdr, row strings.Builder
	hdr.WriteString(strings.Repeat(" ", 3+8))
	row.WriteString("TLB: ")
	for i, v := range vals {
		fmt.Fprintf(&hdr, "CPU%-8d", i)
		fmt.Fprintf(&row, "%10s ", v)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.TrimRight(hdr.String(), " "))
	fmt.Fprintln(w, row.String()+"  TLB shootdowns")
}

// bigNum formats v with thousands separators, as perf stat's big-num mode
// (%'18.0f), or with two decimals when v is not an integer (a mean).
func bigNum(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	if v != math.Trunc(v) {
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if neg {
		return "-" + groupDigits(s)
	}
	return groupDigits(s)
}

// groupDigits puts thousands separators into the integer part of the
// unsigned decimal s ("1234567.50" → "1,234,567.50").
func groupDigits(s string) string {
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s, frac = s[:i], s[i:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + frac
}

// WriteHist prints h in bpftrace's hist()/lhist() text layout
// (src/output/text.cpp TextEmitter<Value::Histogram>): the map name line
// "@name:" or "@name[key]:", then per bucket the label left-aligned in 16,
// the count right-aligned in 8, " |", a bar of '@' left-aligned in 52 and
// "|"; the bar is count/max·52 computed in float and truncated, as
// bpftrace does. Labels are "[v]" for a single value, "[lo, hi)" for a
// range with K/M/G suffixes on powers of two, "[max, ...)" for an lhist's
// overflow bucket (textBuckets says which buckets). Log2 histograms get a quantile line
// ("p50 < 8K, p99 < 16K, count 4666") after the buckets.
func WriteHist(w io.Writer, h Hist) {
	name := "@" + h.Name
	if h.Key != "" {
		name += "[" + h.Key + "]"
	}
	fmt.Fprintf(w, "%s:\n", name)
	var maxCount uint64
	for _, b := range h.Buckets {
		maxCount = max(maxCount, b.Count)
	}
	for _, b := range h.textBuckets() {
		bar := 0
		if maxCount > 0 {
			bar = int(float32(float32(b.count)/float32(maxCount)) * 52)
		}
		fmt.Fprintf(w, "%-16s%8d |%-52s|\n", b.label, b.count, strings.Repeat("@", bar))
	}
	if h.Log2 {
		_, p50, _ := h.Quantile(0.50)
		_, p99, ok := h.Quantile(0.99)
		if ok {
			fmt.Fprintf(w, "p50 < %s, p99 < %s, count %d\n", pow2(p50), pow2(p99), h.Total())
		}
	}
}

// lhistMax names the exact histograms printed as bpftrace's
// lhist(v, 0, max, 1) and their max: @tlb_flush_pages is the one-liner
// tracepoint:tlb:tlb_flush { @[args.reason] = lhist(args.pages, 0, 64, 1) },
// in which TLB_FLUSH_ALL (pages = -1UL, include/trace/events/tlb.h
// prints it unsigned) lands in the overflow bucket [64, ...).
var lhistMax = map[string]int64{"tlb_flush_pages": 64}

type textBucket struct {
	label string
	count uint64
}

// textBuckets are the lines WriteHist prints: every bucket from the lowest
// to the highest non-empty one, the empty ones between with count 0, as
// bpftrace's text output prints hist() and lhist() (it walks from the
// first to the last non-zero bucket index). A log2 histogram's buckets
// are [0], [1], [2, 4), …; an exact one's are the integers (lhist with
// step 1), with values ≥ max and FULL in the overflow bucket [max, ...)
// when it has an lhist max (lhistMax), else FULL as [FULL].
func (h Hist) textBuckets() []textBucket {
	var out []textBucket
	if h.Log2 {
		for i, b := range h.Buckets {
			if i > 0 {
				prev := h.Buckets[i-1].Value
				if prev >= 0 {
					for v := nextLog2(prev); v < b.Value; v = nextLog2(v) {
						out = append(out, textBucket{h.label(v), 0})
					}
				}
			}
			out = append(out, textBucket{h.label(b.Value), b.Count})
		}
		return out
	}
	over, lhist := lhistMax[h.Name]
	var overCount uint64
	next, started := int64(0), false
	for _, b := range h.Buckets {
		switch {
		case lhist && (b.Value < 0 || b.Value >= over):
			overCount += b.Count
			continue
		case b.Value < 0:
			out = append(out, textBucket{h.label(b.Value), b.Count})
			continue
		}
		for ; started && next < b.Value; next++ {
			out = append(out, textBucket{h.label(next), 0})
		}
		out = append(out, textBucket{h.label(b.Value), b.Count})
		next, started = b.Value+1, true
	}
	if overCount > 0 {
		for ; started && next < over; next++ {
			out = append(out, textBucket{h.label(next), 0})
		}
		out = append(out, textBucket{"[" + strconv.FormatInt(over, 10) + ", ...)", overCount})
	}
	return out
}

// nextLog2 is the low bound of the log2 bucket after the one starting at
// v ≥ 0: [0], [1], [2, 4), [4, 8), …
func nextLog2(v int64) int64 {
	if v == 0 {
		return 1
	}
	return 2 * v
}

func (h Hist) label(v int64) string {
	switch {
	case v == -1:
		return "[FULL]"
	case h.Log2 && v > 1:
		return "[" + pow2(v) + ", " + pow2(2*v) + ")"
	}
	return "[" + strconv.FormatInt(v, 10) + "]"
}

// pow2 formats a bucket bound with bpftrace's binary suffixes.
func pow2(v int64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return strconv.FormatInt(v>>30, 10) + "G"
	case v >= 1<<20 && v%(1<<20) == 0:
		return strconv.FormatInt(v>>20, 10) + "M"
	case v >= 1<<10 && v%(1<<10) == 0:
		return strconv.FormatInt(v>>10, 10) + "K"
	}
	return strconv.FormatInt(v, 10)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
