package agent_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"
)

// The gossip attacks of issue 8, re-run against real agents (in-process, real
// loopback sockets, the default configuration with a gossip key). Each test
// checks that no lookup at any agent changes and every agent stays
// responsive, and logs its figures: go test -v -run TestGossipAttack ./agent/

// attackCluster is three keyed agents serving web (one per agent) and 40
// bulk instances at node-a (so that a snapshot answer is some 10 KB).
type attackCluster struct {
	as []*agent.Agent
	cs []*api.Client
}

var clusterKey = bytes.Repeat([]byte{0x5a}, 32)

func startAttackCluster(t *testing.T) *attackCluster {
	t.Helper()
	c := &attackCluster{}
	for i := range 3 {
		cfg := keyedConfig(t, fmt.Sprintf("node-%c", 'a'+i), clusterKey)
		if i > 0 {
			cfg.Join = []string{agenttest.GossipAddr(t, c.as[0])}
		}
		a := agenttest.Start(t, cfg)
		c.as = append(c.as, a)
		c.cs = append(c.cs, agenttest.Client(t, a))
		if _, err := c.cs[i].Register(t.Context(), api.Registration{Name: "web", ID: "web-" + cfg.Node, Port: 8080}); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 40 {
		if _, err := c.cs[0].Register(t.Context(), api.Registration{Name: "bulk", ID: fmt.Sprintf("bulk-%02d", k), Port: 9000 + k,
			Tags: []string{"some", "tags", "to", "weigh"}, Meta: map[string]string{"owner": "team-" + strconv.Itoa(k)}}); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		h := c.as[0].Self().Catalog.Hash
		for _, a := range c.as {
			s := a.Self()
			if s.Members.Alive != 3 || s.Catalog.Hash != h || s.Catalog.Instances != 43 {
				return false, fmt.Sprintf("%s: %+v, %d instances", s.Node, s.Members, s.Catalog.Instances)
			}
		}
		return true, ""
	})
	return c
}

// view is what every agent answers: its services and each instance's
// identity and version.
func (c *attackCluster) view(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, cl := range c.cs {
		svcs, err := cl.Services(t.Context())
		if err != nil {
			t.Fatalf("agent unresponsive: %v", err)
		}
		for _, s := range svcs {
			insts, _, err := cl.Service(t.Context(), s.Name, api.QueryOptions{})
			if err != nil {
				t.Fatalf("agent unresponsive: %v", err)
			}
			for _, in := range insts {
				fmt.Fprintf(&b, "%s %s/%s %s:%d %s v%d.%d stale=%v\n", cl.Address(), in.Node, in.ID, in.Address, in.Port, in.Health, in.Version.Epoch, in.Version.Seq, in.Stale)
			}
		}
	}
	return b.String()
}

// unchanged fails unless every agent answers, quickly, exactly before.
func (c *attackCluster) unchanged(t *testing.T, before string) {
	t.Helper()
	for _, a := range c.as {
		start := time.Now()
		if s := a.Self(); s.Members.Alive+s.Members.Suspect != 3 { // suspect: still a member
			t.Errorf("%s sees %+v after the attack", s.Node, s.Members)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v to answer", a.Config().Node, d)
		}
	}
	if after := c.view(t); after != before {
		t.Errorf("lookups changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// rejected sums every agent's rejections by reason.
func (c *attackCluster) rejected() map[string]uint64 {
	out := map[string]uint64{}
	for _, a := range c.as {
		for r, v := range a.Node().Stats().Rejected {
			out[r] += v
		}
	}
	return out
}

func diff(after, before map[string]uint64) string {
	var parts []string
	for _, r := range gossip.Reasons() {
		if d := after[r] - before[r]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, d))
		}
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, " ")
}

// attacker is a bare memberlist instance on 127.0.0.2 that never joins: it
// sends user messages and push/pulls, encrypted when it holds key. state is
// what it offers as its push/pull state.
type attacker struct {
	ml    *memberlist.Memberlist
	state atomic.Pointer[[]byte] // memberlist reads it from its goroutines
}

