package report

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotFormat returns the image format for a -plot file name ("svg" or
// "png"), or an error naming the valid extensions.
func PlotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		return "svg", nil
	case ".png":
		return "png", nil
	default:
		return "", fmt.Errorf("plot file %q: unknown image type %q (valid: .svg, .png)", path, ext)
	}
}

// palette is Okabe–Ito: distinguishable with colour-vision deficiencies.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{86, 180, 233, 255}, color.RGBA{213, 94, 0, 255},
}

// PlotHists draws every histogram of r as bars in a grid of panels, one
// per histogram (the tlb:tlb_flush pages per reason, IPIs per flush and
// the latency ones), then a panel of the hazard counters, and writes the
// image in format ("svg" or "png").
func PlotHists(w io.Writer, format string, r *Result) error {
	var plots []*plot.Plot
	for _, h := range r.Hists {
		if len(h.Buckets) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = "@" + h.Name
		if h.Key != "" {
			p.Title.Text += "[" + h.Key + "]"
		}
		p.Y.Label.Text = "events"
		p.X.Label.Text = histXLabel(h)
		vals := make(plotter.Values, len(h.Buckets))
		labels := make([]string, len(h.Buckets))
		for i, b := range h.Buckets {
			vals[i] = float64(b.Count)
			labels[i] = strings.Trim(h.label(b.Value), "[)]")
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(barWidth(len(vals))))
		if err != nil {
			return err
		}
		bars.Color = palette[0]
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.NominalX(labels...)
		p.X.Tick.Label.Rotation = labelRotation(labels)
		p.X.Tick.Label.XAlign = draw.XRight
		plots = append(plots, p)
	}
	if hp, err := hazardPanel(r); err != nil {
		return err
	} else if hp != nil {
		plots = append(plots, hp)
	}
	if len(plots) == 0 {
		return fmt.Errorf("no histogram to plot")
	}
	title := fmt.Sprintf("%s, %s, cpus=%s", r.Workload, r.Variant(), r.GetString("cpus"))
	return drawGrid(w, format, title, plots)
}

