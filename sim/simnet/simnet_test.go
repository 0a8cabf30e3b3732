package simnet

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"
)

// testNet returns a network with a fixed 10ms link and a large inbox, plus
// transports for addrs.
func testNet(t *testing.T, mod func(*Config), addrs ...string) (*Network, []*Transport) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DefaultLink = LinkConfig{Latency: 10 * time.Millisecond, Distribution: Fixed}
	cfg.InboxSize = 30000
	if mod != nil {
		mod(&cfg)
	}
	nw := newNet(t, cfg)
	t.Cleanup(func() { nw.Close() })
	trs := make([]*Transport, len(addrs))
	for i, a := range addrs {
		tr, err := nw.Transport(a)
		if err != nil {
			t.Fatalf("Transport(%s): %v", a, err)
		}
		trs[i] = tr
	}
	return nw, trs
}

const (
	a1 = "10.0.0.1:7946"
	a2 = "10.0.0.2:7946"
	a3 = "10.0.0.3:7946"
	a4 = "10.0.0.4:7946"
)

// drain returns the packets queued in tr's inbox now.
func drain(tr *Transport) []*memberlist.Packet {
	var out []*memberlist.Packet
	for {
		select {
		case p := <-tr.PacketCh():
			out = append(out, p)
		default:
			return out
		}
	}
}

func send(t *testing.T, tr *Transport, to string, k int) {
	t.Helper()
	for i := range k {
		if _, err := tr.WriteTo([]byte{byte(i), byte(i >> 8)}, to); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
}

func TestLatencyDistributions(t *testing.T) {
	const n = 10000
	ms := time.Millisecond
	tests := []struct {
		name             string
		lc               LinkConfig
		wantMin, wantMax time.Duration
		wantMean         time.Duration
		tol              time.Duration
	}{
		{"fixed", LinkConfig{Latency: 10 * ms, Jitter: 5 * ms, Distribution: Fixed}, 10 * ms, 10 * ms, 10 * ms, 0},
		{"uniform", LinkConfig{Latency: 10 * ms, Jitter: 4 * ms}, 10 * ms, 14 * ms, 12 * ms, 100 * time.Microsecond},
		// Pareto α=3, scale 2ms: mean extra = 2ms/(3-1) = 1ms.
		{"long_tail", LinkConfig{Latency: 10 * ms, Jitter: 2 * ms, Distribution: LongTail, TailShape: 3}, 10 * ms, 2010 * ms, 11 * ms, 150 * time.Microsecond},
		{"capped", LinkConfig{Latency: 10 * ms, Jitter: 10 * ms, Distribution: LongTail, MaxDelay: 12 * ms}, 10 * ms, 12 * ms, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw, trs := testNet(t, nil, a1, a2)
				if err := nw.SetLink(a1, a2, tc.lc); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				send(t, trs[0], a2, n)
				var sum time.Duration
				lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
				for range n {
					p := <-trs[1].PacketCh()
					d := p.Timestamp.Sub(start)
					sum += d
					lo, hi = min(lo, d), max(hi, d)
				}
				if lo < tc.wantMin || hi > tc.wantMax {
					t.Errorf("delay range [%v, %v], want within [%v, %v]", lo, hi, tc.wantMin, tc.wantMax)
				}
				if mean := sum / n; tc.wantMean > 0 && (mean < tc.wantMean-tc.tol || mean > tc.wantMean+tc.tol) {
					t.Errorf("mean delay %v, want %v ± %v", mean, tc.wantMean, tc.tol)
				}
			})
		})
	}
}

func TestLossAndDuplication(t *testing.T) {
	const n = 10000
	tests := []struct {
		name      string
		loss, dup float64
		want      float64 // expected deliveries
	}{
		{"none", 0, 0, n},
		{"loss_0.3", 0.3, 0, 0.7 * n},
		{"dup_0.2", 0, 0.2, 1.2 * n},
		{"loss_and_dup", 0.5, 0.5, 0.75 * n},
		{"all_lost", 1, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				run := func(seed uint64) int {
					nw, trs := testNet(t, func(c *Config) { c.Seed = seed }, a1, a2)
					if err := nw.SetDefaultLink(LinkConfig{Latency: time.Millisecond, Jitter: time.Millisecond, Loss: tc.loss, Duplicate: tc.dup}); err != nil {
						t.Fatal(err)
					}
					send(t, trs[0], a2, n)
					time.Sleep(time.Second)
					got := len(drain(trs[1]))
					s1, s2 := nw.Stats(a1), nw.Stats(a2)
					if s1.PacketsSent != n || s1.PacketsSent+s1.PacketsDuplicated != s2.PacketsReceived+s1.PacketsLost {
						t.Errorf("stats don't add up: sender %+v receiver %+v", s1, s2)
					}
					if int(s2.PacketsReceived) != got {
						t.Errorf("PacketsReceived %d, inbox held %d", s2.PacketsReceived, got)
					}
					return got
				}
				got := run(7)
				sigma := math.Sqrt(n) // generous: every binomial here has σ < √n/2
				if math.Abs(float64(got)-tc.want) > 2*sigma {
					t.Errorf("delivered %d, want %.0f ± %.0f", got, tc.want, 2*sigma)
				}
				if again := run(7); again != got {
					t.Errorf("same seed delivered %d then %d", got, again)
				}
			})
		})
	}
}

func TestReorderingFromJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, trs := testNet(t, func(c *Config) {
			c.DefaultLink = LinkConfig{Latency: time.Millisecond, Jitter: 5 * time.Millisecond}
		}, a1, a2)
		send(t, trs[0], a2, 100)
		time.Sleep(time.Second)
		ps := drain(trs[1])
		inversions := 0
		for i := 1; i < len(ps); i++ {
			if ps[i].Buf[0] < ps[i-1].Buf[0] {
				inversions++
			}
		}
		if len(ps) != 100 || inversions == 0 {
			t.Errorf("got %d packets with %d inversions, want 100 reordered", len(ps), inversions)
		}
		if got, want := ps[0].From.String(), a1; got != want {
			t.Errorf("From = %s, want %s", got, want)
		}
	})
}

func TestPartitionMatrix(t *testing.T) {
	addrs := []string{a1, a2, a3, a4}
	tests := []struct {
		name   string
		groups [][]string
		// want[i] lists, for addrs[i], which addrs it reaches (as a bitmask).
		want [4]uint8
	}{
		{"none", nil, [4]uint8{0b1111, 0b1111, 0b1111, 0b1111}},
		{"halves", [][]string{{a1, a2}, {a3, a4}}, [4]uint8{0b0011, 0b0011, 0b1100, 0b1100}},
		{"isolate_one_rest_implicit", [][]string{{a1}}, [4]uint8{0b0001, 0b1110, 0b1110, 0b1110}},
		{"three_groups", [][]string{{a1}, {a2, a3}}, [4]uint8{0b0001, 0b0110, 0b0110, 0b1000}},
		{"last_listing_wins", [][]string{{a1, a2}, {a2}}, [4]uint8{0b0001, 0b0010, 0b1100, 0b1100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw, trs := testNet(t, nil, addrs...)
				if tc.groups != nil {
					nw.Partition(tc.groups...)
				}
				for i := range addrs {
					for j := range addrs {
						if i != j {
							send(t, trs[i], addrs[j], 1)
						}
					}
				}
				time.Sleep(time.Second)
				for i, tr := range trs {
					var got uint8 = 1 << i
					for _, p := range drain(tr) {
						for j, a := range addrs {
							if p.From.String() == a {
								got |= 1 << j
							}
						}
					}
					if got != tc.want[i] {
						t.Errorf("%s heard from %04b, want %04b", addrs[i], got, tc.want[i])
					}
					for j := range addrs {
						if got, want := nw.Reachable(addrs[j], addrs[i]), tc.want[i]&(1<<j) != 0; got != want {
							t.Errorf("Reachable(%s, %s) = %v, want %v", addrs[j], addrs[i], got, want)
						}
					}
				}
				nw.Heal()
				send(t, trs[0], a4, 1)
				time.Sleep(time.Second)
				if got := len(drain(trs[3])); got != 1 {
					t.Errorf("after Heal %s got %d packets, want 1", a4, got)
				}
			})
		})
	}
}

func TestOneWayCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, a1, a2)
		nw.Cut(a1, a2)
		send(t, trs[0], a2, 5)
		send(t, trs[1], a1, 5)
		time.Sleep(time.Second)
		if got1, got2 := len(drain(trs[0])), len(drain(trs[1])); got1 != 5 || got2 != 0 {
			t.Errorf("a1 got %d (want 5), a2 got %d (want 0)", got1, got2)
		}
		// A stream needs both ways: both directions fail.
		if _, err := trs[0].DialTimeout(a2, time.Second); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial a1→a2 across cut: %v, want ErrUnreachable", err)
		}
		if _, err := trs[1].DialTimeout(a1, time.Second); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial a2→a1 across cut: %v, want ErrUnreachable", err)
		}
		nw.Uncut(a1, a2)
		send(t, trs[0], a2, 5)
		time.Sleep(time.Second)
		if got := len(drain(trs[1])); got != 5 {
			t.Errorf("after Uncut a2 got %d, want 5", got)
		}
		nw.CutLink(a1, a2)
		send(t, trs[0], a2, 1)
		send(t, trs[1], a1, 1)
		time.Sleep(time.Second)
		if got1, got2 := len(drain(trs[0])), len(drain(trs[1])); got1+got2 != 0 {
			t.Errorf("across CutLink: got %d and %d packets, want none", got1, got2)
		}
		nw.UncutLink(a1, a2)
		if !nw.Reachable(a1, a2) || !nw.Reachable(a2, a1) {
			t.Error("UncutLink left the link cut")
		}
	})
}