type attackerDelegate struct{ a *attacker }

func (d attackerDelegate) NodeMeta(int) []byte             { return nil }
func (d attackerDelegate) NotifyMsg([]byte)                {}
func (d attackerDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d attackerDelegate) LocalState(bool) []byte {
	if p := d.a.state.Load(); p != nil {
		return *p
	}
	return nil
}
func (d attackerDelegate) MergeRemoteState(buf []byte, _ bool) {}
func (a *attacker) to(addr string) (memberlist.Address, *memberlist.Node) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return memberlist.Address{Addr: addr, Name: "node-a"}, &memberlist.Node{Name: "node-a", Addr: net.ParseIP(host), Port: uint16(p)}
}

func newAttacker(t *testing.T, key []byte) *attacker {
	t.Helper()
	a := &attacker{}
	cfg := memberlist.DefaultLocalConfig()
	cfg.Name = "mallory"
	cfg.BindAddr, cfg.BindPort = "127.0.0.2", 0
	cfg.Logger = log.New(io.Discard, "", 0)
	cfg.Delegate = attackerDelegate{a}
	cfg.TCPTimeout = 2 * time.Second
	if key != nil {
		kr, err := memberlist.NewKeyring(nil, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keyring, cfg.GossipVerifyIncoming, cfg.GossipVerifyOutgoing = kr, true, true
	}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		t.Skipf("attacker cannot bind 127.0.0.2: %v", err)
	}
	a.ml = ml
	t.Cleanup(func() { ml.Shutdown() })
	return a
}

// forged returns valid catalog deltas of origin, holding one instance of
// service at port 6666, with the epoch replaced when epoch is not 0.
func forged(t *testing.T, origin, service string, epoch uint64) []crdt.Delta {
	return forgedN(t, origin, service, epoch, 1)
}

// forgedN is forged with n instances.
func forgedN(t *testing.T, origin, service string, epoch uint64, n int) []crdt.Delta {
	t.Helper()
	cc := catalog.DefaultConfig()
	cc.Node = origin
	cc.MaxRecordsPerOrigin = n + 1
	cc.AnnounceBudget = 4 << 20
	cat, err := catalog.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for i := range n {
		if err := cat.Register(catalog.Instance{ID: fmt.Sprint("phantom-", i), Service: service, Node: origin, Address: "203.0.113.66", Port: 6666, Health: catalog.HealthPassing}); err != nil {
			t.Fatal(err)
		}
	}
	ds := cat.Announce()
	for i := range ds {
		if epoch != 0 {
			ds[i].Epoch = epoch
		}
	}
	return ds
}

