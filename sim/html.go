package sim

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteHTML writes dir/index.html: the text summary and SVG plots (rendered
// with gonum.org/v1/plot and embedded, so the page needs no network and no
// JavaScript).
func (r Report) WriteHTML(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		return err
	}
	type fig struct {
		Title string
		SVG   template.HTML
	}
	var figs []fig
	for _, f := range []struct {
		title string
		draw  func() (*plot.Plot, error)
	}{
		{"Dissemination: fraction of live nodes that reflect each change", r.seenPlot},
		{"Catalog agreement: share of live nodes holding the majority hash", r.agreementPlot},
		{"Traffic: bytes per second, whole network", r.bytesPlot},
	} {
		p, err := f.draw()
		if err != nil {
			return fmt.Errorf("sim: report: %s: %w", f.title, err)
		}
		svg, err := renderSVG(p)
		if err != nil {
			return fmt.Errorf("sim: report: %s: %w", f.title, err)
		}
		figs = append(figs, fig{f.title, template.HTML(svg)}) // #nosec: our own SVG
	}
	var out bytes.Buffer
	err := pageTmpl.Execute(&out, struct {
		R     Report
		Pass  bool
		Text  string
		Figs  []fig
		Stamp string
	}{r, r.Passed(), text.String(), figs, fmt.Sprintf("seed %d", r.Seed)})
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
body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}
.pass{color:#1a7f37}.fail{color:#c62828}
figure{margin:2em 0}figcaption{font-weight:bold;margin-bottom:.5em}
</style></head><body>
<h1>{{.R.Scenario}} — {{if .Pass}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<p>{{.R.Description}}</p>
<p>{{.Stamp}}, {{.R.Nodes}} nodes, {{.R.Duration}} simulated; propagation {{.R.Propagation}}.</p>
<pre>{{.Text}}</pre>
{{range .Figs}}<figure><figcaption>{{.Title}}</figcaption>{{.SVG}}</figure>
{{end}}</body></html>
`))

func seconds(d time.Duration) float64 { return d.Seconds() }

func renderSVG(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(8*vg.Inch, 4*vg.Inch, "svg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	// Drop the XML prolog so the SVG can sit inline in HTML.
	if i := bytes.Index(b.Bytes(), []byte("<svg")); i > 0 {
		return b.Bytes()[i:], nil
	}
	return b.Bytes(), nil
}

func xys(ps []Point) plotter.XYs {
	out := make(plotter.XYs, len(ps))
	for i, p := range ps {
		out[i].X, out[i].Y = seconds(p.T), p.V
	}
	return out
}

func (r Report) seenPlot() (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "seconds since the change was acknowledged"
	p.Y.Label.Text = "fraction of live nodes"
	p.Y.Min, p.Y.Max = 0, 1.05
	for i, c := range r.Series.Seen {
		if len(c.Points) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys(c.Points))
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		p.Add(l)
	}
	return p, nil
}

func (r Report) agreementPlot() (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "share holding the majority hash"
	p.Y.Min, p.Y.Max = 0, 1.05
	if len(r.Series.Agreement) > 0 {
		l, err := plotter.NewLine(xys(r.Series.Agreement))
		if err != nil {
			return nil, err
		}
		p.Add(l)
	}
	return p, r.addMarks(p)
}

func (r Report) bytesPlot() (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "bytes/s (all nodes)"
	if len(r.Series.Bytes) > 0 {
		l, err := plotter.NewLine(xys(r.Series.Bytes))
		if err != nil {
			return nil, err
		}
		p.Add(l)
	}
	return p, r.addMarks(p)
}

// addMarks draws fault steps as labelled vertical lines.
func (r Report) addMarks(p *plot.Plot) error {
	if len(r.Series.Marks) == 0 {
		return nil
	}
	top := p.Y.Max
	if top <= 0 {
		top = 1
	}
	var labels plotter.XYLabels
	for _, m := range r.Series.Marks {
		x := seconds(m.T)
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: top}})
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 200, G: 80, B: 80, A: 255}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: top})
		labels.Labels = append(labels.Labels, m.Label)
	}
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	p.Add(lab)
	return nil
}
