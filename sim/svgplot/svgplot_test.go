package svgplot

import (
	"bytes"
	"encoding/xml"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
		{0, 98, 8, []float64{0, 20, 40, 60, 80, 100}},
		{3, 7, 4, []float64{3, 4, 5, 6, 7}},
	}
	for _, tt := range tests {
		got := ticks(tt.lo, tt.hi, tt.n)
		if len(got) != len(tt.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
				break
			}
		}
	}
	if got := formatTick(0.4, []float64{0, 0.2}); got != "0.4" {
		t.Errorf("formatTick = %q", got)
	}
	if got := formatTick(40, []float64{0, 20}); got != "40" {
		t.Errorf("formatTick = %q", got)
	}
}

func TestSegmentsGaps(t *testing.T) {
	pts := []XY{{0, 1}, {1, 1}, {2, math.NaN()}, {3, 2}, {4, 2}, {10, 3}}
	got := segments(pts, 2, false)
	if len(got) != 3 || len(got[0]) != 2 || len(got[1]) != 2 || len(got[2]) != 1 {
		t.Errorf("segments = %v, want [2 points] [2 points] [1 point]", got)
	}
	st := segments([]XY{{0, 1}, {1, 2}}, 0, true)
	if want := []XY{{0, 1}, {1, 1}, {1, 2}}; !slices.Equal(st[0], want) {
		t.Errorf("step segments = %v, want %v", st[0], want)
	}
}

func TestMarkRowsDoNotOverlap(t *testing.T) {
	marks := []Mark{{X: 0, Label: "partition"}, {X: 0.5, Label: "crash"}, {X: 1, Label: "heal"}, {X: 50, Label: "restart"}}
	rows := markRows(marks, 0, 100, 700)
	if rows[0] == rows[1] || rows[1] == rows[2] || rows[0] == rows[2] {
		t.Errorf("rows %v: close marks share a row", rows)
	}
	if rows[3] != 0 {
		t.Errorf("rows %v: a distant mark should use the first row", rows)
	}
}

// The chart is well-formed XML with its labels, and equal to the golden file
// (go test -update rewrites it).
func TestChartGolden(t *testing.T) {
	c := Chart{
		XLabel: "time since start (s)", YLabel: "throughput (KiB/s)",
		Series: []Series{
			{Label: "whole network", Points: []XY{{0, 1}, {1, 3}, {2, 2}, {3, math.NaN()}, {4, 5}, {5, 4}}},
			{Label: "nodes <preserving>", Step: true, Dashed: true, Points: []XY{{0, 0}, {2, 2}, {5, 1}}},
		},
		Marks: []Mark{{X: 1, Label: "partition"}, {X: 1.05, Label: "crash"}, {X: 4, Label: "heal"}},
		Bands: []Band{{X0: 1, X1: 4, Label: "partitioned"}},
	}
	svg := c.SVG()
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	for _, want := range []string{"time since start (s)", "throughput (KiB/s)", "whole network", "nodes &lt;preserving&gt;", "partitioned", ">heal<"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if n := strings.Count(string(svg), "<polyline"); n != 3 {
		t.Errorf("%d polylines, want 3 (the gap splits the first series)", n)
	}
	golden := filepath.Join("testdata", "chart.svg")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(svg, want) {
		t.Errorf("chart differs from %s (go test -update to accept)", golden)
	}
}
