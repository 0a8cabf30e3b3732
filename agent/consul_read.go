package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/probe"
)

// Consul's fixed check identities.
const (
	serfCheckID      = "serfHealth"
	serfCheckName    = "Serf Health Status"
	maintCheckPrefix = "_service_maintenance:"
)

// nodeView is what one request knows of the cluster's nodes.
type nodeView struct {
	members map[string]api.Member // live and recently departed, self included
}

func (s *consulServer) nodes() nodeView {
	v := nodeView{members: map[string]api.Member{}}
	for _, m := range s.a.Members() {
		v.members[m.Name] = m
	}
	if _, ok := v.members[s.a.cfg.Node]; !ok {
		v.members[s.a.cfg.Node] = api.Member{Name: s.a.cfg.Node, Status: api.MemberAlive, Zone: s.a.cfg.Zone}
	}
	return v
}

// nodeID is a stable UUID-shaped ID derived from the node's name (Consul
// nodes have UUIDs; Grapevine nodes are identified by name).
func nodeID(name string) string {
	h := sha256.Sum256([]byte("grapevine-node:" + name))
	h[6] = h[6]&0x0f | 0x50 // version 5 layout, name-based
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// node is a Consul node for an agent name.
func (s *consulServer) node(v nodeView, name string) consulNode {
	m, ok := v.members[name]
	addr := m.Addr
	if !ok || addr == "" {
		addr, _ = s.a.memberAddress(name)
	}
	meta := map[string]string{}
	if m.Zone != "" {
		meta["zone"] = m.Zone
	}
	tagged := map[string]string{}
	if addr != "" {
		tagged["lan"], tagged["wan"] = addr, addr
	}
	return consulNode{ID: nodeID(name), Node: name, Address: addr, Datacenter: s.dc, TaggedAddresses: tagged, Meta: meta}
}

// nodeMatches applies ?node-meta= and a ?dc= zone to a node.
func (q *consulQuery) nodeMatches(n *consulNode) bool {
	for k, v := range q.nodeMeta {
		if got, ok := n.Meta[k]; !ok || got != v {
			return false
		}
	}
	return q.zone == "" || n.Meta["zone"] == q.zone
}

// agentService is the Consul form of an instance.
func (s *consulServer) agentService(in *catalog.Instance) consulAgentService {
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	meta := in.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return consulAgentService{
		ID: in.ID, Service: in.Service, Tags: tags, Meta: meta, Port: in.Port, Address: in.Address,
		Weights: consulWeights{Passing: 1, Warning: 1}, Datacenter: s.dc,
	}
}

// consulStatus maps an instance's health onto Consul's check statuses.
func consulStatus(h catalog.Health) string {
	switch h {
	case catalog.HealthPassing:
		return "passing"
	case catalog.HealthWarning:
		return "warning"
	}
	return "critical"
}

// serfCheck is the node's serfHealth check: passing while the agent is a
// live member; for a record served stale its output says how long the owner
// has been unreachable (the registry serves it on purpose: lease grace and
// stale over empty, docs/consul.md).
func serfCheck(node string, m api.Member, known bool, stale *catalog.Entry) consulHealthCheck {
	c := consulHealthCheck{
		Node: node, CheckID: serfCheckID, Name: serfCheckName, Status: "passing",
		Output: "Agent alive and reachable", ServiceTags: []string{},
	}
	switch {
	case stale != nil && stale.Stale:
		c.Output = fmt.Sprintf("Agent not reachable for %s; its last-known services are served stale", stale.Age.Round(time.Millisecond))
	case known && (m.Status == api.MemberFailed || m.Status == api.MemberLeft):
		c.Status = "critical"
		c.Output = "Agent not live: " + string(m.Status)
	}
	return c
}

// serviceChecks are an instance's checks as every agent can report them: the
// aggregate of its checks on its own host (one check; the per-check detail
// is on its own agent's /v1/agent/checks), or Consul's maintenance check.
func serviceChecks(e *catalog.Entry) []consulHealthCheck {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	if e.Health == catalog.HealthMaintenance {
		return []consulHealthCheck{{
			Node: e.Node, CheckID: maintCheckPrefix + e.ID, Name: "Service Maintenance Mode",
			Status: "critical", Notes: e.Output, Output: e.Output,
			ServiceID: e.ID, ServiceName: e.Service, ServiceTags: tags, Type: "maintenance",
		}}
	}
	return []consulHealthCheck{{
		Node: e.Node, CheckID: "service:" + e.ID, Name: "Service '" + e.Service + "' check",
		Status: consulStatus(e.Health), Notes: "the aggregate of the instance's checks on its node",
		Output: e.Output, ServiceID: e.ID, ServiceName: e.Service, ServiceTags: tags,
	}}
}

// serviceEntries reads one service with ?tag, ?passing, ?dc and ?node-meta.
func (s *consulServer) serviceEntries(name string, q *consulQuery, tags []string, passing bool) ([]*catalog.Entry, uint64) {
	f := catalog.Filter{Health: catalog.HealthAny, Tags: tags, Zone: q.zone}
	if passing {
		f.Health = catalog.HealthOnly(catalog.HealthPassing)
	}
	res := s.a.cat.Service(name, f)
	idx := res.Index
	if idx == 0 {
		idx = s.a.cat.GlobalIndex() // a service not seen yet: wait for it
	}
	return res.Entries, idx
}

// allEntries reads every served instance (any health), service by service.
func (s *consulServer) allEntries(zone string) []*catalog.Entry {
	var out []*catalog.Entry
	for _, sum := range s.a.cat.Services() {
		out = append(out, s.a.cat.Service(sum.Name, catalog.Filter{Health: catalog.HealthAny, Zone: zone}).Entries...)
	}
	return out
}

// needFilter refuses ?filter= on an endpoint that does not filter, and
// checks its selectors against the answer's element type otherwise.
func needFilter(w http.ResponseWriter, q *consulQuery, elem any) bool {
	if q.filter == nil {
		return true
	}
	if elem == nil {
		consulError(w, http.StatusBadRequest, "filter is not supported on this endpoint (docs/consul.md)")
		return false
	}
	if err := q.filter.check(reflect.TypeOf(elem)); err != nil {
		consulError(w, http.StatusBadRequest, "failed to create boolean expression evaluator: "+err.Error())
		return false
	}
	return true
}

// keep applies ?filter= to an answer element.
func (q *consulQuery) keep(v any) bool { return q.filter == nil || q.filter.match(v) }

// prelude handles ?dc= and ?filter= for a read; false means it answered.
func (s *consulServer) prelude(w http.ResponseWriter, q *consulQuery, elem any) bool {
	if err := s.resolveDC(q); err != nil {
		consulError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return needFilter(w, q, elem)
}

// readService answers one service's endpoint: build turns each instance
// matching the query (tags, passing, dc, node-meta) into answer elements,
// which then pass ?filter=.
func (s *consulServer) readService(kind, name string, q *consulQuery, tags []string, passing bool, build func(e *catalog.Entry, n consulNode, nv nodeView, idx uint64) []any) reading {
	es, idx := s.serviceEntries(name, q, tags, passing)
	stale := false
	for _, e := range es {
		stale = stale || e.Stale
	}
	// The answer is cached while nothing in it is stale (a stale record's
	// age changes with time) and no filter applies: the service's index and
	// the membership generation (node addresses) then determine it.
	var key []byte
	gen := s.a.memberGen.Load()
	if !stale && q.filter == nil {
		var buf [128]byte
		key = appendAnswerKey(buf[:0], kind, name, q, tags, passing)
		if a, ok := s.answers.get(key, idx, gen); ok {
			return reading{raw: a.raw, indexHdr: a.indexHdr, indexAt: idx, index: idx, service: name}
		}
	}
	nv := s.nodes()
	out := []any{}
	var st staleness
	for _, e := range es {
		n := s.node(nv, e.Node)
		if !q.nodeMatches(&n) {
			continue
		}
		for _, v := range build(e, n, nv, idx) {
			if q.keep(v) {
				st.add(e)
				out = append(out, v)
			}
		}
	}
	res := reading{body: out, index: idx, st: st, service: name}
	if key != nil {
		if raw, err := json.Marshal(out); err == nil {
			raw = append(raw, '\n')
			s.answers.put(string(key), idx, gen, raw)
			res.raw = raw
		}
	}
	return res
}

// appendAnswerKey appends what identifies a service endpoint's query shape
// for the cache to b. Every string is length-prefixed: parameters may hold
// any byte (%00 too), and no two query shapes may share a key.
func appendAnswerKey(b []byte, kind, name string, q *consulQuery, tags []string, passing bool) []byte {
	b = appendKeyPart(appendKeyPart(appendKeyPart(b, kind), name), q.zone)
	b = strconv.AppendBool(b, passing)
	b = binary.AppendUvarint(b, uint64(len(tags)))
	for _, t := range tags {
		b = appendKeyPart(b, t)
	}
	if len(q.nodeMeta) > 0 {
		for _, k := range slices.Sorted(maps.Keys(q.nodeMeta)) {
			b = appendKeyPart(appendKeyPart(b, k), q.nodeMeta[k])
		}
	}
	return b
}

// appendKeyPart appends s to b, its length first.
func appendKeyPart(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// answerCache holds encoded answers of service endpoints, each valid for one
// (index, membership generation). Bounded in entries and bytes: when full it
// starts over, so clients varying their queries cannot grow it.
type answerCache struct {
	mu    sync.Mutex // guards m and bytes
	m     map[string]*cachedAnswer
	bytes int
}

// cachedAnswer is one encoded answer; never modified once cached.
type cachedAnswer struct {
	index, gen uint64
	raw        []byte   // compact JSON and a newline
	indexHdr   []string // X-Consul-Index: index
}

const (
	maxCachedAnswers = 1024
	maxCachedBytes   = 32 << 20
)

func (c *answerCache) get(key []byte, index, gen uint64) (*cachedAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[string(key)]
	if !ok || a.index != index || a.gen != gen {
		return nil, false
	}
	return a, true
}

func (c *answerCache) put(key string, index, gen uint64, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(raw) > maxCachedBytes/8 {
		return // one huge answer would evict everything else
	}
	if c.m == nil || len(c.m) >= maxCachedAnswers || c.bytes+len(raw) > maxCachedBytes {
		c.m, c.bytes = make(map[string]*cachedAnswer), 0
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.raw)
	}
	c.m[key] = &cachedAnswer{index: index, gen: gen, raw: raw, indexHdr: []string{strconv.FormatUint(index, 10)}}
	c.bytes += len(raw)
}

func (s *consulServer) healthService(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, consulServiceEntry{}) {
		return
	}
	name, tags := r.PathValue("name"), q.v["tag"]
	passing, err := boolParam(q.v, "passing")
	if err != nil {
		consulError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.serve(w, r, q, func() reading {
		return s.readService("health", name, q, tags, passing, func(e *catalog.Entry, n consulNode, nv nodeView, idx uint64) []any {
			n.CreateIndex, n.ModifyIndex = idx, idx
			svc := s.agentService(&e.Instance)
			svc.CreateIndex, svc.ModifyIndex = idx, idx
			checks := append([]consulHealthCheck{serfCheck(e.Node, nv.members[e.Node], false, e)}, serviceChecks(e)...)
			return []any{consulServiceEntry{Node: n, Service: svc, Checks: checks}}
		})
	})
}

func (s *consulServer) catalogService(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, consulCatalogService{}) {
		return
	}
	name, tags := r.PathValue("name"), q.v["tag"]
	s.serve(w, r, q, func() reading {
		return s.readService("catalog", name, q, tags, false, func(e *catalog.Entry, n consulNode, _ nodeView, idx uint64) []any {
			svc := s.agentService(&e.Instance)
			return []any{consulCatalogService{
				ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: s.dc, TaggedAddresses: n.TaggedAddresses,
				NodeMeta: n.Meta, ServiceID: svc.ID, ServiceName: svc.Service, ServiceAddress: svc.Address,
				ServiceTags: svc.Tags, ServiceMeta: svc.Meta, ServicePort: svc.Port, ServiceWeights: svc.Weights,
				CreateIndex: idx, ModifyIndex: idx,
			}}
		})
	})
}

func (s *consulServer) healthChecks(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, consulHealthCheck{}) {
		return
	}
	name := r.PathValue("name")
	s.serve(w, r, q, func() reading {
		return s.readService("checks", name, q, nil, false, func(e *catalog.Entry, _ consulNode, _ nodeView, _ uint64) []any {
			var out []any
			for _, c := range serviceChecks(e) {
				out = append(out, c)
			}
			return out
		})
	})
}

