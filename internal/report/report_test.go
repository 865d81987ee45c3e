package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// fixture is a small, hand-made result: two runs of a 2-CPU machine.
func fixture(runs int, patch string, scale float64) *Result {
	r := &Result{Tool: "emu", Version: "test", Command: "emu -workload clear_refs", Workload: "clear_refs"}
	var patches []string
	if patch != "" {
		patches = []string{patch}
		r.Command += " -patch " + patch
	}
	r.Config = []KV{{"workload", "clear_refs"}, {"cpus", 2}, {"seed", uint64(1)}, {"kernel", "5.10"}, {"patches", patches}, {"pti", false}}
	for i := range runs {
		s := float64(i)
		r.AddRun(uint64(1+i), []Sample{
			{Name: "nr_tlb_remote_flush", Unit: "", Value: math.Round(scale * (3 + s))},
			{Name: "nr_tlb_remote_flush_received", Unit: "", Value: math.Round(scale * (4 + 2*s))},
			{Name: "interrupts.TLB", Unit: "", Value: math.Round(scale * (4 + 2*s))},
			{Name: "instructions", Unit: "", Value: 275402 + 100*s},
			{Name: "cycles", Unit: "cycles", Value: 25400786 + 1000*s},
			{Name: "emu_elapsed_cycles", Unit: "cycles", Value: 22675852 + 900*s},
			{Name: "emu_stale_tlb_writes", Unit: "", Value: 0},
		}, [][]Sample{
			{{Name: "interrupts.TLB", Unit: "", Value: 2 + s}, {Name: "cycles", Unit: "cycles", Value: 12e6}},
			{{Name: "interrupts.TLB", Unit: "", Value: 2 + s}, {Name: "cycles", Unit: "cycles", Value: 13e6}},
		}, []Hist{
			{Name: "tlb_flush_pages", Key: "TLB_REMOTE_SEND_IPI", Buckets: []Bucket{{-1, 1}, {1, uint64(2 * scale)}, {33, 1}}},
			{Name: "fault_cycles", Log2: true, Buckets: []Bucket{{2048, 493}, {4096, 4119}, {8192, 43}, {16384, 11}}},
		})
	}
	return r
}