// hazardPanel draws r's hazard counters (HazardCounters) side by side, the
// mean of the runs with ± one standard deviation as error bars, so that a
// run's plot says whether it was correct; nil when r has none of them.
func hazardPanel(r *Result) (*plot.Plot, error) {
	var vals plotter.Values
	var names []string
	var errs []errPoint
	for _, name := range HazardCounters {
		c, ok := r.Counter(name)
		if !ok {
			continue
		}
		m := c.Mean()
		if len(c.Samples) > 1 {
			errs = append(errs, errPoint{float64(len(vals)), m, c.Stddev()})
		}
		vals = append(vals, m)
		names = append(names, name)
	}
	if len(vals) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "hazards: " + names[0] + " = " + bigNum(vals[0])
	p.Y.Label.Text = "stores"
	if len(errs) > 0 || r.Runs() > 1 {
		p.Y.Label.Text += " (mean ± stddev)"
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(barWidth(len(vals))))
	if err != nil {
		return nil, err
	}
	bars.Color = palette[5]
	bars.LineStyle.Width = 0
	p.Add(bars)
	for _, e := range errs {
		if e.err > 0 {
			eb, err := plotter.NewYErrorBars(e)
			if err == nil {
				p.Add(eb)
			}
		}
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = labelRotation(names)
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
}

func histXLabel(h Hist) string {
	switch {
	case strings.HasSuffix(h.Name, "_pages"):
		return "pages (FULL = TLB_FLUSH_ALL)"
	case strings.HasSuffix(h.Name, "_cycles"):
		return "cycles (log2 buckets)"
	}
	return strings.ReplaceAll(h.Name, "_", " ")
}

// plotRows are the panels of PlotCompare, at most n: the differing
// counters in table order, then every hazard counter (HazardCounters),
// whether it differs or not ("0 → 0" is a result too), which are never
// left out to make room.
func plotRows(c *Comparison, n int) []CompareRow {
	var hz []CompareRow
	isHazard := map[string]bool{}
	for _, h := range c.Hazards {
		isHazard[h.Name] = true
		row := CompareRow{Name: h.Name, Means: h.Means}
		for i := range h.Means {
			row.RelStd = append(row.RelStd, -1)
			if ctr, ok := c.Results[i].Counter(h.Name); ok && len(ctr.Samples) > 1 {
				sd := ctr.Stddev()
				if m := ctr.Mean(); m != 0 {
					sd = 100 * sd / m
				}
				row.RelStd[i] = sd
			}
			if i > 0 {
				b := h.Means[0]
				if b == 0 {
					b = 1e-100
				}
				row.Changes = append(row.Changes, 100*(h.Means[i]-b)/b)
			}
		}
		hz = append(hz, row)
	}
	var out []CompareRow
	for _, row := range c.Rows {
		if !isHazard[row.Name] && len(out)+len(hz) < n {
			out = append(out, row)
		}
	}
	return append(out, hz...)
}

// PlotCompare draws, for each counter of c (at most 16), the results' means
// side by side with their standard deviation as error bars.
func PlotCompare(w io.Writer, format string, c *Comparison) error {
	rows := plotRows(c, 16)
	if len(rows) == 0 {
		return fmt.Errorf("no counter differs: nothing to plot")
	}
	var plots []*plot.Plot
	for _, row := range rows {
		p := plot.New()
		p.Title.Text = row.Name
		p.Y.Label.Text = "count"
		if ctr, ok := c.Results[0].Counter(row.Name); ok && ctr.Unit != "" {
			p.Y.Label.Text = ctr.Unit
		}
		if row.RelStd[0] >= 0 {
			p.Y.Label.Text += " (mean ± stddev)"
		}
		for i, m := range row.Means {
			bars, err := plotter.NewBarChart(plotter.Values{m}, vg.Points(28))
			if err != nil {
				return err
			}
			bars.Color = palette[i%len(palette)]
			bars.LineStyle.Width = 0
			bars.XMin = float64(i)
			p.Add(bars)
			if sd := row.RelStd[i]; sd > 0 && m != 0 {
				eb, err := plotter.NewYErrorBars(errPoint{float64(i), m, math.Abs(sd / 100 * m)})
				if err == nil {
					p.Add(eb)
				}
			}
		}
		labels := make([]string, len(c.Labels))
		for i := range c.Labels {
			labels[i] = string(rune('A' + i%26))
		}
		switch {
		case len(row.Means) == 2 && isHazardCounter(row.Name):
			// As the verdict line says it: "4,005 → 0".
			p.Title.Text += " (" + bigNum(row.Means[0]) + " → " + bigNum(row.Means[1]) + ")"
		case len(row.Changes) == 1:
			p.Title.Text += " (" + formatChange(row.Changes[0]) + "%)"
		}
		p.NominalX(labels...)
		p.X.Tick.Label.Rotation = labelRotation(labels)
		p.X.Tick.Label.XAlign = draw.XRight
		plots = append(plots, p)
	}
	var legend []string
	for i, l := range c.Labels {
		legend = append(legend, string(rune('A'+i%26))+" = "+l)
	}
	title := fmt.Sprintf("%s: %s", c.Results[0].Workload, strings.Join(legend, ", "))
	return drawGrid(w, format, title, plots)
}

func isHazardCounter(name string) bool {
	return slices.Contains(HazardCounters, name)
}

// errPoint is one bar's error bar.
type errPoint struct{ x, y, err float64 }

func (e errPoint) Len() int                      { return 1 }
func (e errPoint) XY(int) (float64, float64)     { return e.x, e.y }
func (e errPoint) YError(int) (float64, float64) { return e.err, e.err }

func barWidth(n int) float64 {
	return math.Max(2, math.Min(24, 260/float64(n)))
}

func labelRotation(labels []string) float64 {
	total := 0
	for _, l := range labels {
		total += len(l) + 2
	}
	if total > 40 {
		return math.Pi / 4
	}
	return 0
}

// svgFallback writes an SVG canvas with a generic font stack after each
// text element's family, which vgsvg names alone.
type svgFallback struct{ *vgsvg.Canvas }

// svgFamily matches a text style's font-family (the @font-face rule's
// family is quoted and does not match).
var svgFamily = regexp.MustCompile(`font-family:([A-Za-z][A-Za-z ]*);`)

// fontFallback are metric-compatible fonts, then a generic family, for
// the Liberation fonts gonum/plot lays text out with.
var fontFallback = map[string]string{
	"Liberation Serif": "'Times New Roman',Times,serif",
	"Liberation Sans":  "Arial,Helvetica,sans-serif",
	"Liberation Mono":  "'Courier New',Courier,monospace",
}

func (c *svgFallback) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	if _, err := c.Canvas.WriteTo(&b); err != nil {
		return 0, err
	}
	out := svgFamily.ReplaceAllFunc(b.Bytes(), func(m []byte) []byte {
		fam := string(m[len("font-family:") : len(m)-1])
		stack := "'" + fam + "'"
		if fb, ok := fontFallback[fam]; ok {
			stack += "," + fb
		} else {
			stack += ",serif"
		}
		return []byte("font-family:" + stack + ";")
	})
	n, err := w.Write(out)
	return int64(n), err
}

