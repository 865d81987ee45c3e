package report

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// svgText is one axis-aligned text element of an SVG plot and its box in
// SVG coordinates (y down), from the embedded font's metrics: the advance
// width across, the glyphs' ink up and down.
type svgText struct {
	text                   string
	x0, x1, y0, y1, canvas float64
}

var fontSize = regexp.MustCompile(`font-size:([0-9.]+)px`)

// svgTexts parses an SVG written by drawGrid: its width, and every text
// element outside a transformed group (rotated tick and axis labels are
// left out) with its box: from x, the advance width of the string in the
// plot's font (the one the SVG embeds), and the ink of its glyphs around
// the baseline.
func svgTexts(t *testing.T, svg []byte) (width float64, texts []svgText) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var groups []bool // per open <g>: does it rotate or translate?
	var cur *svgText
	var curFont font.Face
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch e.Name.Local {
			case "svg":
				w := strings.TrimSuffix(attr["width"], "pt")
				width, _ = strconv.ParseFloat(strings.TrimSuffix(w, "px"), 64)
			case "g":
				tr := attr["transform"]
				groups = append(groups, strings.Contains(tr, "rotate") || strings.Contains(tr, "translate") && !strings.HasPrefix(tr, "scale(1, -1)"))
			case "text":
				moved := false
				for _, g := range groups {
					moved = moved || g
				}
				if moved {
					continue
				}
				x, _ := strconv.ParseFloat(attr["x"], 64)
				y, _ := strconv.ParseFloat(attr["y"], 64)
				m := fontSize.FindStringSubmatch(attr["style"])
				if m == nil {
					t.Fatalf("text without a font size: %v", attr)
				}
				size, _ := strconv.ParseFloat(m[1], 64)
				curFont = font.DefaultCache.Lookup(plot.DefaultFont, vg.Length(size))
				// The text's y is in the scale(1, -1) flipped system: the
				// baseline is at -y in SVG coordinates.
				cur = &svgText{x0: x, y0: -y, canvas: width}
			}
		case xml.CharData:
			if cur != nil {
				cur.text += string(e)
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "g":
				groups = groups[:len(groups)-1]
			case "text":
				if cur != nil {
					s := html.UnescapeString(cur.text)
					top, bottom := inkHeight(t, curFont, s)
					base := cur.y0
					cur.text = s
					cur.x1 = cur.x0 + curFont.Width(s).Points()
					cur.y0, cur.y1 = base+top, base+bottom
					texts = append(texts, *cur)
					cur = nil
				}
			}
		}
	}
	return width, texts
}

// inkHeight is how far the glyphs of s reach above (top < 0) and below
// the baseline, in points (sfnt.Font.GlyphBounds, y down).
func inkHeight(t *testing.T, f font.Face, s string) (top, bottom float64) {
	var buf sfnt.Buffer
	upem := fixed.Int26_6(f.Face.UnitsPerEm())
	scale := f.Font.Size.Points() / float64(upem)
	for _, r := range s {
		g, err := f.Face.GlyphIndex(&buf, r)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := f.Face.GlyphBounds(&buf, g, upem, xfont.HintingNone)
		if err != nil {
			t.Fatal(err)
		}
		top = min(top, float64(b.Min.Y)*scale)
		bottom = max(bottom, float64(b.Max.Y)*scale)
	}
	return top, bottom
}

// checkTextLayout: no two texts' boxes intersect and every text lies on
// the canvas.
func checkTextLayout(t *testing.T, svg []byte) {
	t.Helper()
	width, texts := svgTexts(t, svg)
	if width == 0 || len(texts) < 4 {
		t.Fatalf("width %v, %d texts: not a drawGrid SVG", width, len(texts))
	}
	for i, a := range texts {
		if a.x0 < 0 || a.x1 > width {
			t.Errorf("%q spans x %.1f..%.1f, off the %.0f-wide canvas", a.text, a.x0, a.x1, width)
		}
		for _, b := range texts[i+1:] {
			if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 {
				t.Errorf("%q (x %.1f..%.1f, y %.1f..%.1f) overlaps %q (x %.1f..%.1f, y %.1f..%.1f)",
					a.text, a.x0, a.x1, a.y0, a.y1, b.text, b.x0, b.x1, b.y0, b.y1)
			}
		}
	}
}

