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
	r := fixture(1, "", 1)
	r.Hists = append(r.Hists, Hist{Name: "tlb_flush_pages", Key: "TLB_FLUSH_ON_TASK_SWITCH", Buckets: []Bucket{{-1, 7}, {0, 3}}},
		Hist{Name: "ipis_per_flush", Buckets: []Bucket{{0, 9}, {1, 4}, {3, 1}}})
	var b bytes.Buffer
	if err := PlotHists(&b, "svg", r); err != nil {
		t.Fatal(err)
	}
	checkTextLayout(t, b.Bytes())
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
