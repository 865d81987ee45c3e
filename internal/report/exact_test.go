package report

import (
	"bytes"
	"strings"
	"testing"
)

// exactResult is a result whose counters are above 2^53, where float64
// holds only even integers: 2^53+1 reads back as 2^53 through a float64.
func exactResult(runs int, base uint64) *Result {
	r := &Result{Tool: "emu", Version: "test", Command: "emu", Workload: "w"}
	r.Config = []KV{{"workload", "w"}}
	for i := range runs {
		v := base + uint64(i)
		r.AddRun(uint64(1+i), []Sample{
			Count("cycles", "cycles", v),
			Count("instructions", "", v),
			Count("emu_elapsed_cycles", "cycles", v),
		}, [][]Sample{{Count("interrupts.TLB", "", v)}}, nil)
	}
	return r
}

// TestCountsAbove2p53Exact: a count of 2^53+1 is printed exactly by every
// format (text, CSV, bench, perf-json, JSON), survives a JSON round trip,
// and the mean of 2^53+1 and 2^53+2 is printed exactly too.
func TestCountsAbove2p53Exact(t *testing.T) {
	const big = 1<<53 + 1 // 9007199254740993
	one := exactResult(1, big)
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer, *Result) error
		want  []string
	}{
		{"text", func(b *bytes.Buffer, r *Result) error { return WriteText(b, r) }, []string{"9,007,199,254,740,993      cycles", "TLB: 9007199254740993 "}},
		{"csv", func(b *bytes.Buffer, r *Result) error { return WriteCSV(b, r) }, []string{"9007199254740993,cycles,cycles"}},
		{"bench", func(b *bytes.Buffer, r *Result) error { return WriteBench(b, r) }, []string{" 9007199254740993 cycles/op"}},
		{"perf-json", func(b *bytes.Buffer, r *Result) error { return WritePerfJSON(b, r) }, []string{`"counter-value" : "9007199254740993.000000"`}},
		{"json", func(b *bytes.Buffer, r *Result) error { return WriteJSON(b, r) }, []string{`"counter-value": 9007199254740993,`, "9007199254740993\n"}},
	} {
		var b bytes.Buffer
		if err := tc.write(&b, one); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s output lacks %q:\n%s", tc.name, w, b.String())
			}
		}
		if strings.Contains(b.String(), "9007199254740992") || strings.Contains(b.String(), "9,007,199,254,740,992") {
			t.Errorf("%s output has the float64-rounded 2^53:\n%s", tc.name, b.String())
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, one); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js, "one.json")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := back.Counter("cycles"); len(c.Exact) != 1 || c.Exact[0] != big {
		t.Errorf("JSON round trip: cycles %v (exact %v), want %d", c.Samples, c.Exact, uint64(big))
	}
	var bench bytes.Buffer
	if err := WriteBench(&bench, back); err != nil || !strings.Contains(bench.String(), " 9007199254740993 cycles/op") {
		t.Errorf("bench of the JSON read back (%v):\n%s", err, bench.String())
	}

	two := exactResult(2, big) // mean 9007199254740993.5
	var text bytes.Buffer
	if err := WriteText(&text, two); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "9,007,199,254,740,993.50      cycles") {
		t.Errorf("mean of 2^53+1 and 2^53+2 not exact:\n%s", text.String())
	}
}

// TestCompareSeesAOneCountChangeAbove2p53: 2^53 and 2^53+1 are the same
// float64, but compare lists the counter as changed.
func TestCompareSeesAOneCountChangeAbove2p53(t *testing.T) {
	a, b := exactResult(1, 1<<53), exactResult(1, 1<<53+1)
	c, err := Compare([]*Result{a, b}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 3 {
		t.Errorf("compare rows %d, want 3 (cycles, instructions, emu_elapsed_cycles)", len(c.Rows))
	}
	var js bytes.Buffer
	if err := WriteCompareJSON(&js, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), "9007199254740992,\n        9007199254740993\n") {
		t.Errorf("compare JSON means not exact:\n%s", js.String())
	}
	c, err = Compare([]*Result{a, exactResult(1, 1<<53)}, []string{"a", "a2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 0 {
		t.Errorf("equal results: %d compare rows, want 0", len(c.Rows))
	}
}

// TestCompareChangeIsFinite: a drop to 0 is -100.0%, a rise from 0 and the
// largest counts give finite changes; the table never shows Inf or NaN.
func TestCompareChangeIsFinite(t *testing.T) {
	for _, tc := range []struct {
		a, b uint64
		want string
	}{
		{5, 0, "-100.0%"},
		{1<<64 - 1, 0, "-100.0%"},
		{0, 1<<64 - 1, "%"},
		{1, 1<<64 - 1, "%"},
	} {
		c, err := Compare([]*Result{exactResult(1, tc.a), exactResult(1, tc.b)}, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteCompare(&b, c); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.Contains(out, tc.want) || strings.Contains(out, "Inf") || strings.Contains(out, "NaN") {
			t.Errorf("%d → %d: want %q, no Inf/NaN:\n%s", tc.a, tc.b, tc.want, out)
		}
	}
}