// TestSVGTextDoesNotOverlap lays out the histogram and the A/B plots,
// with the longest titles emu draws (hazard counter names with a change,
// @tlb_flush_pages[TLB_FLUSH_ON_TASK_SWITCH]), and checks with the
// embedded font's metrics that no text runs into another or off the
// canvas; and that each text names a fallback stack after the embedded
// family, so a viewer that ignores @font-face uses a metric-compatible
// font, then a generic one.
func TestSVGTextDoesNotOverlap(t *testing.T) {
	// Every tlb:tlb_flush reason's title in every column of the grid (a
	// panel's title is centred over its data area, right of the y axis,
	// so the third column is the tightest).
	reasons := []string{"TLB_FLUSH_ON_TASK_SWITCH", "TLB_REMOTE_SHOOTDOWN", "TLB_LOCAL_SHOOTDOWN", "TLB_LOCAL_MM_SHOOTDOWN", "TLB_REMOTE_SEND_IPI"}
	var b bytes.Buffer
	// The panels of a clear_refs run (emu -r 3 -plot).
	real := &Result{Tool: "emu", Version: "test", Workload: "clear_refs", Config: []KV{{"workload", "clear_refs"}, {"cpus", 2}, {"kernel", "5.10"}}}
	for seed := range uint64(3) {
		real.AddRun(seed+1, []Sample{Count("emu_stale_tlb_writes", "", 40052+seed), Count("emu_lost_soft_dirty", "", 40052+seed),
			Count("emu_write_after_cow", "", 0), Count("emu_missed_uffd_wp", "", 0)}, nil, nil)
	}
	real.Hists = []Hist{
		{Name: "tlb_flush_pages", Key: "TLB_FLUSH_ON_TASK_SWITCH", Buckets: []Bucket{{-1, 9}}},
		{Name: "tlb_flush_pages", Key: "TLB_REMOTE_SHOOTDOWN", Buckets: []Bucket{{0, 10}, {1, 4}}},
		{Name: "tlb_flush_pages", Key: "TLB_LOCAL_MM_SHOOTDOWN", Buckets: []Bucket{{-1, 3}, {1, 7}}},
		{Name: "tlb_flush_pages", Key: "TLB_REMOTE_SEND_IPI", Buckets: []Bucket{{-1, 3}, {1, 7}}},
		{Name: "ipis_per_flush", Buckets: []Bucket{{0, 6}, {1, 4}}},
		{Name: "flush_cycles", Log2: true, Buckets: []Bucket{{1024, 6}, {2048, 4}}},
		{Name: "fault_cycles", Log2: true, Buckets: []Bucket{{2048, 1500}, {4096, 12300}, {8192, 100}, {16384, 30}}},
		{Name: "ptl_wait_cycles", Log2: true, Buckets: []Bucket{{1024, 10}, {2048, 34}, {4096, 30}, {8192, 116}, {16384, 9}}},
	}
	if err := PlotHists(&b, "svg", real); err != nil {
		t.Fatal(err)
	}
	checkTextLayout(t, b.Bytes())
	for col := range 3 {
		r := fixture(3, "", 1)
		r.Hists = nil
		for i := range col {
			r.Hists = append(r.Hists, Hist{Name: "ipis_per_flush", Key: strconv.Itoa(i), Buckets: []Bucket{{0, 9}, {1, 4}}})
		}
		for _, k := range reasons {
			r.Hists = append(r.Hists, Hist{Name: "tlb_flush_pages", Key: k, Buckets: []Bucket{{-1, 7}, {0, 3}, {1, 12000}}},
				Hist{Name: "fault_cycles", Log2: true, Buckets: []Bucket{{2048, 493}, {4096, 4119}, {8192, 43}}},
				Hist{Name: "ptl_wait_cycles", Log2: true, Buckets: []Bucket{{1024, 10}, {2048, 34}, {4096, 30}, {8192, 116}, {16384, 9}}})
		}
		b.Reset()
		if err := PlotHists(&b, "svg", r); err != nil {
			t.Fatal(err)
		}
		checkTextLayout(t, b.Bytes())
	}
	if !strings.Contains(b.String(), `font-family:'Liberation Serif','Times New Roman',Times,serif;`) {
		t.Error("the SVG's text names no fallback font stack")
	}

	base, fixed := fixture(3, "", 1), fixture(3, "clear-refs-flush", 5)
	c, err := Compare([]*Result{base, fixed}, []string{"clear_refs 5.10", "clear_refs 5.10 + clear-refs-flush"})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := PlotCompare(&b, "svg", c); err != nil {
		t.Fatal(err)
	}
	checkTextLayout(t, b.Bytes())
}

