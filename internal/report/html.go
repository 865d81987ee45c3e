package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// HTMLSection is one table of an HTML report: a comparison (ab, compare,
// a sweep's variants of one setting), or a single result.
type HTMLSection struct {
	Comparison *Comparison // nil for a single result
	Results    []*Result   // the results shown: Comparison.Results, or one
}

// WriteHTML writes a self-contained HTML report: per section the
// verdicts, LKP's fail:runs block and %change table as HTML tables, the
// plot as inline SVG (PlotCompare, PlotHists), the LKP text, and every
// result's run identity (command, emu version, variant, config). It
// loads nothing: no script, no style sheet, no image or font from
// elsewhere (the SVG fonts are embedded as data), and its
// Content-Security-Policy forbids any request a viewer might add.
func WriteHTML(w io.Writer, title string, sections []HTMLSection) error {
	doc := htmlDoc{Title: title}
	for i, s := range sections {
		hs, err := htmlSectionOf(i, s)
		if err != nil {
			return err
		}
		doc.Sections = append(doc.Sections, hs)
	}
	return htmlPage.Execute(w, doc)
}

type htmlDoc struct {
	Title    string
	Sections []htmlSection
}

type htmlSection struct {
	ID       string
	Heading  string
	Common   string
	Verdicts []string
	Labels   []string
	Hazards  []htmlRow
	Changes  []htmlRow
	Head     []string
	Text     string
	SVG      template.HTML
	PlotNote string
	Runs     []htmlRun
}

type htmlRow struct {
	Name  string
	Cells []string
}

type htmlRun struct {
	Label, Command, Version, Variant, Status string
	Runs                                     int
	Config                                   string
}

func htmlSectionOf(i int, s HTMLSection) (htmlSection, error) {
	hs := htmlSection{ID: fmt.Sprintf("s%d", i+1)}
	var text bytes.Buffer
	var svg bytes.Buffer
	if c := s.Comparison; c != nil {
		var common []string
		for _, kv := range c.Common {
			common = append(common, kv.Key+"="+formatValue(kv.Value))
		}
		hs.Heading = c.Results[0].Workload + ": " + strings.Join(c.AxisKeys, "/") + " compared"
		hs.Labels = c.Labels
		hs.Common = strings.Join(common, " ")
		hs.Verdicts = c.Verdicts()
		if len(c.Hazards) == 0 {
			hs.Verdicts = []string{"no hazard counter in these results"}
		}
		for _, h := range c.Hazards {
			row := htmlRow{Name: h.Name}
			for j := range c.Results {
				cell := fmt.Sprintf("%d:%d", h.Fails[j], h.Runs[j])
				if j > 0 {
					cell += fmt.Sprintf(" (%+.0f%%)", h.Reproduction(j))
				}
				row.Cells = append(row.Cells, cell)
			}
			hs.Hazards = append(hs.Hazards, row)
		}
		hs.Head = append([]string{"counter"}, c.Labels...)
		for _, r := range c.Rows {
			row := htmlRow{Name: r.Name}
			for j, m := range r.Means {
				cell := lkpValue(m)
				if r.RelStd[j] >= 0 {
					cell += fmt.Sprintf(" ±%.0f%%", r.RelStd[j])
				}
				if j > 0 {
					cell = formatChange(r.Changes[j-1]) + "% " + cell
					if len(r.Tests) >= j && r.Tests[j-1] != nil {
						cell += fmt.Sprintf(" (p=%.3f)", r.Tests[j-1].P)
					}
				}
				row.Cells = append(row.Cells, cell)
			}
			hs.Changes = append(hs.Changes, row)
		}
		if err := WriteCompare(&text, c); err != nil {
			return hs, err
		}
		if len(c.Rows) > 0 {
			if err := PlotCompare(&svg, "svg", c); err != nil {
				return hs, err
			}
		} else {
			hs.PlotNote = "no counter differs: nothing to plot"
		}
	} else {
		r := s.Results[0]
		hs.Heading = r.Workload + " " + r.Variant()
		if err := WriteText(&text, r); err != nil {
			return hs, err
		}
		if len(r.Hists) > 0 {
			if err := PlotHists(&svg, "svg", r); err != nil {
				return hs, err
			}
		}
	}
	hs.Text = text.String()
	hs.SVG = inlineSVG(svg.Bytes())
	for j, r := range s.Results {
		label := r.Variant()
		if s.Comparison != nil {
			label = s.Comparison.Labels[j]
		}
		var cfg []string
		for _, kv := range r.Config {
			cfg = append(cfg, kv.Key+"="+formatValue(kv.Value))
		}
		hs.Runs = append(hs.Runs, htmlRun{Label: label, Command: r.Command, Version: r.Version, Variant: r.Variant(),
			Status: r.Status, Runs: r.Runs(), Config: strings.Join(cfg, " ")})
	}
	return hs, nil
}

// inlineSVG is an SVG document as an element to embed in HTML: what
// precedes <svg (the XML declaration, a DOCTYPE) is dropped. The SVG is
// emu's own plot (gonum/plot's vgsvg), not user input.
func inlineSVG(b []byte) template.HTML {
	if i := bytes.Index(b, []byte("<svg")); i >= 0 {
		return template.HTML(b[i:])
	}
	return ""
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; font-family: monospace; }
th:first-child, td:first-child { text-align: left; }
.verdicts li { font-weight: bold; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
section { border-top: 2px solid #888; margin-top: 2em; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<nav><ul>{{range .Sections}}<li><a href="#{{.ID}}">{{.Heading}}</a></li>{{end}}</ul></nav>
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Heading}}</h2>
{{if .Common}}<p>common settings: {{.Common}}</p>{{end}}
{{if .Verdicts}}<h3>Verdicts</h3>
<ul class="verdicts">{{range .Verdicts}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Hazards}}<h3>fail:runs (%reproduction against {{index .Labels 0}})</h3>
<table><tr><th>counter</th>{{range .Labels}}<th>{{.}}</th>{{end}}</tr>
{{range .Hazards}}<tr><td>{{.Name}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .Changes}}<h3>%change against {{index .Labels 0}}</h3>
<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Changes}}<tr><td>{{.Name}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .SVG}}<figure>{{.SVG}}</figure>{{end}}{{if .PlotNote}}<p>{{.PlotNote}}</p>{{end}}
<details><summary>text report</summary><pre>{{.Text}}</pre></details>
<h3>Run identity</h3>
<table><tr><th>result</th><th>command</th><th>emu</th><th>variant</th><th>runs</th><th>status</th><th>config</th></tr>
{{range .Runs}}<tr><td>{{.Label}}</td><td>{{.Command}}</td><td>{{.Version}}</td><td>{{.Variant}}</td><td>{{.Runs}}</td><td>{{.Status}}</td><td>{{.Config}}</td></tr>
{{end}}</table>
</section>
{{end}}</body>
</html>
`))
