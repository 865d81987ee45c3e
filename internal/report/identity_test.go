package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

func testIdentity() *Identity {
	return &Identity{
		Args: []string{"-q", "-iterations", "2", "-thp", "-tlb", "zen4"}, Version: "test",
		Workload: "clear_refs", Threads: 1, Pages: 64, Iterations: 2, DefThreads: 1, DefPages: 1024, DefIterations: 8,
		CPUs: 2, Seed: 1, Kernel: DefaultKernel, Patches: []string{}, THP: true, TLB: "zen4", PCID: true,
		Quantum: DefaultQuantum, FlushCeil: DefaultFlushCeil, MemMiB: DefaultMemMiB, Costs: "c.txt",
		CostsSHA256: "0123456789abcdef0123", MaxCycles: DefaultMaxCycles, DefMaxCycles: DefaultMaxCycles,
	}
}

// TestIdentityConfigRoundTrip: a result written to JSON and read back has
// the same identity config and variant.
func TestIdentityConfigRoundTrip(t *testing.T) {
	r := fixture(1, "", 1)
	r.SetIdentity(testIdentity())
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&b, "x.json")
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != nil {
		t.Fatal("a read result has an ID")
	}
	got := back.Identity().Config()
	if !reflect.DeepEqual(formatKVs(got), formatKVs(r.Config)) {
		t.Errorf("config after round trip:\n%v\nwant\n%v", got, r.Config)
	}
	if back.Variant() != "5.10+thp" || back.Command != "emu -q -iterations 2 -thp -tlb zen4" {
		t.Errorf("variant %q, command %q", back.Variant(), back.Command)
	}
}

func formatKVs(kv []KV) []string {
	var out []string
	for _, e := range kv {
		out = append(out, e.Key+"="+formatValue(e.Value))
	}
	return out
}

// TestIdentityBenchNotPooled: two variants written with WriteBench and read
// by the benchfmt reader stay apart (distinct names), and a setting at its
// default is not in the name.
func TestIdentityBenchNotPooled(t *testing.T) {
	plain := testIdentity()
	plain.THP, plain.TLB, plain.Costs, plain.CostsSHA256 = false, DefaultTLB, DefaultCostsLabel, ""
	plain.Pages, plain.Iterations = plain.DefPages, plain.DefIterations
	thp := *plain
	thp.THP = true
	zen := *plain
	zen.TLB = "zen4"
	var b bytes.Buffer
	for _, id := range []*Identity{plain, &thp, &zen} {
		r := fixture(2, "", 1)
		r.SetIdentity(id)
		if err := WriteBench(&b, r); err != nil {
			t.Fatal(err)
		}
	}
	rd := benchfmt.NewReader(&b, "three.bench")
	count := map[string]int{}
	for rd.Scan() {
		if rec, ok := rd.Result().(*benchfmt.Result); ok {
			count[string(rec.Name.Full())]++
		}
	}
	want := map[string]int{
		"Workload/workload=clear_refs/cpus=2/kernel=5.10/patch=none":          2,
		"Workload/workload=clear_refs/cpus=2/kernel=5.10/patch=none/thp=on":   2,
		"Workload/workload=clear_refs/cpus=2/kernel=5.10/patch=none/tlb=zen4": 2,
	}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("names read: %v\nwant %v", count, want)
	}
}

// TestIdentityHeader: the header quotes the command as run and lists
// every non-default setting.
func TestIdentityHeader(t *testing.T) {
	r := fixture(1, "", 1)
	r.SetIdentity(testIdentity())
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(b.Bytes(), []byte("\n"))
	want := " Emulated counter stats for 'emu -q -iterations 2 -thp -tlb zen4' (cpus=2, seed=1, workload=clear_refs, kernel=5.10+thp, pages=64, iterations=2, tlb=zen4, costs=c.txt@0123456789ab):"
	if string(line) != want {
		t.Errorf("header\n%s\nwant\n%s", line, want)
	}
	if got := (&Identity{Args: []string{"run", "./a b", "it's"}}).CommandLine(); got != `emu run './a b' 'it'\''s'` {
		t.Errorf("CommandLine %s", got)
	}
}

// hazardResult is a result of runs whose emu_stale_tlb_writes samples are
// given.
func hazardResult(patch string, stale ...float64) *Result {
	r := fixture(len(stale), patch, 1)
	i := indexCounter(r.Counters, "emu_stale_tlb_writes")
	copy(r.Counters[i].Samples, stale)
	return r
}

// TestVerdicts: the fail:runs block and the verdict lines are computed
// from the hazard counters' samples.
func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		a, b     []float64
		row      string
		verdicts string
	}{
		{[]float64{40050, 40050}, []float64{0, 0},
			"          2:2         -100%            :2     emu_stale_tlb_writes",
			"verdict: emu_stale_tlb_writes 40,050 → 0: the hole closes"},
		{[]float64{0, 0, 0, 0}, []float64{0, 3, 0, 0},
			"           :4           25%           1:4     emu_stale_tlb_writes",
			"verdict: emu_stale_tlb_writes 0 → 0.75: a hole opens"},
		{[]float64{10, 20}, []float64{5, 5},
			"          2:2            0%           2:2     emu_stale_tlb_writes",
			"verdict: emu_stale_tlb_writes 15 → 5: fewer, but the hole stays open"},
	} {
		c, err := Compare([]*Result{hazardResult("", tc.a...), hazardResult("pte-fault-flush-pending", tc.b...)}, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		out := string(render(t, func(b *bytes.Buffer) error { return WriteCompare(b, c) }))
		if !strings.Contains(out, "       fail:runs  %reproduction    fail:runs\n") || !strings.Contains(out, "\n"+tc.row+"\n") {
			t.Errorf("no row %q in\n%s", tc.row, out)
		}
		if !strings.HasSuffix(out, tc.verdicts+"\n") {
			t.Errorf("does not end in %q:\n%s", tc.verdicts, out)
		}
	}
}

