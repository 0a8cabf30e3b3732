package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/agent/dnsserver"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/probe"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Agent is one Grapevine daemon: the catalog of its host's services, the gossip
// node that replicates it, the health checks, and the HTTP and DNS listeners.
//
// Lifecycle: New → Start → (Leave) → Close. Close without Leave is a crash as
// peers see it (they detect the failure); Leave first withdraws this agent's
// records everywhere at once.
type Agent struct {
	cfg     Config
	log     zerolog.Logger
	cat     *catalog.Catalog
	probes  *probe.Runner
	metrics *prometheus.Registry
	// metricsHTTP holds the request metrics the HTTP server updates.
	metricsHTTP *agentMetrics
	tmpDir      string   // dev mode data dir, removed on Close
	keys        [][]byte // gossip keys at start, primary first; nil: insecure gossip
	// acl, tls and guardMetrics serve the HTTP guards (guard.go); tls is nil
	// without TLS.
	acl          *acl
	tls          *tlsState
	guardMetrics *guardMetrics
	// targets restricts checks registered over the API (check_targets).
	targets *targetPolicy

	mu     sync.Mutex // guards node, http, dns, consul, shutdown, started, closed, fileIDs
	node   *gossip.Node
	http   *httpServer
	dns    *dnsserver.Server
	consul *consulServer // the Consul-compatible listener (consul*.go)
	// shutdown is closed when a client asked the agent to shut down.
	shutdown chan struct{}
	started  bool
	closed   bool
	fileIDs  map[string]bool // instance IDs registered from definition files
	// checkCount is the number of checks each local instance runs (limits).
	checkCount map[string]int
	// departed lists members that left or failed, for Members.
	departed map[string]departed

	// addrs remembers every member's last known gossip IP, also after
	// memberlist forgets a failed node (30 s on a LAN), so the node's records
	// served stale keep an address for as long as they are served.
	// Copy-on-write: read without a lock; addrMu serializes writers.
	addrs  atomic.Pointer[map[string]string]
	addrMu sync.Mutex
	// memberGen counts membership changes (for Consul blocking queries).
	memberGen atomic.Uint64

	// regMu guards inflight: the API registrations between their limits
	// check and their commit, counted against the limits so that these hold,
	// while the commits run concurrently (and share the catalog's fsync).
	regMu    sync.Mutex
	inflight map[*reservation]struct{}
	// reloadMu serializes reloads of the definition files and guards
	// fileDefs: the definitions last applied, by file.
	reloadMu sync.Mutex
	fileDefs map[string][]prepared

	conv convergence // own fingerprint and agreement (convergence.go)

	stop chan struct{}
	wg   sync.WaitGroup
	// ctx ends when Close begins, ending blocking queries and streams.
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds an agent from cfg (validated) and opens its data directory; it
// does not touch the network until Start.
func New(cfg Config) (*Agent, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With().Str("component", "agent").Logger(), stop: make(chan struct{}), fileIDs: map[string]bool{}, checkCount: map[string]int{}, departed: map[string]departed{}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.setupHTTPSecurity(); err != nil {
		return nil, err
	}
	if cfg.Dev && cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "grapevine-dev-")
		if err != nil {
			return nil, fmt.Errorf("agent: dev data dir: %w", err)
		}
		a.tmpDir, a.cfg.DataDir = dir, dir
	}
	// The gossip key before anything touches the data directory: an agent
	// refused for want of a key leaves the disk as it was.
	var seedKeys bool
	var err error
	if a.keys, seedKeys, err = a.gossipKeys(); err != nil {
		a.removeTmp()
		return nil, err
	}
	cc := catalog.DefaultConfig()
	cc.Node = cfg.Node
	cc.DataDir = a.cfg.DataDir
	cc.LeaseGrace = cfg.Leases.Grace
	cc.StaleMaxAge = cfg.Leases.StaleMaxAge
	cc.ReapAfter = cfg.Leases.ReapAfter
	cc.TombstoneHorizon = cfg.Leases.TombstoneHorizon
	cc.MassFailureFraction = cfg.Leases.MassFailureFraction
	cc.PreservationMax = cfg.Leases.PreservationMax
	cc.UnknownGrace, cc.MaxEpochAhead = cfg.Leases.UnknownGrace, cfg.Leases.MaxEpochAhead
	cc.MaxRecordsPerOrigin, cc.MaxValueBytes = cfg.Leases.MaxRecordsPerOrigin, cfg.Leases.MaxValueBytes
	cc.FloorMemory = cfg.Leases.FloorMemory
	cc.Now = cfg.Now
	cc.Logger = cfg.Logger.With().Str("component", "catalog").Logger()
	// The catalog owns the data directory's registration files, check
	// definitions included (it folds a legacy checks.json in).
	cat, err := catalog.New(cc)
	if err != nil {
		a.removeTmp()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.cat = cat
	if a.cfg.DataDir == "" {
		a.log.Warn().Msg("no data_dir: registrations made through the API and the epoch will not survive a restart (set -data-dir)")
	}
	for _, w := range cat.Warnings() {
		a.log.Warn().Str("warning", w).Msg("catalog data directory")
	}
	if seedKeys {
		if err := a.saveKeyring(a.keys); err != nil {
			cat.Close()
			a.removeTmp()
			return nil, err
		}
	}
	pc := probe.DefaultConfig()
	pc.Logger = cfg.Logger.With().Str("component", "probe").Logger()
	pc.OnHealth = a.publishHealth
	pc.OnDeregister = func(r probe.Result) { a.deregisterCritical(r) }
	if a.probes, err = probe.New(pc); err != nil {
		cat.Close()
		a.removeTmp()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.metrics = a.newMetrics()
	return a, nil
}

// Catalog is the agent's catalog (for the simulator and tests).
func (a *Agent) Catalog() *catalog.Catalog { return a.cat }

// Config is the configuration the agent runs with (data dir filled in for dev).
func (a *Agent) Config() Config { return a.cfg }

// Node is the gossip node, nil before Start.
func (a *Agent) Node() *gossip.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.node
}