// nodeChecks lists the checks of every node (or one): serfHealth, then its
// instances' checks, sorted by node.
func (s *consulServer) nodeChecks(q *consulQuery, only string) ([]consulHealthCheck, staleness) {
	nv := s.nodes()
	byNode := map[string][]*catalog.Entry{}
	for _, e := range s.allEntries(q.zone) {
		if only == "" || e.Node == only {
			byNode[e.Node] = append(byNode[e.Node], e)
		}
	}
	names := map[string]bool{}
	for name, m := range nv.members {
		if m.Status != api.MemberLeft && (only == "" || name == only) {
			names[name] = true
		}
	}
	for name := range byNode {
		names[name] = true
	}
	var out []consulHealthCheck
	var st staleness
	for _, name := range slices.Sorted(maps.Keys(names)) {
		n := s.node(nv, name)
		if !q.nodeMatches(&n) {
			continue
		}
		m, known := nv.members[name]
		var stale *catalog.Entry
		for _, e := range byNode[name] {
			if e.Stale {
				stale = e
			}
		}
		out = append(out, serfCheck(name, m, known, stale))
		for _, e := range byNode[name] {
			st.add(e)
			out = append(out, serviceChecks(e)...)
		}
	}
	return out, st
}

func (s *consulServer) healthNode(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, consulHealthCheck{}) {
		return
	}
	node := r.PathValue("node")
	s.serve(w, r, q, func() reading {
		idx := s.globalIndex()
		checks, st := s.nodeChecks(q, node)
		out := []consulHealthCheck{}
		for _, c := range checks {
			if q.keep(c) {
				out = append(out, c)
			}
		}
		return reading{body: out, index: idx, st: st}
	})
}

