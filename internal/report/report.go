// Package report turns runs' counters into what kernel developers read: a
// perf-stat block, bpftrace-style histograms, the LKP %change table, and the
// machine formats (JSON, perf -x CSV, Go benchmark format for benchstat),
// plots and Chrome trace-event timelines.
//
// The package knows nothing about the emulator: callers fill a Result with
// named samples, one AddRun per run. Formats follow the tools users already
// have: perf stat (tools/perf/util/stat-display.c), bpftrace's hist()/lhist()
// text and JSON, LKP's compare tables (lkp-tests lib/compare.rb), Go's
// benchmark format (golang.org/x/perf/benchfmt), each cited where it applies.
package report

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// FormatVersion is the version of the JSON schema written by WriteJSON.
// ReadJSON refuses other versions.
const FormatVersion = 1

// CyclesPerMicrosecond converts emulated cycles to time: the cost model's
// reference clock is 3.0 GHz (the clock every cycle default in tlb, ipi and
// kernelmodel converts ns at).
const CyclesPerMicrosecond = 3000

// Result is one configuration run one or more times (perf stat -r): the
// samples of every counter, one per run, and histograms summed over runs.
type Result struct {
	Tool     string   // "emu"
	Version  string   // emu version that produced it
	Command  string   // the command line, for the header
	Workload string   // workload or program name
	Config   []KV     // every setting that shapes the run, in display order
	Seeds    []uint64 // the seed of each run, in run order
	Counters []Counter
	PerCPU   []CPURow
	Hists    []Hist
	Error    string // why the last run failed, if it did
	// Status is how the runs ended, for the text report's last line:
	// "completed", "stopped at max-cycles …", "hazard at …",
	// "interrupted", "timeout …" or "failed: …"; "" if not known.
	Status string
	// ID is the run identity Command, Workload, Version and Config were
	// derived from (SetIdentity); nil for a result read from JSON.
	ID *Identity
}

// KV is one configuration setting. Value is a string, bool, integer or
// []string.
type KV struct {
	Key   string
	Value any
}

// Counter is one named count with one sample per run.
type Counter struct {
	Name    string
	Unit    string // "" for events, "cycles", "pages"
	Samples []float64
	// Exact holds the samples as integers when every one is an integer
	// count (a float64 holds integers exactly only up to 2^53); it is
	// valid only when it has one entry per sample (len(Exact) ==
	// len(Samples)), else the samples are only known as float64.
	Exact []uint64
}

// CPURow is one CPU's counters (e.g. the /proc/interrupts TLB column).
type CPURow struct {
	CPU      int
	Counters []Counter
}

// Hist is a histogram: exact buckets, or log2 buckets [v, 2v) when Log2.
type Hist struct {
	Name    string
	Key     string // map key, e.g. the flush reason enum name
	Log2    bool
	Buckets []Bucket // ascending by Value; -1 (FULL) first
}

// Bucket is one histogram bucket. Value is the exact value or the log2
// bucket's low bound; -1 is the FULL (TLB_FLUSH_ALL) bucket.
type Bucket struct {
	Value int64
	Count uint64
}

// Sample is one named value of one run, the input of AddRun.
type Sample struct {
	Name  string
	Unit  string
	Value float64
	count uint64 // Value exactly, when exact
	exact bool
}

// Count is the Sample of an integer count n, which every output prints
// exactly, above 2^53 too.
func Count(name, unit string, n uint64) Sample {
	return Sample{Name: name, Unit: unit, Value: float64(n), count: n, exact: true}
}

// Runs is the number of runs in r.
func (r *Result) Runs() int { return len(r.Seeds) }

// AddRun appends one run: its seed, counters, per-CPU counters (indexed by
// CPU) and histograms. The first run fixes the order of counters;
// a counter missing from a later run counts 0 there. Histograms with the
// same name and key are summed bucket by bucket.
func (r *Result) AddRun(seed uint64, counters []Sample, perCPU [][]Sample, hists []Hist) {
	n := len(r.Seeds)
	r.Seeds = append(r.Seeds, seed)
	r.Counters = addSamples(r.Counters, counters, n)
	for cpu, row := range perCPU {
		for len(r.PerCPU) <= cpu {
			r.PerCPU = append(r.PerCPU, CPURow{CPU: len(r.PerCPU)})
		}
		r.PerCPU[cpu].Counters = addSamples(r.PerCPU[cpu].Counters, row, n)
	}
	for i := range r.PerCPU {
		r.PerCPU[i].Counters = padSamples(r.PerCPU[i].Counters, n+1)
	}
	for _, h := range hists {
		r.mergeHist(h)
	}
}