func render(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	one, three := fixture(1, "", 1), fixture(3, "", 1)
	golden(t, "text.golden", render(t, func(b *bytes.Buffer) error { return WriteText(b, one) }))
	golden(t, "text_r3.golden", render(t, func(b *bytes.Buffer) error { return WriteText(b, three) }))
	golden(t, "json_r3.golden", render(t, func(b *bytes.Buffer) error { return WriteJSON(b, three) }))
	golden(t, "csv.golden", render(t, func(b *bytes.Buffer) error { return WriteCSV(b, one) }))
	golden(t, "csv_r3.golden", render(t, func(b *bytes.Buffer) error { return WriteCSV(b, three) }))
	golden(t, "bench.golden", render(t, func(b *bytes.Buffer) error { return WriteBench(b, one) }))

	c, err := Compare([]*Result{fixture(5, "", 1), fixture(5, "pte-fault-flush-pending", 100)}, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compare_r5.golden", render(t, func(b *bytes.Buffer) error { return WriteCompare(b, c) }))
	c, err = Compare([]*Result{one, fixture(1, "pte-fault-flush-pending", 100), fixture(1, "clear-refs-flush", 2)}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compare3.golden", render(t, func(b *bytes.Buffer) error { return WriteCompare(b, c) }))
}

func TestWriteHistLayout(t *testing.T) {
	// The empty buckets between [2, 4) and [2K, 4K) are printed, as
	// bpftrace's hist() does.
	h := Hist{Name: "x", Key: "K", Log2: true, Buckets: []Bucket{{0, 1}, {1, 3}, {2, 2}, {2048, 100}}}
	var b bytes.Buffer
	WriteHist(&b, h)
	want := "@x[K]:\n" +
		"[0]                    1 |                                                    |\n" +
		"[1]                    3 |@                                                   |\n" +
		"[2, 4)                 2 |@                                                   |\n" +
		"[4, 8)                 0 |                                                    |\n" +
		"[8, 16)                0 |                                                    |\n" +
		"[16, 32)               0 |                                                    |\n" +
		"[32, 64)               0 |                                                    |\n" +
		"[64, 128)              0 |                                                    |\n" +
		"[128, 256)             0 |                                                    |\n" +
		"[256, 512)             0 |                                                    |\n" +
		"[512, 1K)              0 |                                                    |\n" +
		"[1K, 2K)               0 |                                                    |\n" +
		"[2K, 4K)             100 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
		"p50 < 4K, p99 < 4K, count 106\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Exact-value histograms print as lhist(v, 0, max, 1): every integer
	// from the lowest to the highest value, the empty ones with 0.
	b.Reset()
	WriteHist(&b, Hist{Name: "y", Buckets: []Bucket{{1, 2}, {4, 1}}})
	if got, want := b.String(), "@y:\n"+
		"[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"+
		"[2]                    0 |                                                    |\n"+
		"[3]                    0 |                                                    |\n"+
		"[4]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"; got != want {
		t.Errorf("exact histogram:\n%s\nwant\n%s", got, want)
	}
	// @tlb_flush_pages is lhist(args.pages, 0, 64, 1): TLB_FLUSH_ALL
	// (-1UL) goes to the overflow bucket [64, ...), after the empty [62],
	// [63] that bpftrace prints before it.
	b.Reset()
	WriteHist(&b, Hist{Name: "tlb_flush_pages", Key: "TLB_LOCAL_MM_SHOOTDOWN", Buckets: []Bucket{{-1, 1}, {61, 2}}})
	if got, want := b.String(), "@tlb_flush_pages[TLB_LOCAL_MM_SHOOTDOWN]:\n"+
		"[61]                   2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"+
		"[62]                   0 |                                                    |\n"+
		"[63]                   0 |                                                    |\n"+
		"[64, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"; got != want {
		t.Errorf("lhist:\n%s\nwant\n%s", got, want)
	}
	b.Reset()
	WriteHist(&b, Hist{Name: "tlb_flush_pages", Buckets: []Bucket{{-1, 3}}})
	if got, want := b.String(), "@tlb_flush_pages:\n[64, ...)              3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"; got != want {
		t.Errorf("lhist of FULL only:\n%s\nwant\n%s", got, want)
	}
	// Layout: label 16, count 8, " |", 52, "|" (bpftrace text.cpp).
	for _, line := range strings.Split(strings.TrimSpace(want), "\n")[1:5] {
		if len(line) != 16+8+2+52+1 {
			t.Errorf("line %q is %d wide, want 79", line, len(line))
		}
	}
}

func TestRelStderr(t *testing.T) {
	// perf: stddev_stats = sqrt(var/n) with var the n-1 sample variance;
	// rel = 100·that/mean. Samples 2, 4, 6: mean 4, var 4, sqrt(4/3)/4.
	c := Counter{Samples: []float64{2, 4, 6}}
	want := 100 * math.Sqrt(4.0/3) / 4
	if got := c.RelStderr(); math.Abs(got-want) > 1e-12 {
		t.Errorf("RelStderr = %v, want %v", got, want)
	}
	if got := (Counter{Samples: []float64{5}}).RelStderr(); got != 0 {
		t.Errorf("one run: RelStderr = %v, want 0", got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := fixture(3, "clear-refs-flush", 1)
	first := render(t, func(b *bytes.Buffer) error { return WriteJSON(b, r) })
	back, err := ReadJSON(bytes.NewReader(first), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	second := render(t, func(b *bytes.Buffer) error { return WriteJSON(b, back) })
	if !bytes.Equal(first, second) {
		t.Errorf("JSON changed on a round trip:\n%s\n---\n%s", first, second)
	}
	if !json.Valid(first) {
		t.Error("WriteJSON wrote invalid JSON")
	}
}

func TestReadJSONErrors(t *testing.T) {
	good := render(t, func(b *bytes.Buffer) error { return WriteJSON(b, fixture(1, "", 1)) })
	for _, tc := range []struct {
		name, data, want string
	}{
		{"truncated", string(good[:len(good)/2]), "t.json: truncated or malformed JSON"},
		{"empty", "", "t.json: truncated or malformed JSON"},
		{"foreign object", `{"a": 1}`, "t.json: not an emu result"},
		{"foreign array", `[1, 2]`, "t.json: not an emu result"},
		{"wrong type", `{"tool": "emu", "runs": "x"}`, "t.json: not an emu result"},
		{"future version", strings.Replace(string(good), `"format_version": 1`, `"format_version": 99`, 1), "format version 99"},
		{"samples", strings.Replace(string(good), `"runs": 1`, `"runs": 2`, 1), "t.json: incomplete emu result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.data), "t.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestCompareRefuses(t *testing.T) {
	a := fixture(1, "", 1)
	b := fixture(1, "", 1)
	b.Workload = "madvise"
	if _, err := Compare([]*Result{a, b}, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "workload") {
		t.Errorf("different workloads: err = %v", err)
	}
	b = fixture(1, "", 1)
	b.Version = "v2"
	if _, err := Compare([]*Result{a, b}, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "emu v2") {
		t.Errorf("different versions: err = %v", err)
	}
}

func TestCompareSignificance(t *testing.T) {
	c, err := Compare([]*Result{fixture(5, "", 1), fixture(5, "x", 100)}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Repeated || len(c.Rows) == 0 {
		t.Fatalf("Repeated %v, %d rows", c.Repeated, len(c.Rows))
	}
	for _, row := range c.Rows {
		if len(row.Tests) != 1 {
			t.Fatalf("%s: %d tests, want 1", row.Name, len(row.Tests))
		}
		if row.Name == "nr_tlb_remote_flush" && row.Tests[0].P >= row.Tests[0].Alpha {
			t.Errorf("a 100x change is not significant: p = %v", row.Tests[0].P)
		}
	}
}

// TestBenchParses checks that the benchmark format is what benchstat reads:
// results with the expected name and units, and the Unit metadata.
func TestBenchParses(t *testing.T) {
	for _, runs := range []int{1, 3} {
		data := render(t, func(b *bytes.Buffer) error { return WriteBench(b, fixture(runs, "", 1)) })
		rd := benchfmt.NewReader(bytes.NewReader(data), "x.bench")
		n := 0
		for rd.Scan() {
			switch rec := rd.Result(); rec := rec.(type) {
			case *benchfmt.Result:
				n++
				if got := string(rec.Name.Full()); got != "Workload/workload=clear_refs/cpus=2/kernel=5.10/patch=none" {
					t.Errorf("name %q", got)
				}
				if v, ok := rec.Value("nr_tlb_remote_flush/op"); !ok || v != 3+float64(n-1) {
					t.Errorf("nr_tlb_remote_flush/op = %v, %v", v, ok)
				}
			case *benchfmt.SyntaxError:
				t.Errorf("syntax error: %v", rec)
			}
		}
		if n != runs {
			t.Errorf("%d result lines, want %d", n, runs)
		}
		assume := rd.Units().GetAssumption("nr_tlb_remote_flush/op")
		if (runs == 1) != (assume.SummaryLabel() == "exact") {
			t.Errorf("runs %d: assumption %s", runs, assume.SummaryLabel())
		}
	}
}

func TestTraceWriter(t *testing.T) {
	var b bytes.Buffer
	tw := NewTraceWriter(&b)
	tw.Process(1, "clear_refs")
	tw.Event(1, 0, "fault", "handle_mm_fault", 3000, 6000, []TraceArg{{"addr", 4096}})
	tw.Event(1, 1, "irq", "flush_tlb_func", 9000, 0, nil)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.Bytes())
	}
	var x, i int
	for _, ev := range doc.TraceEvents {
		switch ev["ph"] {
		case "X":
			x++
			if ev["ts"] != 1.0 || ev["dur"] != 2.0 || ev["tid"] != 0.0 || ev["pid"] != 1.0 || ev["args"].(map[string]any)["addr"] != "0x1000" {
				t.Errorf("span %v: want ts 1 µs, dur 2 µs, tid 0, pid 1", ev)
			}
		case "i":
			i++
			if ev["ts"] != 3.0 || ev["tid"] != 1.0 {
				t.Errorf("instant %v", ev)
			}
		}
	}
	if x != 1 || i != 1 {
		t.Errorf("%d spans, %d instants", x, i)
	}
}

func TestPlots(t *testing.T) {
	r := fixture(2, "", 1)
	for _, format := range []string{"svg", "png"} {
		var b bytes.Buffer
		if err := PlotHists(&b, format, r); err != nil {
			t.Fatal(err)
		}
		if b.Len() < 1000 {
			t.Errorf("%s: %d bytes", format, b.Len())
		}
	}
	c, err := Compare([]*Result{fixture(2, "", 1), fixture(2, "p", 0)}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := PlotCompare(&b, "svg", c); err != nil {
		t.Fatal(err)
	}
	if _, err := PlotFormat("x.gif"); err == nil {
		t.Error("PlotFormat accepted .gif")
	}
}

func TestBigNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {25400786, "25,400,786"}, {4693.333, "4,693.33"}, {-1234, "-1,234"}} {
		if got := bigNum(tc.v); got != tc.want {
			t.Errorf("bigNum(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
