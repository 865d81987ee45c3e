package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// traceEvent is one trace event as a viewer reads it; ts and dur stay
// json.Numbers so that they convert to whole ns exactly.
type traceEvent struct {
	Ph   string                     `json:"ph"`
	Pid  int                        `json:"pid"`
	Tid  int                        `json:"tid"`
	Ts   json.Number                `json:"ts"`
	Dur  json.Number                `json:"dur"`
	ID   uint64                     `json:"id"`
	Bp   string                     `json:"bp"`
	Cat  string                     `json:"cat"`
	Name string                     `json:"name"`
	Args map[string]json.RawMessage `json:"args"`
}

// ns converts a µs value with at most three decimals to ns, exactly.
func ns(t *testing.T, n json.Number) int64 {
	t.Helper()
	s := string(n)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		t.Fatalf("time %s has more than ns precision", s)
	}
	frac += strings.Repeat("0", 3-len(frac))
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad time %q", s)
	}
	return w*1000 + f
}

type slice struct {
	start, end int64
	cat, name  string
}

// runTrace runs emu with -trace and -json and returns the parsed trace
// and the result's counters (summed over the runs).
func runTrace(t *testing.T, extra ...string) ([]traceEvent, map[string]float64) {
	t.Helper()
	dir := t.TempDir()
	tr, out := filepath.Join(dir, "t.json"), filepath.Join(dir, "r.json")
	a := append([]string{"-q", "-json", "-o", out, "-trace", tr}, extra...)
	if code, _, e := emu(t, a...); code != 0 {
		t.Fatalf("emu %v: exit %d: %s", a, code, e)
	}
	data, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []traceEvent `json:"traceEvents"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("trace is not JSON: %v", err)
	}
	res, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Counters map[string]struct {
			Samples []json.Number `json:"samples"`
		} `json:"counters"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	c := map[string]float64{}
	for name, x := range r.Counters {
		for _, n := range x.Samples {
			v, err := n.Float64()
			if err != nil {
				t.Fatalf("counter %s sample %q", name, n)
			}
			c[name] += v
		}
	}
	return doc.TraceEvents, c
}

// enclosing returns the innermost slice of ss (sorted by start, nesting)
// that contains time at, start ≤ at ≤ end.
func enclosing(ss []slice, at int64) (slice, bool) {
	var best slice
	found := false
	for _, s := range ss {
		if s.start > at {
			break
		}
		if at <= s.end && (!found || s.end-s.start <= best.end-best.start) {
			best, found = s, true
		}
	}
	return best, found
}