func (s *consulServer) healthState(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	state := r.PathValue("state")
	switch state {
	case "any", "passing", "warning", "critical":
	default:
		consulError(w, http.StatusBadRequest, "Bad state: want any, passing, warning or critical")
		return
	}
	if !s.prelude(w, q, consulHealthCheck{}) {
		return
	}
	s.serve(w, r, q, func() reading {
		idx := s.globalIndex()
		checks, st := s.nodeChecks(q, "")
		out := []consulHealthCheck{}
		for _, c := range checks {
			if (state == "any" || c.Status == state) && q.keep(c) {
				out = append(out, c)
			}
		}
		return reading{body: out, index: idx, st: st}
	})
}

func (s *consulServer) catalogServices(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, nil) {
		return
	}
	s.serve(w, r, q, func() reading {
		idx := s.globalIndex()
		nv := s.nodes()
		out := map[string][]string{}
		var st staleness
		for _, e := range s.allEntries(q.zone) {
			if len(q.nodeMeta) > 0 {
				n := s.node(nv, e.Node)
				if !q.nodeMatches(&n) {
					continue
				}
			}
			st.add(e)
			tags := out[e.Service]
			if tags == nil {
				tags = []string{}
			}
			for _, t := range e.Tags {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
			slices.Sort(tags)
			out[e.Service] = tags
		}
		return reading{body: out, index: idx, st: st}
	})
}