// TestPlotRowsKeepHazards: with more differing counters than panels, the
// hazard counters are still plotted, and the panel count stays bounded.
func TestPlotRowsKeepHazards(t *testing.T) {
	mk := func(scale float64) *Result {
		r := &Result{Tool: "emu", Version: "test", Workload: "w"}
		var s []Sample
		for i := range 20 {
			s = append(s, Sample{Name: "c" + string(rune('a'+i)), Value: scale * float64(i+1)})
		}
		s = append(s, Sample{Name: "emu_lost_soft_dirty", Value: 100 * (2 - scale)}, Sample{Name: "emu_missed_uffd_wp"})
		r.AddRun(1, s, nil, nil)
		return r
	}
	c, err := Compare([]*Result{mk(1), mk(2)}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	rows := plotRows(c, 16)
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	if len(rows) != 16 || names[14] != "emu_lost_soft_dirty" || names[15] != "emu_missed_uffd_wp" {
		t.Errorf("panels %v", names)
	}
	var b bytes.Buffer
	if err := PlotCompare(&b, "svg", c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "emu_lost_soft_dirty") {
		t.Error("the SVG has no emu_lost_soft_dirty panel")
	}
}

// TestTraceIntegerNesting: spans that abut or nest in cycles abut or nest
// in the trace's ns, although 2 cycles round up to 1 ns and 4 down to 1.
func TestTraceIntegerNesting(t *testing.T) {
	var b bytes.Buffer
	tw := NewTraceWriter(&b)
	tw.Event(1, 0, "c", "a", 2, 2, nil)     // [0.67, 1.33) ns
	tw.Event(1, 0, "c", "b", 4, 2, nil)     // abuts a
	tw.Event(1, 0, "c", "p", 10, 3000, nil) // parent
	tw.Event(1, 0, "c", "k", 11, 2998, nil) // child ending with the parent
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Ph, Name string
			Ts, Dur  json.Number
		} `json:"traceEvents"`
	}
	dec := json.NewDecoder(&b)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	ns := func(n json.Number) int64 { // "1.234" µs → 1234 ns, exactly
		s := strings.Replace(string(n), ".", "", 1)
		var v int64
		for _, c := range s {
			v = 10*v + int64(c-'0')
		}
		return v
	}
	span := map[string][2]int64{}
	for _, ev := range doc.TraceEvents {
		if ev.Ph == "X" {
			span[ev.Name] = [2]int64{ns(ev.Ts), ns(ev.Ts) + ns(ev.Dur)}
		}
	}
	if span["a"][1] > span["b"][0] {
		t.Errorf("a %v overlaps b %v", span["a"], span["b"])
	}
	if span["k"][0] < span["p"][0] || span["k"][1] > span["p"][1] {
		t.Errorf("k %v is not inside p %v", span["k"], span["p"])
	}
}

// TestPerfJSON: -format perf-json is perf stat -j: one object per line,
// counter-value a string, variance with several runs, event-runtime and
// pcnt-running, the metric where there is one.
func TestPerfJSON(t *testing.T) {
	for _, runs := range []int{1, 3} {
		out := render(t, func(b *bytes.Buffer) error { return WritePerfJSON(b, fixture(runs, "", 1)) })
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != 7 {
			t.Fatalf("%d lines, want one per counter (7)", len(lines))
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			if _, ok := m["counter-value"].(string); !ok {
				t.Errorf("counter-value is not a string: %s", l)
			}
			if _, ok := m["variance"]; ok != (runs > 1) {
				t.Errorf("runs %d: variance present %v: %s", runs, ok, l)
			}
			if m["pcnt-running"] != 100.0 || m["event-runtime"] == nil {
				t.Errorf("no runtime: %s", l)
			}
		}
		if runs == 1 && lines[1] != `{"counter-value" : "4.000000", "unit" : "", "event" : "nr_tlb_remote_flush_received", "event-runtime" : 7558617, "pcnt-running" : 100.00, "metric-value" : "1.333333", "metric-unit" : "per remote flush"}` {
			t.Errorf("line %s", lines[1])
		}
	}
}

// TestSVGEmbedsFonts: an SVG plot carries its font, so that a viewer
// without Liberation Serif lays the titles out as they were measured.
func TestSVGEmbedsFonts(t *testing.T) {
	var b bytes.Buffer
	if err := PlotHists(&b, "svg", fixture(1, "", 1)); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.Contains(s, "@font-face") || !strings.Contains(s, "font/ttf;base64,") && !strings.Contains(s, ";base64,") {
		t.Errorf("the SVG embeds no font (%d bytes)", len(s))
	}
}