// TestTraceStructure parses a hazard run's trace back (clear_refs on
// v5.10, 4 CPUs, two seeds) and checks what a viewer relies on: the
// slices of every thread nest perfectly in integer ns; every flow start
// ("s", in a flush_tlb_mm_range) has exactly one end ("f", bound to the
// enclosing call_function_interrupt of another CPU, no earlier), one flow
// per IPI sent; the tlb_flush_pending, mmap_lock and ptl_waiters counter
// tracks exist, never go back in time or below zero, and end at zero;
// stale-TLB stores are marked as instants inside user time, the first N.
func TestTraceStructure(t *testing.T) {
	const marks = 7
	evs, counters := runTrace(t, "-workload", "clear_refs", "-kernel", "5.10", "-cpus", "4", "-r", "2", "-trace-stale-stores", strconv.Itoa(marks))
	type thread struct{ pid, tid int }
	slices := map[thread][]slice{}
	for _, e := range evs {
		if e.Ph == "X" {
			s := ns(t, e.Ts)
			d := ns(t, e.Dur)
			if d < 0 {
				t.Errorf("slice %s at %d has duration %d", e.Name, s, d)
			}
			slices[thread{e.Pid, e.Tid}] = append(slices[thread{e.Pid, e.Tid}], slice{s, s + d, e.Cat, e.Name})
		}
	}
	if len(slices) < 8 {
		t.Fatalf("%d threads with slices, want 4 CPUs × 2 runs", len(slices))
	}
	for th, ss := range slices {
		sort.SliceStable(ss, func(i, j int) bool {
			if ss[i].start != ss[j].start {
				return ss[i].start < ss[j].start
			}
			return ss[i].end > ss[j].end
		})
		var open []slice
		for _, s := range ss {
			for len(open) > 0 && open[len(open)-1].end <= s.start {
				open = open[:len(open)-1]
			}
			if len(open) > 0 && s.end > open[len(open)-1].end {
				t.Fatalf("pid %d tid %d: %s [%d, %d] overlaps %s [%d, %d] without nesting",
					th.pid, th.tid, s.name, s.start, s.end, open[len(open)-1].name, open[len(open)-1].start, open[len(open)-1].end)
			}
			open = append(open, s)
		}
	}

	// Flows.
	type end struct {
		th thread
		at int64
	}
	outs, ins := map[uint64][]end{}, map[uint64][]end{}
	for _, e := range evs {
		switch e.Ph {
		case "s":
			outs[e.ID] = append(outs[e.ID], end{thread{e.Pid, e.Tid}, ns(t, e.Ts)})
		case "f":
			if e.Bp != "e" {
				t.Errorf("flow end %d binds to %q, want the enclosing slice (bp e)", e.ID, e.Bp)
			}
			ins[e.ID] = append(ins[e.ID], end{thread{e.Pid, e.Tid}, ns(t, e.Ts)})
		}
	}
	if want := counters["emu_ipis_sent"]; float64(len(outs)) != want || want == 0 {
		t.Errorf("%d flows, want one per IPI sent (%v in both runs)", len(outs), want)
	}
	for id, o := range outs {
		in := ins[id]
		if len(o) != 1 || len(in) != 1 {
			t.Errorf("flow %d has %d starts and %d ends, want 1 and 1", id, len(o), len(in))
			continue
		}
		s, f := o[0], in[0]
		if s.th.pid != f.th.pid || s.th.tid == f.th.tid || f.at < s.at {
			t.Errorf("flow %d goes from %v at %d to %v at %d", id, s.th, s.at, f.th, f.at)
		}
		if sl, ok := enclosing(slices[s.th], s.at); !ok || sl.name != "flush_tlb_mm_range" {
			t.Errorf("flow %d starts in %+v, want flush_tlb_mm_range", id, sl)
		}
		if sl, ok := enclosing(slices[f.th], f.at); !ok || sl.name != "call_function_interrupt" || f.at == sl.start {
			t.Errorf("flow %d ends in %+v at %d, want strictly inside call_function_interrupt", id, sl, f.at)
		}
	}
	for id := range ins {
		if outs[id] == nil {
			t.Errorf("flow %d ends but never starts", id)
		}
	}

	// Counter tracks.
	type track struct {
		pid  int
		name string
	}
	last := map[track]int64{}
	final := map[track]map[string]int64{}
	for _, e := range evs {
		if e.Ph != "C" {
			continue
		}
		k := track{e.Pid, e.Name}
		at := ns(t, e.Ts)
		if p, ok := last[k]; ok && at < p {
			t.Errorf("counter %s goes back from %d to %d", e.Name, p, at)
		}
		last[k] = at
		vals := map[string]int64{}
		for key, raw := range e.Args {
			v, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil || v < 0 {
				t.Errorf("counter %s %s = %s, want a count ≥ 0", e.Name, key, raw)
			}
			vals[key] = v
		}
		final[k] = vals
	}
	for _, prefix := range []string{"tlb_flush_pending mm", "mmap_lock mm", "ptl_waiters"} {
		for pid := 1; pid <= 2; pid++ {
			n := 0
			for k, v := range final {
				if k.pid == pid && strings.HasPrefix(k.name, prefix) {
					n++
					for key, x := range v {
						if x != 0 {
							t.Errorf("run %d: counter %s %s ends at %d, want 0", pid, k.name, key, x)
						}
					}
				}
			}
			if n == 0 {
				t.Errorf("run %d has no %q counter track", pid, prefix)
			}
		}
	}

	// Stale-store instants.
	stale := map[int]int{}
	for _, e := range evs {
		if e.Ph != "i" {
			continue
		}
		if e.Cat != "hazard" || !strings.HasPrefix(e.Name, "emu_") {
			t.Errorf("instant %s/%s, want a hazard counter name", e.Cat, e.Name)
		}
		stale[e.Pid]++
		at := ns(t, e.Ts)
		if sl, ok := enclosing(slices[thread{e.Pid, e.Tid}], at); !ok || sl.cat != "user" {
			t.Errorf("stale store at %d on CPU %d is in %+v, want user time", at, e.Tid, sl)
		}
		if _, ok := e.Args["addr"]; !ok {
			t.Errorf("stale-store instant without addr: %+v", e)
		}
	}
	if counters["emu_stale_tlb_writes"] < 2*marks {
		t.Fatalf("emu_stale_tlb_writes = %v: the v5.10 clear_refs hole did not show", counters["emu_stale_tlb_writes"])
	}
	for pid := 1; pid <= 2; pid++ {
		if stale[pid] != marks {
			t.Errorf("run %d marks %d stale stores, want the first %d", pid, stale[pid], marks)
		}
	}
}