// Start joins the network: gossip, the configured seeds, service definition
// files, persisted checks, the HTTP and DNS listeners and the housekeeping tick.
// A seed that cannot be reached is not an error: the rejoin loop keeps trying.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	if a.started || a.closed {
		a.mu.Unlock()
		return errors.New("agent: already started or closed")
	}
	a.started = true
	a.mu.Unlock()

	node, err := gossip.New(a.gossipConfig(), a.cat)
	if err != nil {
		return fmt.Errorf("agent: gossip: %w", err)
	}
	a.mu.Lock()
	a.node = node
	a.mu.Unlock()
	a.cat.SetPublisher(node.Publish)
	node.Announce()
	a.log.Info().Str("addr", node.Addr()).Msg("gossip listening")

	if err := a.restoreChecks(); err != nil {
		a.log.Warn().Err(err).Msg("restoring checks")
	}
	if err := a.reloadDefinitions(); err != nil {
		a.log.Error().Err(err).Msg("service definition files skipped; the others are loaded")
	}
	if a.cfg.HTTP != "" {
		h, err := startHTTP(a.cfg.HTTP, a)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.http = h
		a.mu.Unlock()
		a.log.Info().Str("addr", h.Addr()).Msg("http api listening")
		if a.cfg.Dev {
			if err := a.registerDemo(h.Addr()); err != nil {
				return err
			}
		}
	}
	if err := a.startConsul(); err != nil {
		return err
	}
	if a.cfg.DNS.Addr != "" {
		if err := a.startDNS(); err != nil {
			return err
		}
	}
	if len(a.cfg.Join) > 0 {
		n, err := node.Join(ctx, a.cfg.Join)
		if err != nil {
			a.log.Warn().Err(err).Strs("seeds", a.cfg.Join).Msg("join failed; retrying in the background")
		} else {
			a.log.Info().Int("contacted", n).Msg("joined")
		}
	}
	a.updateConvergence(time.Now(), node.Members())
	a.wg.Add(1)
	go a.tickLoop()
	a.log.Info().Str("node", a.cfg.Node).Uint64("epoch", a.cat.Epoch()).Str("version", Version).Msg("agent started")
	return nil
}