// addSamples adds one run's values to cs, which holds n runs so far.
func addSamples(cs []Counter, in []Sample, n int) []Counter {
	for _, s := range in {
		i := indexCounter(cs, s.Name)
		if i < 0 {
			cs = append(cs, Counter{Name: s.Name, Unit: s.Unit, Samples: make([]float64, n), Exact: make([]uint64, n)})
			i = len(cs) - 1
		}
		c := &cs[i]
		if s.exact && len(c.Exact) == len(c.Samples) {
			c.Exact = append(c.Exact, s.count)
		} else {
			c.Exact = nil
		}
		c.Samples = append(c.Samples, s.Value)
	}
	return padSamples(cs, n+1)
}

func padSamples(cs []Counter, runs int) []Counter {
	for i := range cs {
		c := &cs[i]
		for len(c.Samples) < runs {
			if len(c.Exact) == len(c.Samples) {
				c.Exact = append(c.Exact, 0)
			}
			c.Samples = append(c.Samples, 0)
		}
	}
	return cs
}

func indexCounter(cs []Counter, name string) int {
	for i, c := range cs {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func (r *Result) mergeHist(h Hist) {
	for i := range r.Hists {
		g := &r.Hists[i]
		if g.Name != h.Name || g.Key != h.Key {
			continue
		}
		counts := map[int64]uint64{}
		for _, b := range g.Buckets {
			counts[b.Value] += b.Count
		}
		for _, b := range h.Buckets {
			counts[b.Value] += b.Count
		}
		g.Buckets = g.Buckets[:0]
		for v, c := range counts {
			g.Buckets = append(g.Buckets, Bucket{v, c})
		}
		sort.Slice(g.Buckets, func(i, j int) bool { return g.Buckets[i].Value < g.Buckets[j].Value })
		return
	}
	h.Buckets = append([]Bucket(nil), h.Buckets...)
	r.Hists = append(r.Hists, h)
}

// Counter returns the named counter.
func (r *Result) Counter(name string) (Counter, bool) {
	if i := indexCounter(r.Counters, name); i >= 0 {
		return r.Counters[i], true
	}
	return Counter{}, false
}

// Get returns the value of a configuration setting.
func (r *Result) Get(key string) (any, bool) {
	for _, kv := range r.Config {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// GetString returns a configuration setting formatted for display: lists
// joined with "+", an empty list as "none".
func (r *Result) GetString(key string) string {
	v, _ := r.Get(key)
	return formatValue(v)
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		if len(x) == 0 {
			return "none"
		}
		return strings.Join(x, "+")
	case []any:
		if len(x) == 0 {
			return "none"
		}
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = formatValue(e)
		}
		return strings.Join(s, "+")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "on"
		}
		return "off"
	}
	return fmt.Sprint(v)
}

// Mean is the arithmetic mean of the samples (0 for none).
func (c Counter) Mean() float64 {
	if len(c.Samples) == 0 {
		return 0
	}
	var s float64
	for _, v := range c.Samples {
		s += v
	}
	return s / float64(len(c.Samples))
}

// exactMean is the mean as an exact fraction, or nil when the samples are
// not all exact integers or when float64 already holds their sum exactly
// (below 2^53), so every value a float64 prints right keeps its float64
// formatting.
func (c Counter) exactMean() *big.Rat {
	if len(c.Samples) == 0 || len(c.Exact) != len(c.Samples) {
		return nil
	}
	var hi, lo uint64
	for _, v := range c.Exact {
		var carry uint64
		lo, carry = bits.Add64(lo, v, 0)
		hi += carry
	}
	if hi == 0 && lo < 1<<53 {
		return nil
	}
	sum := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
	sum.Or(sum, new(big.Int).SetUint64(lo))
	return new(big.Rat).SetFrac(sum, big.NewInt(int64(len(c.Exact))))
}

// meanText formats the mean with no decimals when it is an integer, else
// with prec decimals; exactly for counts above 2^53.
func (c Counter) meanText(prec int) string {
	if r := c.exactMean(); r != nil {
		if r.IsInt() {
			return r.Num().String()
		}
		return r.FloatString(prec)
	}
	v := c.Mean()
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// meanFixed formats the mean with prec decimals ("%.*f"), exactly for
// counts above 2^53.
func (c Counter) meanFixed(prec int) string {
	if r := c.exactMean(); r != nil {
		return r.FloatString(prec)
	}
	return strconv.FormatFloat(c.Mean(), 'f', prec, 64)
}

// meanScaled formats the mean divided by div with prec decimals, exactly
// for counts above 2^53 (the elapsed seconds of emu_elapsed_cycles).
func (c Counter) meanScaled(div float64, prec int) string {
	if r := c.exactMean(); r != nil {
		d := new(big.Rat)
		d.SetFloat64(div)
		return r.Quo(r, d).FloatString(prec)
	}
	scaled := Counter{Samples: make([]float64, len(c.Samples))}
	for i, v := range c.Samples {
		scaled.Samples[i] = v / div
	}
	return strconv.FormatFloat(scaled.Mean(), 'f', prec, 64)
}

// sampleText formats run i's sample as strconv's shortest form, exactly
// for an integer count.
func (c Counter) sampleText(i int) string {
	if len(c.Exact) == len(c.Samples) {
		return strconv.FormatUint(c.Exact[i], 10)
	}
	return strconv.FormatFloat(c.Samples[i], 'f', -1, 64)
}

// sameMean reports whether c and d have equal means, exactly when both are
// integer counts.
func (c Counter) sameMean(d Counter) bool {
	a, b := c.exactMean(), d.exactMean()
	if a == nil && len(c.Exact) == len(c.Samples) && len(c.Samples) > 0 {
		a = new(big.Rat).SetFloat64(c.Mean())
	}
	if b == nil && len(d.Exact) == len(d.Samples) && len(d.Samples) > 0 {
		b = new(big.Rat).SetFloat64(d.Mean())
	}
	if a != nil && b != nil {
		return a.Cmp(b) == 0
	}
	return c.Mean() == d.Mean()
}

// Stddev is the sample standard deviation (n-1), 0 for fewer than two
// samples.
func (c Counter) Stddev() float64 {
	n := len(c.Samples)
	if n < 2 {
		return 0
	}
	m := c.Mean()
	var ss float64
	for _, v := range c.Samples {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(n-1))
}

// RelStderr is perf stat's "( +- x.xx% )": the standard error of the mean
// relative to the mean, in percent (tools/perf/util/stat.c
// rel_stddev_stats: 100·sqrt(var/n)/mean with the n-1 sample variance).
// It is 0 for one run or a zero mean.
func (c Counter) RelStderr() float64 {
	m := c.Mean()
	if len(c.Samples) < 2 || m == 0 {
		return 0
	}
	return 100 * c.Stddev() / math.Sqrt(float64(len(c.Samples))) / m
}

// Total is the number of events in h.
func (h Hist) Total() uint64 {
	var n uint64
	for _, b := range h.Buckets {
		n += b.Count
	}
	return n
}

// Quantile returns the bucket holding the q-quantile (0 < q ≤ 1) of h,
// as its low and exclusive high bound. ok is false for an empty h.
func (h Hist) Quantile(q float64) (lo, hi int64, ok bool) {
	total := h.Total()
	if total == 0 {
		return 0, 0, false
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for _, b := range h.Buckets {
		seen += b.Count
		if seen >= rank {
			return b.Value, h.high(b.Value), true
		}
	}
	last := h.Buckets[len(h.Buckets)-1].Value
	return last, h.high(last), true
}

// high is the exclusive upper bound of the bucket starting at v.
func (h Hist) high(v int64) int64 {
	if h.Log2 && v > 0 {
		return 2 * v
	}
	return v + 1
}