// TestTraceStaleStoresFlag: 0 marks none, and the bound is checked.
func TestTraceStaleStoresFlag(t *testing.T) {
	evs, _ := runTrace(t, append(small[:len(small):len(small)], "-trace-stale-stores", "0")...)
	for _, e := range evs {
		if e.Ph == "i" {
			t.Fatalf("-trace-stale-stores 0 marked %+v", e)
		}
	}
	code, _, e := emu(t, args("-trace-stale-stores", "-1")...)
	if code != 2 || !strings.HasPrefix(e, "emu: -trace-stale-stores must be 0..") {
		t.Errorf("-trace-stale-stores -1: exit %d, %q", code, e)
	}
}

// TestDashIsStdout: "-o -" writes the result to stdout and "-trace -"
// the trace (with the result in a file), in every command that has them;
// no file named "-" is made, and "-" for any other output is refused, as
// is a second writer of stdout.
func TestDashIsStdout(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, a := range [][]string{args("-o", "-"), append([]string{"ab", "-patch", "clear-refs-flush"}, args("-o", "-")...),
		append([]string{"ab", "-patch", "clear-refs-flush"}, args("-json", "-o", "-")...)} {
		code, out, e := emu(t, a...)
		if code != 0 || !strings.Contains(out, "status: completed") && !strings.Contains(out, `"status": "completed"`) && !strings.Contains(out, "verdict") {
			t.Errorf("%v: exit %d, stderr %q, stdout %.200q", a, code, e, out)
		}
	}
	res := filepath.Join(dir, "r.txt")
	code, out, e := emu(t, args("-trace", "-", "-o", res)...)
	if code != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, `"traceEvents"`) {
		t.Errorf("-trace -: exit %d, stderr %q, stdout not a trace: %.200q", code, e, out)
	}
	if b, err := os.ReadFile(res); err != nil || !bytes.Contains(b, []byte("status: completed")) {
		t.Errorf("-o %s beside -trace -: %v %.100q", res, err, b)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args("-trace", "-"), "emu: -trace - and the result would both go to stdout"},
		{args("-trace", "-", "-o", "-"), "emu: -trace - and the result would both go to stdout"},
		{[]string{"run", "-trace", "-", "-o", res, "/bin/true"}, "emu: -trace -: under emu run stdout is the program's"},
		{args("-cpuprofile", "-"), "emu: -cpuprofile -: - (stdout) is for -o and -trace only"},
		{args("-memprofile", "-"), "emu: -memprofile -: - (stdout) is for -o and -trace only"},
		{args("-plot", "-"), `emu: -plot: plot file "-": unknown image type`},
		{[]string{"compare", "-plot", "-", res, res}, `emu: -plot: plot file "-": unknown image type`},
	} {
		code, _, e := emu(t, tc.args...)
		if code != exitUsage || !strings.HasPrefix(e, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, e, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); err == nil {
		t.Error("a file named - was made")
	}
}