func (s *consulServer) catalogNodes(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, consulNode{}) {
		return
	}
	s.serve(w, r, q, func() reading {
		idx := s.globalIndex()
		nv := s.nodes()
		names := map[string]bool{}
		for name, m := range nv.members {
			if m.Status != api.MemberLeft {
				names[name] = true
			}
		}
		out := []consulNode{}
		for _, name := range slices.Sorted(maps.Keys(names)) {
			n := s.node(nv, name)
			n.CreateIndex, n.ModifyIndex = idx, idx
			if q.nodeMatches(&n) && q.keep(n) {
				out = append(out, n)
			}
		}
		return reading{body: out, index: idx}
	})
}

func (s *consulServer) catalogNode(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !s.prelude(w, q, nil) {
		return
	}
	name := r.PathValue("node")
	s.serve(w, r, q, func() reading {
		idx := s.globalIndex()
		nv := s.nodes()
		var st staleness
		svcs := map[string]consulAgentService{}
		for _, e := range s.allEntries(q.zone) {
			if e.Node == name {
				st.add(e)
				svcs[e.ID] = s.agentService(&e.Instance)
			}
		}
		m, ok := nv.members[name]
		if (!ok || m.Status == api.MemberLeft) && len(svcs) == 0 {
			return reading{body: nil, index: idx} // Consul answers null for an unknown node
		}
		n := s.node(nv, name)
		n.CreateIndex, n.ModifyIndex = idx, idx
		if !q.nodeMatches(&n) {
			return reading{body: nil, index: idx}
		}
		return reading{body: consulCatalogNode{Node: n, Services: svcs}, index: idx, st: st}
	})
}

