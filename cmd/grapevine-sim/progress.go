package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/sim"
)

// lineWriter serializes the step log with the progress line: on a terminal
// the progress line is erased before a log line and redrawn after.
type lineWriter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	progress string // the line on screen (tty), "" if none
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.progress != "" {
		fmt.Fprint(l.w, "\r\033[K")
	}
	n, err := l.w.Write(b)
	if l.tty && l.progress != "" {
		fmt.Fprint(l.w, l.progress)
	}
	return n, err
}

// show draws the progress line: redrawn in place on a terminal, a new line
// otherwise.
func (l *lineWriter) show(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		l.progress = s
		fmt.Fprint(l.w, "\r\033[K"+s)
		return
	}
	fmt.Fprintln(l.w, s)
}

func (l *lineWriter) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.progress != "" {
		fmt.Fprint(l.w, "\r\033[K")
	}
	l.progress = ""
}

// startProgress shows p's progress on out until the returned stop is
// called: every second on a terminal, every 10 s otherwise (mode auto); on
// (every 10 s even to a file) or off.
func startProgress(mode string, raw io.Writer, out *lineWriter, p *sim.Progress) (stop func(), err error) {
	tty := false
	if f, ok := raw.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	switch mode {
	case "auto":
		if tty {
			every = time.Second
		}
	case "on":
		tty = false
	case "off":
		return func() {}, nil
	default:
		return nil, usageErr("-progress %q: want auto, on or off", mode)
	}
	out.mu.Lock()
	out.tty = tty
	out.mu.Unlock()
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := p.Snapshot()
				speed := ""
				if w := time.Since(start); w > 0 {
					speed = " (" + speedOf(s.Elapsed, w) + " real time)"
				}
				out.show(fmt.Sprintf("[wall %v] %v%s", time.Since(start).Round(time.Second), s, speed))
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			out.clear()
		})
	}, nil
}

// speedOf is simulated time over wall time with two significant digits
// ("3.6×", "0.031×": a thousand nodes run at a few hundredths).
func speedOf(simulated, wall time.Duration) string {
	r := simulated.Seconds() / wall.Seconds()
	if r >= 0.1 || r == 0 {
		return fmt.Sprintf("%.1f×", r)
	}
	return strconv.FormatFloat(r, 'g', 2, 64) + "×"
}
