// Package report turns a run's counters into what kernel developers read: a
// perf-stat block, bpftrace-style histograms, and machine formats.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Result is one run (or the mean of repeated runs) of a workload.
type Result struct {
	Tool     string    `json:"tool"`
	Version  string    `json:"emu_version"`
	Command  string    `json:"command"`
	Config   []KV      `json:"-"`
	Counters []Counter `json:"-"`
	TLBIRQs  []uint64  `json:"-"` // /proc/interrupts TLB row, per CPU
	Hists    []Hist    `json:"-"`
	Runs     int       `json:"runs"`
	Error    string    `json:"error,omitempty"`
}

// KV is one configuration setting.
type KV struct {
	Key   string
	Value any
}

// Counter is one named count. Stddev is the sample standard deviation over
// repeated runs (0 for one run).
type Counter struct {
	Name   string
	Value  float64
	Unit   string
	Stddev float64
	Runs   int
}

// Hist is a histogram: exact buckets, or log2 buckets [v, 2v) when Log2.
type Hist struct {
	Name    string
	Key     string
	Log2    bool
	Buckets []Bucket
}

// Bucket is one histogram bucket; Value -1 is the FULL flush bucket.
type Bucket struct {
	Value int64
	Count uint64
}

// commas formats n with thousands separators, as perf stat's big-num mode.
func commas(v float64) string {
	if v != float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	n := int64(v)
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// relStderr is perf stat's "( +- x.xx% )": the standard error of the mean
// relative to the mean, in percent (tools/perf/util/stat.c rel_stddev_stats).
func relStderr(c Counter) float64 {
	if c.Runs < 2 || c.Value == 0 {
		return 0
	}
	return 100 * c.Stddev / sqrt(float64(c.Runs)) / c.Value
}

func sqrt(x float64) float64 {
	if x <= 0 {
		return 0
	}
	z := x
	for i := 0; i < 60; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// WriteText writes the perf-stat block, the /proc/interrupts TLB row and the
// histograms.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	runs := ""
	if r.Runs > 1 {
		runs = fmt.Sprintf(" (%d runs)", r.Runs)
	}
	fmt.Fprintf(ew, " Performance counter stats for '%s'%s:\n\n", r.Command, runs)
	for _, c := range r.Counters {
		line := fmt.Sprintf("%18s      %-34s", commas(c.Value), c.Name)
		if rs := relStderr(c); r.Runs > 1 && c.Value != 0 {
			line += fmt.Sprintf("  ( +- %5.2f%% )", rs)
		}
		fmt.Fprintln(ew, strings.TrimRight(line, " "))
	}
	if len(r.TLBIRQs) > 0 {
		fmt.Fprintln(ew)
		var hdr, row strings.Builder
		hdr.WriteString("     ")
		row.WriteString(" TLB:")
		for i, n := range r.TLBIRQs {
			fmt.Fprintf(&hdr, "%11s", fmt.Sprintf("CPU%d", i))
			fmt.Fprintf(&row, "%10d ", n)
		}
		fmt.Fprintln(ew, hdr.String())
		fmt.Fprintln(ew, row.String()+"  TLB shootdowns")
	}
	for _, h := range r.Hists {
		if len(h.Buckets) == 0 {
			continue
		}
		fmt.Fprintln(ew)
		writeHist(ew, h)
	}
	return ew.err
}

// writeHist prints h in bpftrace's hist()/lhist() layout (src/output/text.cpp):
// label left-aligned in 16, count right-aligned in 8, " |", a bar of '@'
// scaled to 52, "|".
func writeHist(w io.Writer, h Hist) {
	name := "@" + h.Name
	if h.Key != "" {
		name += "[" + h.Key + "]"
	}
	fmt.Fprintf(w, "%s:\n", name)
	var max uint64
	for _, b := range h.Buckets {
		if b.Count > max {
			max = b.Count
		}
	}
	for _, b := range h.Buckets {
		var label string
		switch {
		case b.Value == -1:
			label = "[FULL]"
		case h.Log2 && b.Value > 0:
			label = fmt.Sprintf("[%s, %s)", pow2(b.Value), pow2(2*b.Value))
		default:
			label = fmt.Sprintf("[%d]", b.Value)
		}
		bar := int(b.Count * 52 / max)
		fmt.Fprintf(w, "%-16s%8d |%-52s|\n", label, b.Count, strings.Repeat("@", bar))
	}
}

// pow2 formats a power of two with bpftrace's binary suffixes.
func pow2(v int64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%dG", v>>30)
	case v >= 1<<20 && v%(1<<20) == 0:
		return fmt.Sprintf("%dM", v>>20)
	case v >= 1<<10 && v%(1<<10) == 0:
		return fmt.Sprintf("%dK", v>>10)
	}
	return strconv.FormatInt(v, 10)
}

type jsonHistBucket struct {
	Min   int64  `json:"min"`
	Max   int64  `json:"max"`
	Count uint64 `json:"count"`
}

type jsonHist struct {
	Name string           `json:"name"`
	Key  string           `json:"key,omitempty"`
	Data []jsonHistBucket `json:"data"`
}

// WriteJSON writes r as one JSON object with the config, the counters map
// keyed by counter name, per-CPU rows and the histograms ({min,max,count}
// buckets as bpftrace -f json; max is inclusive; FULL is min=max=-1).
func WriteJSON(w io.Writer, r *Result) error {
	cfg := map[string]any{}
	for _, kv := range r.Config {
		cfg[kv.Key] = kv.Value
	}
	counters := map[string]any{}
	for _, c := range r.Counters {
		if r.Runs > 1 {
			counters[c.Name] = map[string]float64{"mean": c.Value, "stddev": c.Stddev}
		} else {
			counters[c.Name] = c.Value
		}
	}
	perCPU := []map[string]uint64{}
	for i, n := range r.TLBIRQs {
		perCPU = append(perCPU, map[string]uint64{"cpu": uint64(i), "interrupts.TLB": n})
	}
	hists := []jsonHist{}
	for _, h := range r.Hists {
		jh := jsonHist{Name: h.Name, Key: h.Key, Data: []jsonHistBucket{}}
		for _, b := range h.Buckets {
			hi := b.Value
			if h.Log2 && b.Value > 0 {
				hi = 2*b.Value - 1
			}
			jh.Data = append(jh.Data, jsonHistBucket{b.Value, hi, b.Count})
		}
		hists = append(hists, jh)
	}
	out := map[string]any{
		"tool": r.Tool, "emu_version": r.Version, "command": r.Command, "runs": r.Runs,
		"config": cfg, "counters": counters, "per_cpu": perCPU, "histograms": hists,
	}
	if r.Error != "" {
		out["error"] = r.Error
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
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
