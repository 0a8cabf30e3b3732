package gossip

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/rs/zerolog"
)

// memberlist's own rejection lines (as v0.7.0 prints them, after the bridge
// strips "[LEVEL] memberlist: ") map onto reasons; ordinary lines do not.
func TestMemberlistReason(t *testing.T) {
	tests := []struct {
		line string
		want Reason // 0: not a rejection
	}{
		{"Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:4000", ReasonDecrypt},
		{"failed to receive: encryption is configured but remote state is not encrypted from=127.0.0.1:4000", ReasonDecrypt},
		{"failed to receive: remote state is encrypted and encryption is not configured from=x", ReasonDecrypt},
		{"Push/Pull with n1 failed: No installed keys could decrypt the message", ReasonDecrypt},
		{"discarding packet with unacceptable label \"x\": from=127.0.0.1:4000", ReasonLabel},
		{"discarding stream with unacceptable label \"\": from=127.0.0.1:4000", ReasonLabel},
		{"Failed to read remote state: number of nodes in header (1048577) exceeds limit from=x", ReasonTooLarge},
		{"Failed to receive user message: user message length (30000000) exceeds limit from=x", ReasonTooLarge},
		{"Too many pending push/pull requests", ReasonStreamLimit},
		{"Failed to read remote state: read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout from=x", ReasonTimeout},
		{"Failed to decode ping request: msgpack decode error from=x", ReasonMalformed},
		{"msg type (77) not supported from=x", ReasonMalformed},
		{"Got invalid checksum for UDP packet: 1, 2", ReasonMalformed},
		{"Stream connection from=127.0.0.1:4000", 0},
		{"Initiating push/pull sync with: n1 127.0.0.1:4000", 0},
		{"Failed to send gossip to 127.0.0.1:4000: i/o timeout", 0},
		{"Suspect n1 has failed, no acks received", 0},
	}
	for _, tt := range tests {
		got, ok := memberlistReason(tt.line)
		if (tt.want == 0) == ok || got != tt.want {
			t.Errorf("memberlistReason(%q) = %v %v, want %v", tt.line, got, ok, tt.want)
		}
	}
}

// Each rejection is counted; log lines are one per reason per interval, the
// next one carrying how many were suppressed.
func TestRejectsCountedAndLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	var r rejects
	for range 100 {
		r.add(log, ReasonDecrypt, nil, nil)
	}
	r.add(log, ReasonLabel, nil, nil)
	snap := r.snapshot()
	if snap["decrypt"] != 100 || snap["label"] != 1 || snap["malformed"] != 0 || len(snap) != len(Reasons()) {
		t.Errorf("snapshot %v", snap)
	}
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("%d log lines for 101 rejections of 2 reasons, want 2:\n%s", got, buf.String())
	}
	r.mu.Lock()
	r.lastLog[ReasonDecrypt] = time.Now().Add(-rejectLogInterval)
	r.mu.Unlock()
	buf.Reset()
	r.add(log, ReasonDecrypt, nil, nil)
	if !strings.Contains(buf.String(), `"suppressed":99`) || !strings.Contains(buf.String(), `"level":"warn"`) {
		t.Errorf("next line after the interval: %s", buf.String())
	}
}

// The bridge turns memberlist's rejection lines into rejections and passes
// the rest through at debug.
func TestLogBridgeClassifies(t *testing.T) {
	var got []Reason
	l := newLogBridge(zerolog.Nop(), func(r Reason, _ error) { got = append(got, r) })
	l.Print("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=x")
	l.Print("[DEBUG] memberlist: Stream connection from=x")
	l.Print("[ERR] memberlist: discarding packet with unacceptable label \"a\": from=x")
	if len(got) != 2 || got[0] != ReasonDecrypt || got[1] != ReasonLabel {
		t.Errorf("bridge reported %v", got)
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLimiter(10, 20, 2)
	allowed := 0
	for range 100 {
		if l.allow("a", t0, 1) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("burst: %d allowed, want 20", allowed)
	}
	if !l.allow("a", t0.Add(time.Second), 1) {
		t.Errorf("not refilled after a second")
	}
	// Debt: one big request is allowed, then nothing until it is paid off.
	if !l.allow("b", t0, 100) || l.allow("b", t0.Add(5*time.Second), 1) || !l.allow("b", t0.Add(9*time.Second), 1) {
		t.Errorf("debt is not paid off at the rate")
	}
	// Past maxKeys, new names share one bucket: forged names mint no budget.
	// ("a" is idle and full again, so it is forgotten and the first new name
	// gets its slot: 1 + the overflow bucket's 20.)
	shared := 0
	for i := range 100 {
		if l.allow(string(rune('c'+i)), t0.Add(9*time.Second), 1) {
			shared++
		}
	}
	if shared != 21 {
		t.Errorf("100 new names got %d, want 21", shared)
	}
	if len(l.m) > 2 {
		t.Errorf("limiter tracks %d keys, max 2", len(l.m))
	}
	var off *limiter
	if !off.allow("x", t0, 1e9) || !newLimiter(0, 0, 1).allow("x", t0, 1e9) {
		t.Errorf("a disabled limiter refused")
	}
}

// A flood of digests from one member is answered at most ReplyBurst times
// at once, and a flood of records from one sender is cut at its burst: the
// rest is rejected as rate_limited. The limiters read the clock: in a
// synctest bubble no time passes while the messages arrive (in real time a
// loaded machine refilled the buckets by more than a token or two), so the
// counts are exact.
func TestNodeRateLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := fuzzNode(t)
		n.members["b"] = Member{Name: "b", Addr: "127.0.0.1", Port: 1}
		d := &delegate{n: n}
		digest := must(encodeDigest("b", true, crdt.Digest{}))
		for range 200 {
			d.NotifyMsg(digest)
		}
		if got, want := n.rejects.counts[ReasonRateLimited].Load(), 200-uint64(DefaultConfig().ReplyBurst); got != want {
			t.Errorf("200 digests from b: %d rate-limited, want %d", got, want)
		}
		n.rejects.counts[ReasonRateLimited].Store(0)
		n.cfg.SenderRecordBurst = 10
		n.senders = newLimiter(1, 10, maxLimiterKeys)
		for i := range 20 {
			d.NotifyMsg(must(encodePush("c", crdt.Delta{Origin: "a", Epoch: 1, From: uint64(3 + i), To: uint64(3 + i),
				Entries: []crdt.Entry{{Key: fmt.Sprint("k", i), Seq: uint64(3 + i), Value: []byte("v")}}})))
		}
		// Each push costs 2 (one delta, one entry): 5 fit the burst of 10.
		if got := n.rejects.counts[ReasonRateLimited].Load(); got != 15 {
			t.Errorf("20 pushes from c: %d rate-limited, want 15", got)
		}
	})
}

// Leave announcements are remembered for live members only: forged names
// cannot grow the node's memory.
func TestLeaveOnlyForMembers(t *testing.T) {
	n, _ := fuzzNode(t)
	n.members["b"] = Member{Name: "b"}
	d := &delegate{n: n}
	for i := range 1000 {
		d.NotifyMsg(must(encodeLeave(fmt.Sprint("ghost-", i))))
	}
	d.NotifyMsg(must(encodeLeave("b")))
	if len(n.leaving) != 1 {
		t.Errorf("%d leave intents remembered, want 1 (the member's)", len(n.leaving))
	}
}