func (s *consulServer) catalogDatacenters(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	s.serve(w, r, q, func() reading { return reading{body: []string{s.dc}, index: s.globalIndex()} })
}

// statusLeader: a leaderless registry has no leader; every agent answers
// for itself, so clients that wait for "a leader" proceed (docs/consul.md).
func (s *consulServer) statusLeader(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	s.serve(w, r, q, func() reading { return reading{body: s.selfAddr(), index: s.globalIndex()} })
}

// statusPeers lists the live agents' gossip addresses.
func (s *consulServer) statusPeers(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	s.serve(w, r, q, func() reading {
		out := []string{}
		for _, m := range s.a.Members() {
			if (m.Status == api.MemberAlive || m.Status == api.MemberSuspect) && m.Addr != "" { // suspect: still a member
				out = append(out, net.JoinHostPort(m.Addr, strconv.Itoa(m.Port)))
			}
		}
		slices.Sort(out)
		return reading{body: out, index: s.globalIndex()}
	})
}

// selfAddr is this agent's gossip address as peers see it.
func (s *consulServer) selfAddr() string {
	for _, m := range s.a.Members() {
		if m.Name == s.a.cfg.Node && m.Addr != "" {
			return net.JoinHostPort(m.Addr, strconv.Itoa(m.Port))
		}
	}
	return s.a.cfg.Bind
}

// consulMemberOf is the Serf-member form of an agent.
func (s *consulServer) consulMemberOf(m api.Member) consulMember {
	status := consulMemberAlive
	switch m.Status {
	case api.MemberLeft:
		status = consulMemberLeft
	case api.MemberFailed:
		status = consulMemberFailed
	}
	tags := map[string]string{"dc": s.dc, "role": "node", "build": Version, "grapevine": Version}
	if m.Zone != "" {
		tags["zone"] = m.Zone
	}
	p := uint8(ProtocolVersion)
	return consulMember{
		Name: m.Name, Addr: m.Addr, Port: uint16(m.Port), Tags: tags, Status: status,
		ProtocolMin: p, ProtocolMax: p, ProtocolCur: p, DelegateMin: p, DelegateMax: p, DelegateCur: p,
	}
}

func (s *consulServer) agentMembers(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	wan, _ := boolParam(q.v, "wan")
	s.serve(w, r, q, func() reading {
		out := []consulMember{}
		if !wan { // no WAN pool: Grapevine has one gossip pool
			for _, m := range s.a.Members() {
				out = append(out, s.consulMemberOf(m))
			}
		}
		return reading{body: out, index: s.globalIndex()}
	})
}