// plainTicks are gonum's default ticks labelled with the shortest decimal
// of their value ("25000", not "25000.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label == "" {
			continue
		}
		if s := strconv.FormatFloat(ts[i].Value, 'f', -1, 64); len(s) <= 10 {
			ts[i].Label = s
		}
	}
	return ts
}

// maxTitleWidth is the widest one-line panel title: a title is centred
// over its data area, which is a 4-inch tile less padding and the y axis
// (≈ 215 pt with five-digit ticks).
const maxTitleWidth = 200

// wrapTitle breaks a panel title that would run into its neighbour (or
// off the canvas) before its key or its change: "@tlb_flush_pages" /
// "[TLB_LOCAL_MM_SHOOTDOWN]", "emu_lost_soft_dirty" / "(4,005 → 0)".
func wrapTitle(p *plot.Plot) {
	t := p.Title.Text
	if strings.Contains(t, "\n") || p.Title.TextStyle.Width(t).Points() <= maxTitleWidth {
		return
	}
	if i := strings.LastIndex(t, " ("); i > 0 {
		p.Title.Text = t[:i] + "\n" + t[i+1:]
	} else if i := strings.LastIndex(t, "["); i > 0 {
		p.Title.Text = t[:i] + "\n" + t[i:]
	}
}

// drawGrid lays plots out in a grid under a title and encodes the image.
func drawGrid(w io.Writer, format, title string, plots []*plot.Plot) error {
	cols := min(len(plots), 3)
	nrows := (len(plots) + cols - 1) / cols
	width := vg.Length(cols) * 4 * vg.Inch
	height := vg.Length(nrows)*3*vg.Inch + 0.4*vg.Inch
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		// The fonts (Liberation, metric-compatible with Times) are
		// embedded: the text was laid out with their metrics, and a viewer
		// without them would substitute a font whose titles overlap. A
		// viewer that ignores @font-face falls back to the
		// metric-compatible Times New Roman / Times, then its serif font.
		canvas = &svgFallback{vgsvg.NewWith(vgsvg.UseWH(width, height), vgsvg.EmbedFonts(true))}
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))}
	default:
		return fmt.Errorf("unknown image format %q (valid: svg, png)", format)
	}
	dc := draw.New(canvas)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	head := plot.New()
	head.Title.Text = title
	head.HideAxes()
	top := dc
	top.Min.Y = top.Max.Y - 0.4*vg.Inch
	head.Draw(top)
	body := dc
	body.Max.Y -= 0.4 * vg.Inch
	for _, p := range plots {
		wrapTitle(p)
		p.Y.Tick.Marker = plainTicks{}
	}
	grid := make([][]*plot.Plot, nrows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	tiles := draw.Tiles{Rows: nrows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	cs := plot.Align(grid, tiles, body)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(cs[i][j])
			}
		}
	}
	_, err := canvas.WriteTo(w)
	return err
}
