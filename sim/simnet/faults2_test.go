package simnet

import (
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// A bridge reaches both sides of a partition; the sides still do not reach
// each other.
func TestBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, _ := testNet(t, nil, a1, a2, a3)
		nw.Partition([]string{a1}, []string{a3})
		nw.Bridge(a2, true)
		for _, c := range []struct {
			from, to string
			want     bool
		}{{a1, a2, true}, {a2, a1, true}, {a3, a2, true}, {a2, a3, true}, {a1, a3, false}, {a3, a1, false}} {
			if got := nw.Reachable(c.from, c.to); got != c.want {
				t.Errorf("Reachable(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
			}
		}
		nw.Bridge(a2, false)
		if nw.Reachable(a1, a2) && nw.Reachable(a3, a2) {
			t.Errorf("bridge off: %s reaches both sides", a2)
		}
		nw.Bridge(a2, true)
		nw.Heal()
		nw.Partition([]string{a1}, []string{a3})
		if nw.Reachable(a1, a2) && nw.Reachable(a3, a2) {
			t.Errorf("heal must end bridges")
		}
	})
}

// A slow node handles inbound packets one at a time: a burst of k arrives
// over k × the processing time.
func TestSlowNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, a1, a2)
		nw.SetSlow(a2, 50*time.Millisecond)
		start := time.Now()
		send(t, trs[0], a2, 4)
		var at []time.Duration
		for range 4 {
			<-trs[1].PacketCh()
			at = append(at, time.Since(start))
		}
		// 10 ms link, then 50 ms each, one after the other.
		want := []time.Duration{60, 110, 160, 210}
		for i := range at {
			if at[i] != want[i]*time.Millisecond {
				t.Errorf("packet %d delivered at %v, want %v", i, at[i], want[i]*time.Millisecond)
			}
		}
		if got := nw.Stats(a2).SlowDelayed; got != 4 {
			t.Errorf("SlowDelayed = %d, want 4", got)
		}
		nw.SetSlow(a2, 0)
		start = time.Now()
		send(t, trs[0], a2, 1)
		<-trs[1].PacketCh()
		if got := time.Since(start); got != 10*time.Millisecond {
			t.Errorf("after SetSlow(0): %v, want the link's 10ms", got)
		}
	})
}

// Stream delay and loss slow writes down; resets break the stream.
func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name  string
		link  LinkConfig
		delay time.Duration // of one write
		reset bool
	}{
		{"delay", LinkConfig{Latency: 10 * time.Millisecond, Distribution: Fixed, StreamDelay: 30 * time.Millisecond}, 30 * time.Millisecond, false},
		{"loss", LinkConfig{Latency: 10 * time.Millisecond, Distribution: Fixed, StreamLoss: 1}, (200 + 400 + 800 + 1600 + 3200 + 6400) * time.Millisecond, false},
		{"reset", LinkConfig{Latency: 10 * time.Millisecond, Distribution: Fixed, StreamReset: 1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw, trs := testNet(t, nil, a1, a2)
				c, s := dialPair(t, trs[0], trs[1])
				defer c.Close()
				defer s.Close()
				if err := nw.SetLink(a1, a2, tt.link); err != nil {
					t.Fatal(err)
				}
				got := make(chan []byte, 1)
				go func() {
					b := make([]byte, 5)
					if _, err := io.ReadFull(s, b); err != nil {
						b = nil
					}
					got <- b
				}()
				start := time.Now()
				_, err := c.Write([]byte("hello"))
				if tt.reset {
					if !errors.Is(err, ErrReset) {
						t.Errorf("write: %v, want ErrReset", err)
					}
					if b := <-got; b != nil {
						t.Errorf("read %q after a reset", b)
					}
					if nw.Stats(a1).StreamResets != 1 {
						t.Errorf("StreamResets = %d", nw.Stats(a1).StreamResets)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if b := <-got; string(b) != "hello" {
					t.Errorf("read %q", b)
				}
				if d := time.Since(start); d != tt.delay {
					t.Errorf("write took %v, want %v", d, tt.delay)
				}
			})
		})
	}
}