func (s *consulServer) agentSelf(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	s.serve(w, r, q, func() reading {
		self := api.Member{Name: s.a.cfg.Node, Status: api.MemberAlive, Zone: s.a.cfg.Zone}
		for _, m := range s.a.Members() {
			if m.Name == s.a.cfg.Node {
				self = m
			}
		}
		body := map[string]any{
			"Config": map[string]any{
				"Datacenter": s.dc, "PrimaryDatacenter": s.dc, "NodeName": s.a.cfg.Node, "NodeID": nodeID(s.a.cfg.Node),
				"Server": false, "Revision": "", "Version": Version, "BuildDate": "",
			},
			"Member":    s.consulMemberOf(self),
			"Meta":      map[string]string{},
			"Coord":     nil,
			"Stats":     map[string]any{},
			"Grapevine": s.a.Self(),
		}
		return reading{body: body, index: s.globalIndex()}
	})
}

// localService is one of this agent's own instances as served.
func (s *consulServer) localServices() []catalog.Entry {
	var out []catalog.Entry
	for _, in := range s.a.cat.Local() {
		if e, ok := s.a.cat.Instance(s.a.cfg.Node, in.ID); ok {
			out = append(out, e)
		}
	}
	return out
}

func (s *consulServer) agentServices(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, consulAgentService{}) {
		return
	}
	s.serve(w, r, q, func() reading {
		out := map[string]consulAgentService{}
		for _, e := range s.localServices() {
			svc := s.agentService(&e.Instance)
			if q.keep(svc) {
				out[svc.ID] = svc
			}
		}
		return reading{body: out, index: s.globalIndex()}
	})
}

func (s *consulServer) agentServiceByID(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	id := r.PathValue("id")
	if _, ok := s.a.cat.Instance(s.a.cfg.Node, id); !ok {
		consulError(w, http.StatusNotFound, fmt.Sprintf("unknown service ID: %s", truncateString(id, 256)))
		return
	}
	s.serve(w, r, q, func() reading {
		e, ok := s.a.cat.Instance(s.a.cfg.Node, id)
		if !ok {
			return reading{body: nil, index: s.globalIndex(), contentHash: true}
		}
		svc := s.agentService(&e.Instance)
		return reading{body: svc, index: s.globalIndex(), contentHash: true}
	})
}

// localChecks are this agent's checks in Consul's form, keyed by check ID:
// each probe with its definition, and the maintenance check of an instance
// in maintenance.
func (s *consulServer) localChecks() map[string]consulHealthCheck {
	out := map[string]consulHealthCheck{}
	for _, e := range s.localServices() {
		tags := e.Tags
		if tags == nil {
			tags = []string{}
		}
		if e.Health == catalog.HealthMaintenance {
			for _, c := range serviceChecks(&e) {
				out[c.CheckID] = c
			}
		}
		for _, res := range s.a.probes.ByOwner(e.ID) {
			def, _ := s.a.probes.Definition(res.CheckID)
			out[res.CheckID] = consulHealthCheck{
				Node: s.a.cfg.Node, CheckID: res.CheckID, Name: res.Name, Status: string(res.Status),
				Notes: def.Notes, Output: res.Output, ServiceID: e.ID, ServiceName: e.Service, ServiceTags: tags,
				Type: consulCheckType(def.Type), Definition: consulDefinition(def),
			}
		}
	}
	return out
}

// consulCheckType names a probe type as Consul does.
func consulCheckType(t probe.Type) string {
	if t == probe.Exec {
		return "script"
	}
	return string(t)
}