// dialPair dials from → to and accepts on to's side.
func dialPair(t *testing.T, from, to *Transport) (client, server net.Conn) {
	t.Helper()
	c, err := from.DialTimeout(to.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	s := <-to.StreamCh()
	return c, s
}

func TestStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, a1, a2, a3)
		start := time.Now()
		c, err := trs[0].DialTimeout(a2, time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if got, want := time.Since(start), 20*time.Millisecond; got != want {
			t.Errorf("establishment took %v, want one round trip %v", got, want)
		}
		s := <-trs[1].StreamCh()
		if got := s.RemoteAddr().String(); got != a1 {
			t.Errorf("server RemoteAddr %s, want %s", got, a1)
		}
		if got := c.RemoteAddr().String(); got != a2 {
			t.Errorf("client RemoteAddr %s, want %s", got, a2)
		}
		go func() { c.Write([]byte("hello")) }()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("read %q, %v", buf, err)
		}
		synctest.Wait()
		if got := nw.Stats(a1).StreamBytesSent; got != 5 {
			t.Errorf("StreamBytesSent %d, want 5", got)
		}

		// A partition breaks both ends: blocked reads return.
		done := make(chan error, 2)
		go func() { _, err := c.Read(buf); done <- err }()
		go func() { _, err := s.Read(buf); done <- err }()
		synctest.Wait()
		nw.Partition([]string{a1})
		for range 2 {
			if err := <-done; err == nil {
				t.Error("read on a partitioned stream succeeded")
			}
		}

		// Dial across the partition fails after the round trip.
		start = time.Now()
		if _, err := trs[0].DialTimeout(a2, time.Second); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial across partition: %v, want ErrUnreachable", err)
		}
		if got := time.Since(start); got != 20*time.Millisecond {
			t.Errorf("failed dial took %v, want 20ms", got)
		}
		nw.Heal()

		// Crash breaks streams and refuses dials.
		c, s = dialPair(t, trs[0], trs[1])
		nw.Crash(a2)
		if _, err := c.Write([]byte("x")); err == nil {
			t.Error("write to crashed peer's stream succeeded")
		}
		if _, err := trs[0].DialTimeout(a2, time.Second); !errors.Is(err, ErrRefused) {
			t.Errorf("dial to crashed: %v, want ErrRefused", err)
		}
		if _, err := trs[1].DialTimeout(a3, time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("dial from crashed: %v, want deadline exceeded", err)
		}
		// Never-used address: unreachable, no hang.
		if _, err := trs[0].DialTimeout("10.9.9.9:1", time.Second); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial to unknown: %v, want ErrUnreachable", err)
		}
		if _, err := trs[0].DialTimeout("nonsense", time.Second); !errors.Is(err, ErrBadAddr) {
			t.Errorf("dial to bad addr: %v, want ErrBadAddr", err)
		}
		st := nw.Stats(a1)
		if st.StreamDials != 5 || st.StreamDialsFailed != 3 {
			t.Errorf("a1 dials %d failed %d, want 5 and 3", st.StreamDials, st.StreamDialsFailed)
		}
	})
}

func TestDialBlackholeAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, func(c *Config) { c.DialBlackhole = true }, a1, a2)
		nw.CutLink(a1, a2)
		start := time.Now()
		if _, err := trs[0].DialTimeout(a2, 3*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("blackholed dial: %v, want deadline exceeded", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("blackholed dial took %v, want the 3s timeout", got)
		}
		nw.Heal()
		// A timeout shorter than the round trip wins.
		if _, err := trs[0].DialTimeout(a2, 5*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("short timeout: %v, want deadline exceeded", err)
		}
		// Shutdown during a dial ends it with ErrShutdown.
		nw.CutLink(a1, a2)
		errc := make(chan error, 1)
		go func() { _, err := trs[0].DialTimeout(a2, time.Hour); errc <- err }()
		synctest.Wait()
		trs[0].Shutdown()
		if err := <-errc; !errors.Is(err, ErrShutdown) {
			t.Errorf("dial during shutdown: %v, want ErrShutdown", err)
		}
	})
}

func TestPauseResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, func(c *Config) { c.PauseQueue = 3 }, a1, a2)
		nw.Pause(a2)
		send(t, trs[0], a2, 5)
		send(t, trs[1], a1, 5) // a stopped process sends nothing
		dialErr := make(chan error, 1)
		go func() {
			c, err := trs[0].DialTimeout(a2, time.Second)
			if err == nil {
				defer c.Close()
			}
			dialErr <- err
		}()
		time.Sleep(time.Second)
		if got1, got2 := len(drain(trs[0])), len(drain(trs[1])); got1 != 0 || got2 != 0 {
			t.Errorf("while paused: a1 got %d, a2 got %d, want 0 and 0", got1, got2)
		}
		if err := <-dialErr; err != nil {
			t.Errorf("dial to paused (kernel accepts): %v", err)
		}
		if !nw.Paused(a2) {
			t.Error("Paused(a2) = false")
		}
		nw.Resume(a2)
		ps := drain(trs[1])
		if len(ps) != 3 {
			t.Errorf("after resume got %d packets, want the 3 queued", len(ps))
		}
		select {
		case s := <-trs[1].StreamCh():
			s.Close()
		default:
			t.Error("queued stream not handed over on resume")
		}
		if got := nw.Stats(a2).InboxDrops; got != 2 {
			t.Errorf("InboxDrops %d, want 2", got)
		}
		send(t, trs[1], a1, 1)
		time.Sleep(time.Second)
		if got := len(drain(trs[0])); got != 1 {
			t.Errorf("after resume a1 got %d, want 1", got)
		}
	})
}

func TestCrashRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, a1, a2)
		send(t, trs[0], a2, 3) // in flight when a2 crashes
		nw.Crash(a2)
		if !nw.Crashed(a2) {
			t.Error("Crashed(a2) = false")
		}
		if _, err := nw.Transport(a1); !errors.Is(err, ErrAddrInUse) {
			t.Errorf("Transport on live address: %v, want ErrAddrInUse", err)
		}
		time.Sleep(5 * time.Millisecond)
		tr2, err := nw.Transport(a2) // restart
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
		time.Sleep(time.Second)
		if got := len(drain(tr2)) + len(drain(trs[1])); got != 0 {
			t.Errorf("%d packets sent to the crashed incarnation arrived", got)
		}
		if _, err := trs[1].WriteTo([]byte("x"), a1); !errors.Is(err, ErrShutdown) {
			t.Errorf("old transport WriteTo: %v, want ErrShutdown", err)
		}
		send(t, trs[0], a2, 2)
		send(t, tr2, a1, 2)
		time.Sleep(time.Second)
		if got1, got2 := len(drain(trs[0])), len(drain(tr2)); got1 != 2 || got2 != 2 {
			t.Errorf("after restart a1 got %d, a2 got %d, want 2 and 2", got1, got2)
		}
		if got := nw.Stats(a1).PacketsLost; got != 3 {
			t.Errorf("a1 PacketsLost %d, want 3", got)
		}
		// Shutdown frees the address too.
		tr2.Shutdown()
		tr2.Shutdown()
		if _, err := nw.Transport(a2); err != nil {
			t.Errorf("Transport after Shutdown: %v", err)
		}
	})
}

func TestInboxOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, func(c *Config) { c.InboxSize = 10 }, a1, a2)
		send(t, trs[0], a2, 15) // nobody reads a2's inbox: never blocks
		time.Sleep(time.Second)
		if got := len(drain(trs[1])); got != 10 {
			t.Errorf("inbox held %d, want 10", got)
		}
		if got := nw.Stats(a2).InboxDrops; got != 5 {
			t.Errorf("InboxDrops %d, want 5", got)
		}
	})
}

func TestBandwidth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, func(c *Config) { c.BandwidthQueue = 500 * time.Millisecond }, a1, a2)
		nw.SetBandwidth(a1, 1000) // 100-byte packets: 100ms each
		start := time.Now()
		for range 10 {
			trs[0].WriteTo(make([]byte, 100), a2)
		}
		var last time.Duration
		got := 0
		for {
			select {
			case p := <-trs[1].PacketCh():
				got++
				last = p.Timestamp.Sub(start)
				continue
			case <-time.After(2 * time.Second):
			}
			break
		}
		// Packets starting within the 500ms queue: those at 0..500ms, i.e. 6.
		if got != 6 || last != 600*time.Millisecond+10*time.Millisecond {
			t.Errorf("delivered %d, last at %v; want 6, last at 610ms", got, last)
		}
		if got := nw.Stats(a1).BandwidthDrops; got != 4 {
			t.Errorf("BandwidthDrops %d, want 4", got)
		}
	})
}

func TestWriteErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, func(c *Config) { c.MaxPacketSize = 10 }, a1)
		if _, err := trs[0].WriteTo(make([]byte, 11), a1); !errors.Is(err, ErrPacketTooLarge) {
			t.Errorf("big packet: %v", err)
		}
		if _, err := trs[0].WriteTo([]byte("x"), "bad"); !errors.Is(err, ErrBadAddr) {
			t.Errorf("bad addr: %v", err)
		}
		if _, err := trs[0].WriteTo([]byte("x"), "10.1.1.1:5"); err != nil {
			t.Errorf("unknown addr (UDP to nowhere): %v, want nil", err)
		}
		if _, err := nw.Transport("10.0.0.1"); !errors.Is(err, ErrBadAddr) {
			t.Errorf("Transport without port: %v", err)
		}
		nw.Close()
		nw.Close()
		if _, err := nw.Transport(a2); !errors.Is(err, ErrClosed) {
			t.Errorf("Transport after Close: %v", err)
		}
		if _, err := trs[0].WriteTo([]byte("x"), a1); !errors.Is(err, ErrShutdown) {
			t.Errorf("WriteTo after Close: %v", err)
		}
	})
}

func TestAddressNormalization(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, "10.0.0.1:7946", "[::ffff:10.0.0.2]:7946")
		if got := trs[1].Addr(); got != a2 {
			t.Errorf("Addr %s, want %s", got, a2)
		}
		ip, port, _ := trs[1].FinalAdvertiseAddr("", 0)
		if ip.String() != "10.0.0.2" || port != 7946 {
			t.Errorf("FinalAdvertiseAddr %v:%d", ip, port)
		}
		send(t, trs[0], "[::ffff:10.0.0.2]:7946", 1)
		time.Sleep(time.Second)
		if got := len(drain(trs[1])); got != 1 {
			t.Errorf("got %d, want 1", got)
		}
		if got, want := nw.Nodes(), []string{a1, a2}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("Nodes %v, want %v", got, want)
		}
	})
}

func TestAddr(t *testing.T) {
	tests := []struct {
		i    int
		want string
	}{{0, "10.0.0.1:7946"}, {254, "10.0.0.255:7946"}, {255, "10.0.1.0:7946"}, {70000, "10.1.17.113:7946"}}
	for _, tc := range tests {
		if got := Addr(tc.i); got != tc.want {
			t.Errorf("Addr(%d) = %s, want %s", tc.i, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"inbox", func(c *Config) { c.InboxSize = 0 }},
		{"backlog", func(c *Config) { c.StreamBacklog = 0 }},
		{"pause_queue", func(c *Config) { c.PauseQueue = -1 }},
		{"bandwidth", func(c *Config) { c.Bandwidth = -1 }},
		{"bandwidth_queue", func(c *Config) { c.BandwidthQueue = -1 }},
		{"packet_size", func(c *Config) { c.MaxPacketSize = 0 }},
		{"loss", func(c *Config) { c.DefaultLink.Loss = 1.5 }},
		{"loss_nan", func(c *Config) { c.DefaultLink.Loss = math.NaN() }},
		{"dup", func(c *Config) { c.DefaultLink.Duplicate = -0.1 }},
		{"latency", func(c *Config) { c.DefaultLink.Latency = -1 }},
		{"distribution", func(c *Config) { c.DefaultLink.Distribution = 9 }},
		{"tail", func(c *Config) { c.DefaultLink.TailShape = math.Inf(1) }},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	nw := newNet(t, DefaultConfig())
	defer nw.Close()
	if err := nw.SetLink(a1, a2, LinkConfig{Loss: 2}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetLink invalid: %v", err)
	}
	if err := nw.SetDefaultLink(LinkConfig{Jitter: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetDefaultLink invalid: %v", err)
	}
}

// newNet is New for tests: an invalid cfg fails the test.
func newNet(tb testing.TB, cfg Config) *Network {
	tb.Helper()
	nw, err := New(cfg)
	if err != nil {
		tb.Fatalf("simnet.New: %v", err)
	}
	return nw
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DefaultLink.Loss = 2
	if nw, err := New(cfg); !errors.Is(err, ErrInvalidConfig) || nw != nil {
		t.Errorf("New(loss 2) = %v, %v; want nil, ErrInvalidConfig", nw, err)
	}
}