// The catalog is the gossip Store, with the optional parts.
var (
	_ gossip.Store          = (*catalog.Catalog)(nil)
	_ gossip.DigestSummer   = (*catalog.Catalog)(nil)
	_ gossip.DepartureStore = (*catalog.Catalog)(nil)
)

func (a *Agent) gossipConfig() gossip.Config {
	gc := gossip.DefaultConfig()
	gc.Name = a.cfg.Node
	host, port, _ := splitHostPort(a.cfg.Bind, false)
	gc.BindAddr, gc.BindPort = host, port
	if gc.BindAddr == "" {
		gc.BindAddr = "0.0.0.0"
	}
	if a.cfg.Advertise != "" {
		gc.AdvertiseAddr, gc.AdvertisePort, _ = splitHostPort(a.cfg.Advertise, false)
	}
	gc.Transport = a.cfg.Transport
	gc.Meta = encodeMeta(nodeMeta{Zone: a.cfg.Zone, HTTP: a.cfg.HTTP, Version: Version})
	gc.Seeds = a.cfg.Join
	gc.Fanout = a.cfg.Gossip.Fanout
	gc.PushPullInterval = a.cfg.Gossip.PushPullInterval
	gc.RejoinInterval = a.cfg.Gossip.RejoinInterval
	gc.RejoinMaxWait = a.cfg.Gossip.RejoinMaxWait
	gc.SyncInterval = a.cfg.Gossip.SyncInterval // 0 disables, as in gossip.Config
	gc.EnableCompression = a.cfg.Gossip.Compression
	gc.SecretKeys = a.keys
	gc.Label = a.cfg.Gossip.Label
	gc.AllowedCIDRs, _ = a.cfg.Gossip.cidrs() // validated in New
	gc.Events = a.onMember
	gc.Logger = a.cfg.Logger.With().Str("component", "gossip").Logger()
	gc.Tune = a.cfg.Gossip.Tune
	a.integrityConfig(&gc) // keyring.go
	return gc
}

// onMember feeds SWIM's verdicts to the catalog's leases. Called in order from
// one gossip goroutine.
func (a *Agent) onMember(e gossip.Event) {
	a.rememberAddr(e.Member.Name, e.Member.Addr)
	defer a.notifyConsul()
	if e.Member.Name == a.cfg.Node {
		return
	}
	switch e.Kind {
	case gossip.MemberJoin, gossip.MemberUpdate:
		a.cat.MemberAlive(e.Member.Name)
		a.setDeparted(e.Member, "")
	case gossip.MemberLeave:
		a.cat.MemberLeft(e.Member.Name)
		a.setDeparted(e.Member, api.MemberLeft)
	case gossip.MemberFail:
		a.cat.MemberFailed(e.Member.Name)
		a.setDeparted(e.Member, api.MemberFailed)
	}
	a.log.Debug().Str("member", e.Member.Name).Stringer("event", e.Member.State).Str("kind", e.Kind.String()).Msg("membership")
}

// departedMemory is how long a member that left or failed is still listed by
// Members (and /v1/members, grapevine members).
const departedMemory = 24 * time.Hour

// departed is a member that left or failed, as Members lists it.
type departed struct {
	m  api.Member
	at time.Time
}

// setDeparted records (status left or failed) or forgets ("") a departed member.
func (a *Agent) setDeparted(m gossip.Member, status api.MemberStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if status == "" {
		delete(a.departed, m.Name)
		return
	}
	am := toAPIMember(m)
	am.Status = status
	am.Fingerprint = nil // no longer gossiped: it would only mislead
	a.departed[m.Name] = departed{m: am, at: time.Now()}
}

// tickLoop drives the catalog's lease clock once a second.
func (a *Agent) tickLoop() {
	defer a.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-a.stop:
			return
		case <-t.C:
			// One member list for both uses: copying and sorting a thousand
			// members is a large share of an idle agent's tick.
			var ms []gossip.Member
			if node := a.Node(); node != nil {
				ms = node.Members()
				a.syncMembers(ms)
			}
			a.cat.Tick()
			a.updateConvergence(time.Now(), ms)
			if n%60 == 0 {
				a.pruneAddrs()
				a.pruneDeparted()
			}
		}
	}
}

