// Package svgplot draws the simulator's line charts as self-contained SVG:
// labelled axes with units and round ticks, a legend naming every curve,
// event markers whose labels never overlap (they stack in rows), shaded
// intervals, and gaps in the data drawn as gaps, not slopes.
//
// It is written for reports a person reads in a browser, not for general
// plotting: one chart type, no interaction, standard library only. Output is
// deterministic for equal input.
package svgplot

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart is one line chart.
type Chart struct {
	// XLabel and YLabel name the axes with their unit, e.g. "time since start (s)".
	XLabel, YLabel string
	// Series are the curves, drawn in order. A point with a NaN Y breaks the
	// line (a gap), and so does a step in X larger than MaxGap (if > 0).
	Series []Series
	// Marks are labelled instants on the X axis (fault steps, failures).
	Marks []Mark
	// Bands are shaded X intervals (a partition, self-preservation).
	Bands []Band
	// YMin, YMax fix the Y range when YFixed; otherwise it fits the data
	// (from 0 when all values are non-negative).
	YMin, YMax float64
	YFixed     bool
	// XMin, XMax fix the X range when XFixed.
	XMin, XMax float64
	XFixed     bool
	// YFormat formats Y tick labels (default: %g of the rounded value).
	YFormat func(float64) string
	// MaxGap breaks a line where consecutive X values are further apart.
	MaxGap float64
	// Width and Height in pixels (default 760 × 360).
	Width, Height int
}

// Series is one curve.
type Series struct {
	Label  string // in the legend; empty: not listed (e.g. one of many of a kind)
	Color  string // CSS color; default from the palette by index
	Points []XY
	Step   bool // draw as a step function (value holds until the next point)
	Dashed bool
}

// XY is one point.
type XY struct{ X, Y float64 }

// Mark is a labelled instant.
type Mark struct {
	X     float64
	Label string
	Color string // default a dark red
}

// Band is a shaded interval.
type Band struct {
	X0, X1 float64
	Label  string
	Color  string // default a light orange
}

// Palette is the default series colors (colorblind-safe, Okabe–Ito).
var Palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

const (
	fontSize   = 12
	charWidth  = 6.6 // average glyph width at fontSize in a sans-serif font
	markRowH   = 15
	tickLen    = 5
	legendRowH = 18
)