func mustMsg(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// rss is the test process's resident set (all agents live in it).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Forged deltas, over UDP and TCP user messages, with and without the key:
// a phantom service for an origin that was never a member, and node-b's
// records at epoch 2^64-1. Nothing is served; every attempt is counted.
func TestGossipAttackForgedDeltas(t *testing.T) {
	c := startAttackCluster(t)
	before := c.view(t)
	addrA := agenttest.GossipAddr(t, c.as[0])
	for _, tc := range []struct {
		name, origin string
		epoch        uint64
		key          []byte
	}{
		{"unknown origin, no key", "phantom-host", 0, nil},
		{"unknown origin, with key", "phantom-host", 0, clusterKey},
		{"node-b at epoch 2^64-1, no key", "node-b", math.MaxUint64, nil},
		{"node-b at epoch 2^64-1, with key", "node-b", math.MaxUint64, clusterKey},
	} {
		rej := c.rejected()
		at := newAttacker(t, tc.key)
		ds := forged(t, tc.origin, "phantom", tc.epoch)
		sent := 0
		for _, d := range ds {
			msg := mustMsg(t)(gossip.EncodePush("node-c", d))
			addr, node := at.to(addrA)
			for range 10 {
				if err := at.ml.SendToAddress(addr, msg); err == nil {
					sent++
				}
			}
			if err := at.ml.SendReliable(node, msg); err == nil {
				sent++
			}
		}
		sync := mustMsg(t)(gossip.EncodeSync("node-c", ds))
		_, node := at.to(addrA)
		if err := at.ml.SendReliable(node, sync); err == nil {
			sent++
		}
		// The messages were handled once their rejection is counted (a
		// loaded machine may take a while); then gossip gets time to spread
		// anything accepted (eager push, sync): nothing may change.
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			return diff(c.rejected(), rej) != "none", tc.name + ": nothing was counted as rejected"
		})
		time.Sleep(2 * time.Second)
		c.unchanged(t, before)
		for _, a := range c.as {
			if res := a.Catalog().Service("phantom", catalog.Filter{}); len(res.Entries) > 0 {
				t.Errorf("%s: %s serves phantom", tc.name, a.Config().Node)
			}
		}
		got := diff(c.rejected(), rej)
		t.Logf("%-34s messages sent %3d  accepted records 0  rejected: %s", tc.name, sent, got)
	}
	// With the key, more records for node-b (at its own epoch) than an
	// origin may hold: refused whole.
	rej := c.rejected()
	at := newAttacker(t, clusterKey)
	epochB := c.as[1].Self().Epoch
	quota := catalog.DefaultConfig().MaxRecordsPerOrigin
	_, node := at.to(addrA)
	for _, d := range forgedN(t, "node-b", "phantom", epochB, quota+1) {
		if err := at.ml.SendReliable(node, mustMsg(t)(gossip.EncodeSync("node-c", []crdt.Delta{d}))); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		got := diff(c.rejected(), rej)
		return strings.Contains(got, "over_quota"), "over-quota delta not counted: " + got
	})
	time.Sleep(2 * time.Second) // time to spread anything accepted: nothing may change
	c.unchanged(t, before)
	got := diff(c.rejected(), rej)
	t.Logf("%-34s %d records in one sync  accepted records 0  rejected: %s", "node-b over quota, with key", quota+1, got)

	// node-b is still node-b, at its own epoch, everywhere.
	for _, a := range c.as {
		if e := a.Self().Digest["node-b"].Epoch; e != epochB {
			t.Errorf("%s holds node-b at epoch %d, node-b is at %d", a.Config().Node, e, epochB)
		}
	}
}

// Forged digests claiming to come from member node-b, empty and asking for
// a reply, make node-a answer node-b with everything it has — at most the
// reply rate per peer, however many arrive.
func TestGossipAttackReflection(t *testing.T) {
	c := startAttackCluster(t)
	before := c.view(t)
	addrA := agenttest.GossipAddr(t, c.as[0])
	const forgedN = 1000
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"no key", nil}, {"with key", clusterKey}} {
		rej := c.rejected()
		sentBefore := c.as[0].Node().Stats().Sent["sync"].Bytes + c.as[0].Node().Stats().Sent["digest"].Bytes
		at := newAttacker(t, tc.key)
		msg := mustMsg(t)(gossip.EncodeDigest("node-b", true, crdt.Digest{}))
		addr, _ := at.to(addrA)
		start := time.Now()
		for range forgedN {
			_ = at.ml.SendToAddress(addr, msg)
		}
		elapsed := time.Since(start)
		time.Sleep(time.Second)
		st := c.as[0].Node().Stats()
		reflected := st.Sent["sync"].Bytes + st.Sent["digest"].Bytes - sentBefore
		c.unchanged(t, before)
		// Honest traffic (sync every 500 ms) is in the figure too; the bound
		// is the reply bucket: 64 answers of a ~10 KB snapshot, plus 20/s.
		limit := uint64(64+20*(elapsed.Seconds()+2)) * 16 << 10
		t.Logf("reflection, %-8s %d forged digests (%d bytes each) in %v: node-a sent node-b %d bytes (%.0f per forged packet); rejected: %s",
			tc.name, forgedN, len(msg), elapsed.Round(time.Millisecond), reflected, float64(reflected)/forgedN, diff(c.rejected(), rej))
		if reflected > limit {
			t.Errorf("%s: %d bytes reflected, over the reply bound %d", tc.name, reflected, limit)
		}
	}
}

