// Command benchfmt reads `go test -bench` output on stdin and prints one aligned
// table per package, with custom metrics as columns, so `make bench` reads like a
// report. Lines it does not recognise pass through unchanged.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

type row struct {
	name    string
	iters   string
	metrics map[string]string
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	var pkg string
	var rows []row
	var units []string
	seen := map[string]bool{}
	flush := func() {
		if len(rows) == 0 {
			return
		}
		fmt.Printf("\n== %s\n", pkg)
		w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "benchmark\titerations\t%s\t\n", strings.Join(units, "\t"))
		for _, r := range rows {
			vals := make([]string, len(units))
			for i, u := range units {
				vals[i] = r.metrics[u]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t\n", r.name, r.iters, strings.Join(vals, "\t"))
		}
		w.Flush()
		rows, units, seen = nil, nil, map[string]bool{}
	}
	for in.Scan() {
		line := in.Text()
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "pkg: "):
			flush()
			pkg = strings.TrimPrefix(line, "pkg: ")
		case len(f) >= 4 && strings.HasPrefix(f[0], "Benchmark"):
			r := row{name: strings.TrimPrefix(f[0], "Benchmark"), iters: f[1], metrics: map[string]string{}}
			for i := 2; i+1 < len(f); i += 2 {
				r.metrics[f[i+1]] = f[i]
				if !seen[f[i+1]] {
					seen[f[i+1]] = true
					units = append(units, f[i+1])
				}
			}
			rows = append(rows, r)
		case strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "PASS") ||
			strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") || strings.HasPrefix(line, "cpu:"):
		default:
			flush()
			fmt.Println(line)
		}
	}
	flush()
}