// SVG renders the chart.
func (c Chart) SVG() []byte {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 760
	}
	if h <= 0 {
		h = 360
	}
	xmin, xmax, ymin, ymax := c.ranges()
	xt := ticks(xmin, xmax, 8)
	yt := ticks(ymin, ymax, 6)
	if !c.XFixed && len(xt) > 0 {
		xmin, xmax = min(xmin, xt[0]), max(xmax, xt[len(xt)-1])
	}
	if !c.YFixed && len(yt) > 0 {
		ymin, ymax = min(ymin, yt[0]), max(ymax, yt[len(yt)-1])
	}
	yfmt := c.YFormat
	if yfmt == nil {
		yfmt = func(v float64) string { return formatTick(v, yt) }
	}
	yw := 0
	for _, v := range yt {
		yw = max(yw, len(yfmt(v)))
	}
	// Layout: marks' label rows above the plot, legend below the x label.
	rows := markRows(c.Marks, xmin, xmax, float64(w))
	nrows := 0
	for _, r := range rows {
		nrows = max(nrows, r+1)
	}
	legend := c.legendItems()
	left := 24.0 + float64(yw)*charWidth + tickLen + 6
	right := 16.0
	top := 10.0 + float64(nrows)*markRowH
	legendRows := legendLayout(legend, float64(w)-left-right)
	bottom := 44.0 + float64(legendRows)*legendRowH
	pw, ph := float64(w)-left-right, float64(h)-top-bottom
	if ph < 80 {
		h += int(80 - ph)
		ph = 80
	}
	sx := func(x float64) float64 { return left + (x-xmin)/(xmax-xmin)*pw }
	sy := func(y float64) float64 { return top + ph - (y-ymin)/(ymax-ymin)*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n", w, h, w, h, fontSize)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	// Bands.
	for _, bd := range c.Bands {
		x0, x1 := clamp(bd.X0, xmin, xmax), clamp(bd.X1, xmin, xmax)
		if x1 <= x0 {
			continue
		}
		col := bd.Color
		if col == "" {
			col = "#fde8cf"
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n", f(sx(x0)), f(top), f(sx(x1)-sx(x0)), f(ph), col, esc(bd.Label))
	}
	// Grid and ticks.
	for _, v := range yt {
		y := sy(v)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", f(left), f(y), f(left+pw), f(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", f(left-tickLen-3), f(y), esc(yfmt(v)))
	}
	for _, v := range xt {
		x := sx(v)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", f(x), f(top), f(x), f(top+ph))
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f(x), f(top+ph), f(x), f(top+ph+tickLen))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f(x), f(top+ph+tickLen+13), esc(formatTick(v, xt)))
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#333"/>`+"\n", f(left), f(top), f(pw), f(ph))
	// Axis labels.
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f(left+pw/2), f(top+ph+36), esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(12,%s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", f(top+ph/2), esc(c.YLabel))
	// Marks: a dashed line through the plot and the label in its row above.
	for i, m := range c.Marks {
		if m.X < xmin || m.X > xmax {
			continue
		}
		col := m.Color
		if col == "" {
			col = "#a61b1b"
		}
		x := sx(m.X)
		ly := 10 + float64(rows[i])*markRowH + fontSize - 2
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="4 3" stroke-width="1"/>`+"\n", f(x), f(ly+3), f(x), f(top+ph), col)
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s">%s</text>`+"\n", f(x+2), f(ly), col, esc(m.Label))
	}
	// Series, clipped to the plot.
	fmt.Fprintf(&b, `<clipPath id="plot"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n", f(left), f(top-1), f(pw), f(ph+2))
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = Palette[i%len(Palette)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		for _, seg := range segments(s.Points, c.MaxGap, s.Step) {
			if len(seg) == 1 {
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" fill="%s" clip-path="url(#plot)"/>`+"\n", f(sx(seg[0].X)), f(sy(seg[0].Y)), col)
				continue
			}
			var pts strings.Builder
			for k, p := range seg {
				if k > 0 {
					pts.WriteByte(' ')
				}
				pts.WriteString(f(sx(p.X)) + "," + f(sy(p.Y)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s clip-path="url(#plot)"/>`+"\n", pts.String(), col, dash)
		}
	}
	// Legend.
	lx, ly := left, top+ph+52
	for _, it := range legend {
		wItem := 26 + float64(len([]rune(it.label)))*charWidth + 16
		if lx+wItem > left+pw && lx > left {
			lx, ly = left, ly+legendRowH
		}
		if it.band {
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="18" height="10" fill="%s"/>`+"\n", f(lx), f(ly-9), it.color)
		} else {
			dash := ""
			if it.dashed {
				dash = ` stroke-dasharray="6 3"`
			}
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", f(lx), f(ly-4), f(lx+18), f(ly-4), it.color, dash)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`+"\n", f(lx+24), f(ly), esc(it.label))
		lx += wItem
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

type legendItem struct {
	label, color string
	band, dashed bool
}

// legendItems lists each labelled series and band once per label.
func (c Chart) legendItems() []legendItem {
	var out []legendItem
	seen := map[string]bool{}
	for i, s := range c.Series {
		if s.Label == "" || seen[s.Label] {
			continue
		}
		seen[s.Label] = true
		col := s.Color
		if col == "" {
			col = Palette[i%len(Palette)]
		}
		out = append(out, legendItem{label: s.Label, color: col, dashed: s.Dashed})
	}
	for _, bd := range c.Bands {
		if bd.Label == "" || seen["band:"+bd.Label] {
			continue
		}
		seen["band:"+bd.Label] = true
		col := bd.Color
		if col == "" {
			col = "#fde8cf"
		}
		out = append(out, legendItem{label: bd.Label, color: col, band: true})
	}
	return out
}

// legendLayout returns how many rows the legend takes in width.
func legendLayout(items []legendItem, width float64) int {
	if len(items) == 0 {
		return 0
	}
	rows, x := 1, 0.0
	for _, it := range items {
		w := 26 + float64(len([]rune(it.label)))*charWidth + 16
		if x+w > width && x > 0 {
			rows++
			x = 0
		}
		x += w
	}
	return rows
}

// markRows assigns each mark the first label row where its label does not
// overlap an earlier one.
func markRows(marks []Mark, xmin, xmax, width float64) []int {
	rows := make([]int, len(marks))
	var ends []float64 // per row: rightmost pixel used
	span := xmax - xmin
	for i, m := range marks {
		x := (m.X - xmin) / span * width
		wl := float64(len([]rune(m.Label)))*charWidth + 8
		r := 0
		for r < len(ends) && ends[r] > x {
			r++
		}
		if r == len(ends) {
			ends = append(ends, 0)
		}
		ends[r] = x + wl
		rows[i] = r
	}
	return rows
}

// segments splits points at NaN values and at X steps above maxGap; for a
// step series it inserts the corners.
func segments(pts []XY, maxGap float64, step bool) [][]XY {
	var out [][]XY
	var cur []XY
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, p := range pts {
		if math.IsNaN(p.Y) || math.IsNaN(p.X) || math.IsInf(p.Y, 0) {
			flush()
			continue
		}
		if n := len(cur); n > 0 && maxGap > 0 && p.X-cur[n-1].X > maxGap {
			flush()
		}
		if n := len(cur); n > 0 && step {
			cur = append(cur, XY{p.X, cur[n-1].Y})
		}
		cur = append(cur, p)
	}
	flush()
	return out
}

func (c Chart) ranges() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) || math.IsNaN(p.X) {
				continue
			}
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
		}
	}
	for _, m := range c.Marks {
		xmin, xmax = math.Min(xmin, m.X), math.Max(xmax, m.X)
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	if ymin >= 0 {
		ymin = 0
	}
	if c.XFixed {
		xmin, xmax = c.XMin, c.XMax
	}
	if c.YFixed {
		ymin, ymax = c.YMin, c.YMax
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	if ymax <= ymin {
		ymax = ymin + 1
	}
	return
}

// ticks returns round tick values (1, 2 or 5 × 10^k apart) covering
// [lo, hi] with about n intervals.
func ticks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return nil
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v <= hi+step*0.5 && len(out) < 100; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	// Cover hi.
	if out[len(out)-1] < hi {
		out = append(out, out[len(out)-1]+step)
	}
	return out
}

// formatTick prints v with as many decimals as the tick spacing needs.
func formatTick(v float64, ts []float64) string {
	dec := 0
	if len(ts) > 1 {
		step := math.Abs(ts[1] - ts[0])
		for dec < 6 && math.Abs(step*math.Pow(10, float64(dec))-math.Round(step*math.Pow(10, float64(dec)))) > 1e-6 {
			dec++
		}
	}
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func esc(s string) string { return html.EscapeString(s) }