// Length and depth bombs over a UDP user message, a TCP user message and
// push/pull state, with and without the key; and stalled memberlist
// push/pull streams declaring 2^20 nodes. Nothing changes, memory stays put.
func TestGossipAttackBombs(t *testing.T) {
	c := startAttackCluster(t)
	before := c.view(t)
	addrA := agenttest.GossipAddr(t, c.as[0])
	bombs := map[string][]byte{
		"array32 header":  {1, gossip.ProtocolVersion, 0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 header":    {3, gossip.ProtocolVersion, 0xdf, 0xff, 0xff, 0xff, 0xff},
		"64 KiB of depth": append([]byte{2, gossip.ProtocolVersion}, bytes.Repeat([]byte{0x91}, 64<<10)...),
		"5 MiB frame":     append([]byte{1, gossip.ProtocolVersion}, bytes.Repeat([]byte{0x91}, 5<<20)...),
	}
	names := make([]string, 0, len(bombs))
	for n := range bombs {
		names = append(names, n)
	}
	slices.Sort(names)
	runtime.GC()
	rss0 := rss(t)
	for _, key := range [][]byte{nil, clusterKey} {
		rej := c.rejected()
		at := newAttacker(t, key)
		addr, node := at.to(addrA)
		for _, n := range names {
			b := bombs[n]
			if len(b) < 60000 {
				_ = at.ml.SendToAddress(addr, b)
			}
			_ = at.ml.SendReliable(node, b)
			at.state.Store(&b)
			_, _ = at.ml.Join([]string{addrA}) // push/pull carrying the bomb as our state
		}
		// A key holder's join succeeds (its bomb state is rejected): it is a
		// member like any agent until it leaves.
		// Its leave may not get out within the second it is given (a loaded
		// machine): the agents then hold it suspect until SWIM declares it
		// failed (keyedConfig: about 15 s). Wait until it is not a member,
		// left or failed, either way.
		at.ml.Leave(time.Second)
		at.ml.Shutdown()
		for _, a := range c.as {
			agenttest.Eventually(t, 60*time.Second, func() (bool, string) {
				s := a.Self()
				return s.Members.Alive == 3 && s.Members.Suspect == 0, fmt.Sprintf("%s sees %+v", s.Node, s.Members)
			})
		}
		what := "no key"
		if key != nil {
			what = "with key"
		}
		runtime.GC()
		t.Logf("bombs, %-8s UDP, TCP and push/pull x %d bombs: RSS %+d KiB; rejected: %s", what, len(bombs), (rss(t)-rss0)>>10, diff(c.rejected(), rej))
		if diff(c.rejected(), rej) == "none" {
			t.Errorf("%s: no bomb was counted", what)
		}
	}
	c.unchanged(t, before)

	// memberlist's own push/pull header, plaintext, declaring 2^20 nodes on
	// 24 streams that then stall: refused before the allocation (the key is
	// required), so RSS does not move.
	rej := c.rejected()
	var hdr bytes.Buffer
	hdr.WriteByte(6) // memberlist pushPullMsg
	enc := msgpack.NewEncoder(&hdr)
	_ = enc.Encode(map[string]any{"Nodes": 1 << 20, "UserStateLen": 0, "Join": false})
	runtime.GC()
	rss1 := rss(t)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var conns []net.Conn
	for range 24 {
		conn, err := d.Dial("tcp", addrA)
		if err != nil {
			t.Skipf("dial from 127.0.0.2: %v", err)
		}
		conn.Write(hdr.Bytes())
		conns = append(conns, conn)
	}
	time.Sleep(time.Second)
	grew := rss(t) - rss1
	for _, conn := range conns {
		conn.Close()
	}
	t.Logf("push/pull header bomb: 24 stalled streams declaring 2^20 nodes: RSS %+d KiB; rejected: %s", grew>>10, diff(c.rejected(), rej))
	if grew > 64<<20 {
		t.Errorf("24 stalled header bombs grew RSS by %d MiB", grew>>20)
	}
	c.unchanged(t, before)
}

// The key holder's reach, stated honestly: with the key, a peer joins and
// gossips like any agent. This guards the claim that a removed key no
// longer does.
func TestGossipAttackRemovedKey(t *testing.T) {
	c := startAttackCluster(t)
	newKey := bytes.Repeat([]byte{0x6b}, 32)
	b64 := base64.StdEncoding.EncodeToString
	for _, step := range []func() ([]api.KeyringResponse, error){
		func() ([]api.KeyringResponse, error) { return c.cs[0].KeyringInstall(t.Context(), b64(newKey)) },
		func() ([]api.KeyringResponse, error) { return c.cs[0].KeyringUse(t.Context(), b64(newKey)) },
		func() ([]api.KeyringResponse, error) { return c.cs[0].KeyringRemove(t.Context(), b64(clusterKey)) },
	} {
		if res, err := step(); err != nil || !res[0].Complete() {
			t.Fatalf("rotation step: %+v, %v", res, err)
		}
	}
	before := c.view(t)
	rej := c.rejected()
	at := newAttacker(t, clusterKey) // the old key
	if n, err := at.ml.Join([]string{agenttest.GossipAddr(t, c.as[0])}); err == nil || n != 0 {
		t.Errorf("join with the removed key = %d, %v", n, err)
	}
	addr, _ := at.to(agenttest.GossipAddr(t, c.as[0]))
	for _, d := range forged(t, "node-b", "phantom", math.MaxUint64) {
		_ = at.ml.SendToAddress(addr, mustMsg(t)(gossip.EncodePush("node-c", d)))
	}
	time.Sleep(time.Second)
	c.unchanged(t, before)
	t.Logf("removed key: join refused, forged delta dropped; rejected: %s", diff(c.rejected(), rej))
}

// Even without a key (insecure_gossip), memberlist's push/pull header bomb
// no longer reserves memory: the guard reads plaintext headers as they pass
// and ends a stream declaring more than 16,384 members (before it, 24 such
// stalled streams reserved +2,688 MiB of heap here).
func TestGossipAttackInsecureHeaderBomb(t *testing.T) {
	a := agenttest.Start(t, agenttest.Config(t, "node-a")) // insecure_gossip
	addr := agenttest.GossipAddr(t, a)
	var hdr bytes.Buffer
	hdr.WriteByte(6) // memberlist pushPullMsg
	_ = msgpack.NewEncoder(&hdr).Encode(map[string]any{"Nodes": 1 << 20, "UserStateLen": 0, "Join": false})
	runtime.GC()
	rss0 := rss(t)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := a.Node().Stats().Rejected["too_large"]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 24 {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("dial from 127.0.0.2: %v", err)
		}
		defer conn.Close()
		conn.Write(hdr.Bytes())
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		n := a.Node().Stats().Rejected["too_large"] - before
		return n >= 24, fmt.Sprintf("%d of 24 header bombs rejected", n)
	})
	runtime.ReadMemStats(&m1)
	grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("insecure agent, 24 stalled plaintext push/pull streams declaring 2^20 nodes: heap %+d MiB, RSS %+d MiB; rejected: too_large=24",
		grew>>20, (rss(t)-rss0)>>20)
	if grew > 64<<20 {
		t.Errorf("heap grew %d MiB", grew>>20)
	}
}
