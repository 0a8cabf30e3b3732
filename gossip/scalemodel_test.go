package gossip

import (
	"fmt"
	"math"
	"os"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
)

// TestScaleModel prints the cost model of docs/scaling.md: for N agents with
// 20 instances each and a churn in which every instance changes once per ten
// minutes, the gossip bytes one agent sends and receives per second, the sizes
// of a digest and a push/pull, the catalog's memory and the failure detection
// time. Message sizes come from this package's real encoders (names like
// "host-0042.dc1", a typical 160-byte instance value); timers from memberlist's
// LAN defaults and this package's defaults. It is a model, not a check: it
// runs only with GRAPEVINE_BENCH=1 (make bench).
func TestScaleModel(t *testing.T) {
	if os.Getenv("GRAPEVINE_BENCH") == "" {
		t.Skip("a model: set GRAPEVINE_BENCH=1 (make bench)")
	}
	const (
		perAgent    = 20
		changeEvery = 10 * time.Minute // each instance changes this often
		valueBytes  = 160              // an encoded instance (catalog.EncodeValue) with a few tags and meta
		// catalog BenchmarkMemoryPerInstance: 178 B of heap per replicated
		// instance, 73 B of it the value and key; the rest is per record.
		bytesPerInst  = 178.0 - 73 + valueBytes
		memberlistRow = 120.0 // memberlist push/pull node state: name, addr, meta (zone, ports), incarnation
	)
	ml := memberlist.DefaultLANConfig()
	cfg := DefaultConfig()
	push, err := encodePush("host-0042.dc1", crdt.Delta{Origin: "host-0007.dc1", Epoch: 1764560000000, From: 1234, To: 1234, Floor: 1,
		Entries: []crdt.Entry{{Key: "web/web-7", Seq: 1234, Value: make([]byte, valueBytes)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(os.Stdout, "model: %d instances per agent, each changing every %v; push message %d B\n", perAgent, changeEvery, len(push))
	relay, err := encodeRelay("host-0042.dc1", 1<<63, 1<<62, crdt.Delta{Origin: "host-0007.dc1", Epoch: 1764560000000, From: 1234, To: 1234, Floor: 1,
		Entries: []crdt.Entry{{Key: "web/web-7", Seq: 1234, Value: make([]byte, valueBytes)}}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "relay message %d B\n", len(relay.msg))
	fmt.Fprintln(w, "agents\tcopies per change per agent\torigin's sends per change\tchanges/s (cluster)\trelay KiB/s per agent\tpiggyback KiB/s\tdigest KiB\tsum buckets\tP(sums differ)\tanti-entropy KiB/s per agent\twithout sums\tpush/pull interval\tpush/pull KiB\tpush/pull KiB/s per agent\tcatalog MiB\tfailure detected\t")
	for _, n := range []int{30, 100, 1000, 10000} {
		dg := crdt.Digest{}
		for i := range n {
			dg[fmt.Sprintf("host-%04d.dc1", i)] = crdt.Position{Epoch: 1764560000000 + uint64(i), Applied: 40 + uint64(i%1000)}
		}
		digest, err := encodeDigest("host-0042.dc1", true, dg)
		if err != nil {
			t.Fatal(err)
		}
		// The origin sends each of relayTrees trees to ⌈√(N−1)⌉ relays.
		originSends := relayTrees * int(math.Ceil(math.Sqrt(float64(n-1))))
		retransmit := float64(ml.RetransmitMult) * math.Ceil(math.Log10(float64(n+1)))
		changes := float64(n*perAgent) / changeEvery.Seconds()
		// Each change reaches each agent once per relay tree; the trees carry
		// 2(N−1) messages, so an agent sends on average as much as it receives.
		// Only the origin piggybacks a change (retransmit copies, riding
		// memberlist's gossip packets, whose budget caps it), so an agent
		// receives retransmit/N of them per change.
		eagerBps := changes * relayTrees * float64(len(relay.msg))
		gossipBudget := float64(ml.GossipNodes) * float64(ml.UDPBufferSize) / ml.GossipInterval.Seconds()
		piggyBps := math.Min(changes*retransmit*float64(len(push))/float64(n), gossipBudget)
		// Every SyncInterval an agent starts one anti-entropy round and is on
		// average the target of one. A round sends the sums (with buckets
		// past sumBucketsFrom members); when they differ, the two send each
		// other the digest rows of the buckets that differ (the whole digest
		// without buckets). Sums differ where some change has reached one of
		// the two agents and not the other: changes arrive at the cluster's
		// rate, each in flight for about inFlight (the p99 of a change's
		// propagation to every agent), so about lambda are in flight, each in
		// a random bucket.
		const inFlight = 50 * time.Millisecond
		lambda := changes * inFlight.Seconds()
		differ := 1 - math.Exp(-lambda)
		buckets := sumBuckets(n)
		rowsMoved := differ // the expected fraction of the digest moved each way
		if buckets > 0 {
			rowsMoved = 1 - math.Exp(-lambda/float64(buckets))
		}
		sum, err := encodeSum(sumMsg{From: "host-0042.dc1", Sum: 1 << 63, Buckets: make([]uint64, buckets)})
		if err != nil {
			t.Fatal(err)
		}
		sumBytes := float64(len(sum)) + 8*float64(buckets)
		digestBps := (2*rowsMoved*float64(len(digest)) + sumBytes) / cfg.SyncInterval.Seconds()
		pp := pushPullScale(cfg.PushPullInterval, n)
		ppBytes := float64(len(digest)) + memberlistRow*float64(n)
		ppBps := 2 * ppBytes / pp.Seconds()
		mem := bytesPerInst * float64(n*perAgent)
		suspicion := float64(ml.SuspicionMult) * math.Max(1, math.Log10(float64(n))) * ml.ProbeInterval.Seconds()
		detect := ml.ProbeInterval.Seconds() + ml.ProbeTimeout.Seconds() + suspicion
		fmt.Fprintf(w, "%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t%d\t%.2f\t%.1f\t%.1f\t%v\t%.0f\t%.1f\t%.1f\t~%.0f s\t\n", n, relayTrees, originSends, changes, eagerBps/1024, piggyBps/1024,
			float64(len(digest))/1024, buckets, differ, digestBps/1024, 4*float64(len(digest))/cfg.SyncInterval.Seconds()/1024/2, pp, ppBytes/1024, ppBps/1024, mem/(1<<20), detect)
	}
	w.Flush()
}

// pushPullScale is memberlist's scaling of the push/pull interval with the
// cluster size (util.go: one more interval per doubling past 32 nodes).
func pushPullScale(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	mult := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1.0
	return time.Duration(mult) * interval
}

// BenchmarkDuplicatePush is what a copy of a change that an agent already
// holds costs it past memberlist (which has decrypted the packet): decoding
// the push and merging it into a replica that holds it (the merge finds
// nothing new). Each agent receives one such copy per change (the second
// relay tree's), plus the rare piggyback copy.
func BenchmarkDuplicatePush(b *testing.B) {
	st := crdt.New("replica", 1)
	d := crdt.Delta{Origin: "host-0007.dc1", Epoch: 1764560000000, From: 1, To: 1, Floor: 0,
		Entries: []crdt.Entry{{Key: "web/web-7", Seq: 1, Value: make([]byte, 160)}}}
	if _, err := st.Merge(d); err != nil {
		b.Fatal(err)
	}
	msg, err := encodePush("host-0042.dc1", d)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m, err := decodePush(msg)
		if err != nil {
			b.Fatal(err)
		}
		res, err := st.Merge(m.Delta)
		if err != nil || res.New {
			b.Fatal("a duplicate merged as new", err)
		}
	}
}