// TestSVGOverlapCheckFails: the check finds two texts drawn on each other.
func TestSVGOverlapCheckFails(t *testing.T) {
	svg := `<svg width="200pt" height="100pt"><g transform="scale(1, -1) translate(0, -100)">` +
		`<text x="10" y="-50" transform="scale(1, -1)" style="font-size:12px">emu_lost_soft_dirty</text>` +
		`<text x="40" y="-52" transform="scale(1, -1)" style="font-size:12px">emu_stale_tlb_writes</text>` +
		`<text x="10" y="-90" transform="scale(1, -1)" style="font-size:12px">a</text>` +
		`<text x="190" y="-20" transform="scale(1, -1)" style="font-size:12px">off the edge</text>` +
		`</g></svg>`
	_, texts := svgTexts(t, []byte(svg))
	if len(texts) != 4 {
		t.Fatalf("parsed %d texts, want 4", len(texts))
	}
	overlaps := 0
	for i, a := range texts {
		for _, b := range texts[i+1:] {
			if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 {
				overlaps++
			}
		}
	}
	if overlaps != 1 || texts[3].x1 <= 200 {
		t.Errorf("found %d overlaps (want 1); last text ends at %.1f (want past 200)", overlaps, texts[3].x1)
	}
}

// TestPlotsShowHazardsUnitsErrorBars: a run's plot has a hazard panel
// beside its histograms; an A/B plot titles each hazard panel "a → b"
// (0 → 0 is no change, not -100%), labels the y axis with the counter's
// unit and "mean ± stddev" when there are several runs, and draws error
// bars for a spread: the same means with a spread take more paths than
// without one.
func TestPlotsShowHazardsUnitsErrorBars(t *testing.T) {
	var b bytes.Buffer
	if err := PlotHists(&b, "svg", fixture(3, "", 1)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{">hazards: emu_stale_tlb_writes = 0<", ">emu_stale_tlb_writes<", ">stores (mean ± stddev)<"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the run's plot has no %q", want)
		}
	}
	mk := func(spread float64, hazard uint64, cyc float64) *Result {
		r := &Result{Tool: "emu", Version: "test", Workload: "w"}
		for i := range 3 {
			d := spread * float64(i-1)
			r.AddRun(uint64(i+1), []Sample{{Name: "cycles", Unit: "cycles", Value: cyc + d},
				Count("emu_lost_soft_dirty", "", hazard), Count("emu_write_after_cow", "", 0)}, nil, nil)
		}
		return r
	}
	draw := func(spread float64) string {
		t.Helper()
		c, err := Compare([]*Result{mk(spread, 4005, 1000), mk(spread, 0, 2000)}, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := PlotCompare(&b, "svg", c); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	spread, flat := draw(100), draw(0)
	for _, want := range []string{">emu_lost_soft_dirty (4,005 → 0)<", ">emu_write_after_cow (0 → 0)<", ">cycles (mean ± stddev)<", ">cycles (+100.0%)<"} {
		if !strings.Contains(spread, want) {
			t.Errorf("the A/B plot has no %q", want)
		}
	}
	if strings.Contains(spread, "-100.0%") {
		t.Error("a 0 → 0 hazard panel says -100%")
	}
	if ns, nf := strings.Count(spread, "<path"), strings.Count(flat, "<path"); ns <= nf {
		t.Errorf("with a spread the plot has %d paths, without %d: no error bars drawn", ns, nf)
	}
	if !strings.Contains(spread, ">2000<") {
		t.Error("y ticks are not plain numbers (want 2000, not 2000.00)")
	}
}
