package sim

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grapevine-sd/grapevine/sim/svgplot"
)

// WriteHTML writes dir/index.html: the text summary and SVG plots (drawn by
// sim/svgplot and embedded, so the page needs no network and no
// JavaScript); each plot also as dir/<name>.svg (Figure.Name).
func (r Report) WriteHTML(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		return err
	}
	type fig struct {
		Title, Caption string
		SVG            template.HTML
	}
	var figs []fig
	for _, f := range r.Figures() {
		svg := f.Chart.SVG()
		if err := os.WriteFile(filepath.Join(dir, f.Name+".svg"), svg, 0o644); err != nil {
			return fmt.Errorf("sim: report: %w", err)
		}
		figs = append(figs, fig{f.Title, f.Caption, template.HTML(svg)}) // #nosec: our own SVG, labels escaped
	}
	var out bytes.Buffer
	err := pageTmpl.Execute(&out, struct {
		R     Report
		Pass  bool
		Text  string
		Figs  []fig
		Stamp string
		Dur   time.Duration
	}{r, r.Passed(), text.String(), figs, fmt.Sprintf("seed %d", r.Seed), r.Duration.Round(time.Millisecond)})
	if err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	return nil
}

var pageTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>grapevine sim: {{.R.Scenario}}</title>
<style>
body{font-family:sans-serif;max-width:62em;margin:2em auto;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}
.pass{color:#1a7f37}.fail{color:#c62828}
figure{margin:2em 0}figcaption{margin-bottom:.5em}figcaption b{display:block}
</style></head><body>
<h1>{{.R.Scenario}} — {{if .Pass}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}{{if .R.Stopped}} (partial){{end}}</h1>
<p>{{.R.Description}}</p>
<p>{{.Stamp}}, {{.R.Nodes}} nodes, {{.Dur}} simulated; propagation {{.R.Propagation}}.</p>
<pre>{{.Text}}</pre>
{{range .Figs}}<figure><figcaption><b>{{.Title}}</b>{{.Caption}}</figcaption>{{.SVG}}</figure>
{{end}}</body></html>
`))

// Figure is one plot of the report.
type Figure struct {
	Name, Title, Caption string
	Chart                svgplot.Chart
}

// Figures returns the report's plots: dissemination of each change,
// catalog agreement, traffic, and self-preservation with false deaths.
// Fault steps are marked on every timeline, partitions shaded.
func (r Report) Figures() []Figure {
	marks, bands := r.timeline()
	gap := 3 * max(r.SampleEvery, 100*time.Millisecond).Seconds()
	return []Figure{
		{
			Name: "dissemination", Title: "Dissemination: share of live nodes that reflect each change",
			Caption: fmt.Sprintf("One curve per change (the first %d), from the owner's acknowledgement until every live node serves it.", maxCurves),
			Chart:   r.seenChart(),
		},
		{
			Name: "agreement", Title: "Catalog agreement: share of live nodes holding the most common catalog hash",
			Caption: "100 % means every live node holds the same catalog. Shaded: a partition is in force.",
			Chart: svgplot.Chart{
				XLabel: "time since start (s)", YLabel: "nodes holding the majority hash (%)",
				Series: []svgplot.Series{{Label: "agreement", Points: pct(r.Series.Agreement)}},
				YMin:   0, YMax: 100, YFixed: true, Marks: marks, Bands: bands, MaxGap: gap,
			},
		},
		{
			Name: "traffic", Title: "Traffic: bytes sent by the whole network (packets and streams)",
			Chart: svgplot.Chart{
				XLabel: "time since start (s)", YLabel: "sent (KiB/s)",
				Series: []svgplot.Series{{Label: "whole network", Points: scale(r.Series.Bytes, 1.0/1024)}},
				Marks:  marks, Bands: bands, MaxGap: max(gap, 3),
			},
		},
		{
			Name: "preservation", Title: "Self-preservation and false deaths",
			Caption: "Nodes whose catalog holds unreachable owners' records (self-preservation); marked: healthy nodes declared failed.",
			Chart: svgplot.Chart{
				XLabel: "time since start (s)", YLabel: "nodes in self-preservation",
				Series: []svgplot.Series{{Label: "nodes in self-preservation", Step: true, Points: scale(r.Series.Preserving, 1)}},
				Marks:  append(marks, r.falseDeathMarks()...), Bands: bands, MaxGap: gap,
			},
		},
	}
}

// timeline returns the fault steps as marks and the partitions as bands.
func (r Report) timeline() ([]svgplot.Mark, []svgplot.Band) {
	var marks []svgplot.Mark
	var bands []svgplot.Band
	open := -1.0
	for _, m := range r.Series.Marks {
		x := m.T.Seconds()
		col := ""
		switch m.Label {
		case "heal", "resume", "unflap":
			col = "#1a7f37"
		case "restart", "restore", "start":
			col = "#0050a0"
		}
		marks = append(marks, svgplot.Mark{X: x, Label: m.Label, Color: col})
		switch m.Label {
		case "partition":
			if open < 0 {
				open = x
			}
		case "heal":
			if open >= 0 {
				bands = append(bands, svgplot.Band{X0: open, X1: x, Label: "partitioned"})
				open = -1
			}
		}
	}
	if open >= 0 {
		bands = append(bands, svgplot.Band{X0: open, X1: r.Duration.Seconds(), Label: "partitioned"})
	}
	return marks, bands
}

func (r Report) falseDeathMarks() []svgplot.Mark {
	var out []svgplot.Mark
	for k, fd := range r.FalseDeaths {
		if k == maxListed {
			break
		}
		out = append(out, svgplot.Mark{X: fd.At.Seconds(), Label: "false death " + fd.Node, Color: "#7b1fa2"})
	}
	return out
}

// seenChart draws each change's dissemination curve, colored by kind, in
// milliseconds when every change completed within two seconds.
func (r Report) seenChart() svgplot.Chart {
	maxT := time.Duration(0)
	for _, c := range r.Series.Seen {
		for _, p := range c.Points {
			maxT = max(maxT, p.T)
		}
	}
	unit, div := "s", float64(time.Second)
	if maxT < 2*time.Second {
		unit, div = "ms", float64(time.Millisecond)
	}
	kinds := map[string]string{"register": "#0072B2", "health": "#E69F00"} // removals: vermillion
	labelled := map[string]bool{}
	var series []svgplot.Series
	for _, c := range r.Series.Seen {
		kind, _, _ := strings.Cut(c.Label, " ")
		col, ok := kinds[kind]
		name := kind
		if !ok {
			col, name = "#D55E00", "removal (deregister, wipe, leave)"
		}
		label := ""
		if !labelled[name] {
			labelled[name], label = true, name
		}
		pts := make([]svgplot.XY, 0, len(c.Points)+1)
		pts = append(pts, svgplot.XY{X: 0, Y: 0})
		for _, p := range c.Points {
			pts = append(pts, svgplot.XY{X: float64(p.T) / div, Y: 100 * p.V})
		}
		series = append(series, svgplot.Series{Label: label, Color: col, Step: true, Points: pts})
	}
	return svgplot.Chart{
		XLabel: "time since the change was acknowledged (" + unit + ")", YLabel: "live nodes reflecting it (%)",
		Series: series, YMin: 0, YMax: 100, YFixed: true,
	}
}

func pct(ps []Point) []svgplot.XY { return scale(ps, 100) }

func scale(ps []Point, k float64) []svgplot.XY {
	out := make([]svgplot.XY, len(ps))
	for i, p := range ps {
		v := p.V * k
		if math.IsNaN(p.V) {
			v = math.NaN()
		}
		out[i] = svgplot.XY{X: p.T.Seconds(), Y: v}
	}
	return out
}