// syncMembers hands the live member list ms (gossip's Members) to the
// catalog, for which a live member is membership news even before its join
// event (see catalog.SyncMembers).
func (a *Agent) syncMembers(ms []gossip.Member) {
	live := make([]string, 0, len(ms))
	for _, m := range ms {
		live = append(live, m.Name)
	}
	a.cat.SyncMembers(live)
}

// Leave tells the cluster this agent is going away, so peers withdraw its
// records at once instead of waiting for failure detection.
func (a *Agent) Leave(ctx context.Context) error {
	node := a.Node()
	if node == nil {
		return nil
	}
	return node.Leave(ctx)
}

// Close stops everything and waits for it; idempotent. Without Leave first,
// peers see a crash.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	node, h, d := a.node, a.http, a.dns
	a.mu.Unlock()

	close(a.stop)
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if h != nil {
		errs = append(errs, h.close(ctx))
	}
	errs = append(errs, a.closeConsul(ctx))
	if d != nil {
		errs = append(errs, d.Close(ctx))
	}
	a.probes.Close()
	if node != nil {
		errs = append(errs, node.Close())
	}
	a.wg.Wait()
	errs = append(errs, a.cat.Close())
	a.removeTmp()
	return errors.Join(errs...)
}

func (a *Agent) removeTmp() {
	if a.tmpDir != "" {
		os.RemoveAll(a.tmpDir)
	}
}

// HTTPAddr is the bound HTTP address ("" if disabled or not started).
func (a *Agent) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}

// DNSAddr is the bound DNS address ("" if disabled or not started).
func (a *Agent) DNSAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dns == nil {
		return ""
	}
	return a.dns.Addr()
}

// memberAddress is a member's gossip IP: the last one known, also for a
// failed node memberlist has forgotten. O(1) on the lookup path.
func (a *Agent) memberAddress(name string) (string, bool) {
	if m := a.addrs.Load(); m != nil {
		if addr, ok := (*m)[name]; ok {
			return addr, true
		}
	}
	node := a.Node()
	if node == nil {
		return "", false
	}
	for _, m := range node.Members() {
		if m.Name == name {
			a.rememberAddr(m.Name, m.Addr)
			return m.Addr, true
		}
	}
	return "", false
}

// rememberAddr records name's gossip IP (copy-on-write).
func (a *Agent) rememberAddr(name, addr string) {
	if addr == "" {
		return
	}
	a.addrMu.Lock()
	defer a.addrMu.Unlock()
	old := a.addrs.Load()
	if old != nil && (*old)[name] == addr {
		return
	}
	m := make(map[string]string, 1)
	if old != nil {
		m = maps.Clone(*old)
	}
	m[name] = addr
	a.addrs.Store(&m)
}

// pruneDeparted forgets departed members listed longer than departedMemory.
func (a *Agent) pruneDeparted() {
	a.mu.Lock()
	defer a.mu.Unlock()
	maps.DeleteFunc(a.departed, func(_ string, d departed) bool { return time.Since(d.at) > departedMemory })
}

// pruneAddrs forgets the addresses of nodes that are neither members nor
// origins of records held, so churn of node names cannot grow the map.
func (a *Agent) pruneAddrs() {
	keep := map[string]bool{}
	if node := a.Node(); node != nil {
		for _, m := range node.Members() {
			keep[m.Name] = true
		}
	}
	for _, n := range a.cat.Nodes() {
		keep[n.Name] = true
	}
	a.addrMu.Lock()
	defer a.addrMu.Unlock()
	old := a.addrs.Load()
	if old == nil {
		return
	}
	m := maps.Clone(*old)
	maps.DeleteFunc(m, func(name, _ string) bool { return !keep[name] })
	if len(m) != len(*old) {
		a.addrs.Store(&m)
	}
}

// instanceAddress is an instance's address, or its node's when it has none.
func (a *Agent) instanceAddress(in *catalog.Instance) string {
	if in.Address != "" {
		return in.Address
	}
	addr, _ := a.memberAddress(in.Node)
	return addr
}

// hostPort joins an address and port for logs and tables.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

// requestContext is ctx, also cancelled when the agent closes.
func (a *Agent) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