// consulDefinition is the Consul form of a probe's definition.
func consulDefinition(c probe.Check) consulCheckDefinition {
	d := consulCheckDefinition{TLSSkipVerify: c.TLSSkipVerify}
	switch c.Type {
	case probe.HTTP:
		d.HTTP, d.Method = c.Target, c.Method
		if len(c.Headers) > 0 {
			d.Header = make(map[string][]string, len(c.Headers))
			for k, v := range c.Headers {
				d.Header[k] = []string{v}
			}
		}
	case probe.TCP:
		d.TCP = c.Target
	case probe.GRPC:
		d.GRPC, d.GRPCUseTLS = c.Target, c.TLS
	case probe.Exec:
		d.ScriptArgs = c.Args
	case probe.TTL:
		d.TTL = c.TTL.String()
	}
	if c.Interval > 0 {
		d.Interval = c.Interval.String()
	}
	if c.Timeout > 0 {
		d.Timeout = c.Timeout.String()
	}
	if c.DeregisterCriticalAfter > 0 {
		d.DeregisterCriticalServiceAfter = c.DeregisterCriticalAfter.String()
	}
	return d
}

func (s *consulServer) agentChecks(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, consulHealthCheck{}) {
		return
	}
	s.serve(w, r, q, func() reading {
		out := map[string]consulHealthCheck{}
		for id, c := range s.localChecks() {
			if q.keep(c) {
				out[id] = c
			}
		}
		return reading{body: out, index: s.globalIndex()}
	})
}

// boolParam reads a flag parameter as Consul does: present without a value
// (or with one that parses as true) is true.
func boolParam(q url.Values, name string) (bool, error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	if len(v) == 0 || v[0] == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, fmt.Errorf("%s: want true or false, got %q", name, truncateString(v[0], 32))
	}
	return b, nil
}

// consulServiceChecksInfo is one element of agent/health/service/*.
type consulServiceChecksInfo struct {
	AggregatedStatus string
	Service          consulAgentService
	Checks           []consulHealthCheck
}

// healthCode is the status code agent/health/service/* answers for an
// aggregated status, as Consul does: load balancers read only the code.
func healthCode(status string) int {
	switch status {
	case "passing":
		return http.StatusOK
	case "warning":
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// worseStatus is the worse of two Consul statuses.
func worseStatus(a, b string) string {
	rank := map[string]int{"passing": 0, "warning": 1, "critical": 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// localHealth is the health of this agent's instances that match keep,
// with their checks, sorted by instance ID.
func (s *consulServer) localHealth(keep func(*catalog.Entry) bool) ([]consulServiceChecksInfo, string) {
	checks := s.localChecks()
	var out []consulServiceChecksInfo
	agg := "passing"
	for _, e := range s.localServices() {
		if !keep(&e) {
			continue
		}
		info := consulServiceChecksInfo{AggregatedStatus: consulStatus(e.Health), Service: s.agentService(&e.Instance), Checks: []consulHealthCheck{}}
		for _, id := range slices.Sorted(maps.Keys(checks)) {
			if c := checks[id]; c.ServiceID == e.ID {
				info.Checks = append(info.Checks, c)
			}
		}
		agg = worseStatus(agg, info.AggregatedStatus)
		out = append(out, info)
	}
	return out, agg
}

// writeHealth answers agent/health/service/*: the aggregated status as the
// status code, the body as JSON, or as the status alone with ?format=text.
func writeHealth(w http.ResponseWriter, r *http.Request, status string, body any) {
	code := healthCode(status)
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(status))
		return
	}
	writeConsulJSON(w, code, body)
}

func (s *consulServer) agentHealthByID(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	id := r.PathValue("id")
	infos, agg := s.localHealth(func(e *catalog.Entry) bool { return e.ID == id })
	if len(infos) == 0 {
		consulError(w, http.StatusNotFound, fmt.Sprintf("ServiceId %s not found", truncateString(id, 256)))
		return
	}
	writeHealth(w, r, agg, infos[0])
}

func (s *consulServer) agentHealthByName(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	if !needFilter(w, q, nil) {
		return
	}
	name := r.PathValue("name")
	infos, agg := s.localHealth(func(e *catalog.Entry) bool { return e.Service == name })
	if len(infos) == 0 {
		consulError(w, http.StatusNotFound, fmt.Sprintf("ServiceName %s Not Found", truncateString(name, 256)))
		return
	}
	writeHealth(w, r, agg, infos)
}
