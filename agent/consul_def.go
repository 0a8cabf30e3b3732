package agent

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/probe"
)

// Consul service and check definitions (agent/service/register bodies, and
// {"service": {...}} / {"services": [...]} files in config_dir) mapped onto
// Grapevine's registrations and probe checks. Keys match case-insensitively
// and snake_case is accepted ("deregister_critical_service_after"), as Consul
// does. A field Grapevine cannot honour is an error naming it, never silently
// dropped; the few accepted and ignored are listed in docs/consul.md.

// errConsulDef wraps every problem of a Consul definition (a 400).
var errConsulDef = errors.New("invalid Consul definition")

// Limits of a Consul definition.
const (
	maxConsulChecks   = 32 // checks per service
	maxConsulServices = 1024
	maxConsulBody     = 1 << 20
)

// consulMinInterval: shorter intervals are raised to it, as Consul does.
const consulMinInterval = time.Second

// canonKey folds a JSON key: lower case, without '_' and '-'.
func canonKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, k)
}

// fields is one decoded JSON object with folded keys.
type fields map[string]any

// decodeObject decodes one JSON object (numbers kept exact) and folds its
// keys; a key given twice (in any spelling) is an error.
func decodeObject(b []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: want a JSON object", errConsulDef)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the object", errConsulDef)
	}
	return foldObject(m, "")
}

func foldObject(m map[string]any, where string) (fields, error) {
	out := make(fields, len(m))
	for k, v := range m {
		c := canonKey(k)
		if _, dup := out[c]; dup {
			return nil, fmt.Errorf("%w: %skey %q given twice", errConsulDef, where, k)
		}
		out[c] = v
	}
	return out, nil
}

// take removes and returns the value of key (folded), nil if absent or null.
func (f fields) take(key string) any {
	v := f[key]
	delete(f, key)
	return v
}

func (f fields) str(key, where string) (string, error) {
	switch v := f.take(key).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%w: %s%s must be a string", errConsulDef, where, key)
	}
}

func (f fields) boolean(key, where string) (bool, error) {
	switch v := f.take(key).(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, fmt.Errorf("%w: %s%s must be true or false", errConsulDef, where, key)
	}
}

func (f fields) integer(key, where string, lo, hi int64) (int, error) {
	v := f.take(key)
	if v == nil {
		return 0, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: %s%s must be a number", errConsulDef, where, key)
	}
	i, err := n.Int64()
	if err != nil || i < lo || i > hi {
		return 0, fmt.Errorf("%w: %s%s %s: want an integer %d..%d", errConsulDef, where, key, n, lo, hi)
	}
	return int(i), nil
}

func (f fields) strings(key, where string) ([]string, error) {
	v := f.take(key)
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s%s must be a list of strings", errConsulDef, where, key)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s%s must be a list of strings", errConsulDef, where, key)
		}
		out = append(out, s)
	}
	return out, nil
}

func (f fields) stringMap(key, where string) (map[string]string, error) {
	v := f.take(key)
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s%s must be an object of strings", errConsulDef, where, key)
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s%s.%s must be a string", errConsulDef, where, key, k)
		}
		out[k] = s
	}
	return out, nil
}

// duration reads a Go duration string ("10s") or a number of nanoseconds,
// as Consul accepts both.
func (f fields) duration(key, where string) (time.Duration, error) {
	switch v := f.take(key).(type) {
	case nil:
		return 0, nil
	case string:
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: %s%s %q: want a duration like \"10s\"", errConsulDef, where, key, truncateString(v, 40))
		}
		return d, nil
	case json.Number:
		n, err := v.Int64()
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: %s%s %s: want a duration like \"10s\"", errConsulDef, where, key, v)
		}
		return time.Duration(n), nil
	default:
		return 0, fmt.Errorf("%w: %s%s: want a duration like \"10s\"", errConsulDef, where, key)
	}
}

// refuse fails if key holds anything but its zero value (the feature it
// stands for is not offered).
func (f fields) refuse(where string, keys ...string) error {
	for _, k := range keys {
		if v := f.take(k); !zeroValue(v) {
			return fmt.Errorf("%w: %s%s is not supported by Grapevine (docs/consul.md)", errConsulDef, where, k)
		}
	}
	return nil
}

// zeroValue reports JSON null, false, "", 0, [] and {}: what clients that
// serialize every field of their structs send for a field they do not use.
func zeroValue(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case json.Number:
		f, err := v.Float64()
		return err == nil && f == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// rest fails on any field left over that holds a value: a field Grapevine
// does not know is never silently dropped. Left-over fields with zero values
// are ignored, as Consul ignores them (clients send every field of their
// structs, and newer clients send fields older servers lack).
func (f fields) rest(where string) error {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if !zeroValue(f[k]) {
			return fmt.Errorf("%w: %sunknown or unsupported field %q", errConsulDef, where, k)
		}
	}
	return nil
}

// consulService is a decoded Consul service definition.
type consulService struct {
	reg api.Registration
	// hasExec reports an exec (Args/ScriptArgs) check, which the HTTP API
	// refuses unless enabled.
	hasExec bool
}

// parseConsulService maps one Consul service definition (folded keys) onto a
// registration with native check definitions.
func parseConsulService(f fields) (consulService, error) {
	var out consulService
	var err error
	r := &out.reg
	w := "service: "
	if r.ID, err = f.str("id", w); err != nil {
		return out, err
	}
	if r.Name, err = f.str("name", w); err != nil {
		return out, err
	}
	if r.Name == "" {
		return out, fmt.Errorf("%w: service: Name is required", errConsulDef)
	}
	if r.ID == "" {
		r.ID = r.Name
	}
	if r.Address, err = f.str("address", w); err != nil {
		return out, err
	}
	if r.Port, err = f.integer("port", w, 0, 65535); err != nil {
		return out, err
	}
	if r.Tags, err = f.strings("tags", w); err != nil {
		return out, err
	}
	if r.Meta, err = f.stringMap("meta", w); err != nil {
		return out, err
	}
	if err := parseWeights(f.take("weights")); err != nil {
		return out, err
	}
	// Accepted and ignored (docs/consul.md): tag override is a Consul
	// anti-entropy detail; tagged addresses are not served; a token in a
	// file is Consul's ACL.
	if _, err := f.boolean("enabletagoverride", w); err != nil {
		return out, err
	}
	f.take("taggedaddresses")
	if _, err := f.str("token", w); err != nil {
		return out, err
	}
	for _, k := range []string{"namespace", "partition"} {
		v, err := f.str(k, w)
		if err != nil {
			return out, err
		}
		if v != "" && v != "default" {
			return out, fmt.Errorf("%w: service: %s %q: Grapevine has only the default one", errConsulDef, k, truncateString(v, 40))
		}
	}
	if kind, err := f.str("kind", w); err != nil {
		return out, err
	} else if kind != "" && kind != "typical" {
		return out, fmt.Errorf("%w: service: Kind %q: Connect proxies and gateways are not supported (docs/consul.md)", errConsulDef, truncateString(kind, 40))
	}
	if err := f.refuse(w, "proxy", "connect", "socketpath", "locality"); err != nil {
		return out, err
	}
	var raws []fields
	if c := f.take("check"); c != nil {
		m, ok := c.(map[string]any)
		if !ok {
			return out, fmt.Errorf("%w: service: Check must be an object", errConsulDef)
		}
		cf, err := foldObject(m, "check: ")
		if err != nil {
			return out, err
		}
		raws = append(raws, cf)
	}
	if cs := f.take("checks"); cs != nil {
		list, ok := cs.([]any)
		if !ok {
			return out, fmt.Errorf("%w: service: Checks must be a list of objects", errConsulDef)
		}
		for i, c := range list {
			m, ok := c.(map[string]any)
			if !ok {
				return out, fmt.Errorf("%w: service: Checks[%d] must be an object", errConsulDef, i)
			}
			cf, err := foldObject(m, fmt.Sprintf("checks[%d]: ", i))
			if err != nil {
				return out, err
			}
			raws = append(raws, cf)
		}
	}
	if len(raws) > maxConsulChecks {
		return out, fmt.Errorf("%w: service: %d checks, at most %d", errConsulDef, len(raws), maxConsulChecks)
	}
	if err := f.rest(w); err != nil {
		return out, err
	}
	for i, cf := range raws {
		defID := "service:" + r.ID
		if len(raws) > 1 {
			defID += ":" + strconv.Itoa(i+1)
		}
		c, err := parseConsulCheck(cf, defID, "Service '"+r.Name+"' check", fmt.Sprintf("check %d: ", i+1))
		if err != nil {
			return out, err
		}
		if c.Type == probe.Exec {
			out.hasExec = true
		}
		b, err := json.Marshal(c)
		if err != nil {
			return out, fmt.Errorf("%w: check %d: %v", errConsulDef, i+1, err)
		}
		r.Checks = append(r.Checks, b)
	}
	return out, nil
}

// parseWeights validates Consul's Weights (accepted, not replicated: every
// instance is served with weights 1/1, see docs/consul.md).
func parseWeights(v any) error {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: service: Weights must be an object", errConsulDef)
	}
	f, err := foldObject(m, "weights: ")
	if err != nil {
		return err
	}
	if _, err := f.integer("passing", "weights: ", 0, 65535); err != nil {
		return err
	}
	if _, err := f.integer("warning", "weights: ", 0, 65535); err != nil {
		return err
	}
	return f.rest("weights: ")
}

// parseConsulCheck maps one Consul check definition onto a native check
// (validated). defID and defName are Consul's defaults for a service's check.
func parseConsulCheck(f fields, defID, defName, w string) (probe.Check, error) {
	var c probe.Check
	var err error
	id1, err := f.str("checkid", w)
	if err != nil {
		return c, err
	}
	id2, err := f.str("id", w)
	if err != nil {
		return c, err
	}
	c.ID = cmp.Or(id1, id2, defID)
	if c.Name, err = f.str("name", w); err != nil {
		return c, err
	}
	c.Name = cmp.Or(c.Name, defName)
	if c.Notes, err = f.str("notes", w); err != nil {
		return c, err
	}
	status, err := f.str("status", w)
	if err != nil {
		return c, err
	}
	if status != "" {
		c.InitialStatus = probe.Status(status)
		if !c.InitialStatus.Valid() {
			return c, fmt.Errorf("%w: %sStatus %q: want passing, warning or critical", errConsulDef, w, truncateString(status, 32))
		}
	}
	args, err := f.strings("scriptargs", w)
	if err != nil {
		return c, err
	}
	args2, err := f.strings("args", w)
	if err != nil {
		return c, err
	}
	if len(args) > 0 && len(args2) > 0 {
		return c, fmt.Errorf("%w: %sgive Args or ScriptArgs, not both", errConsulDef, w)
	}
	args = append(args, args2...)
	httpURL, err := f.str("http", w)
	if err != nil {
		return c, err
	}
	tcp, err := f.str("tcp", w)
	if err != nil {
		return c, err
	}
	grpcTarget, err := f.str("grpc", w)
	if err != nil {
		return c, err
	}
	grpcTLS, err := f.boolean("grpcusetls", w)
	if err != nil {
		return c, err
	}
	if c.TTL, err = f.duration("ttl", w); err != nil {
		return c, err
	}
	kinds := 0
	for _, set := range []bool{len(args) > 0, httpURL != "", tcp != "", grpcTarget != "", c.TTL > 0} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return c, fmt.Errorf("%w: %sa check needs one of HTTP, TCP, GRPC, TTL or Args", errConsulDef, w)
	case kinds > 1:
		return c, fmt.Errorf("%w: %sa check takes only one of HTTP, TCP, GRPC, TTL and Args", errConsulDef, w)
	case len(args) > 0:
		c.Type, c.Args = probe.Exec, args
	case httpURL != "":
		c.Type, c.Target = probe.HTTP, httpURL
	case tcp != "":
		c.Type, c.Target = probe.TCP, tcp
	case grpcTarget != "":
		c.Type, c.Target, c.TLS = probe.GRPC, grpcTarget, grpcTLS
	default:
		c.Type = probe.TTL
	}
	if grpcTLS && c.Type != probe.GRPC {
		return c, fmt.Errorf("%w: %sGRPCUseTLS applies only to a GRPC check", errConsulDef, w)
	}
	if c.Method, err = f.str("method", w); err != nil {
		return c, err
	}
	if err := parseHeader(f.take("header"), &c, w); err != nil {
		return c, err
	}
	if c.TLSSkipVerify, err = f.boolean("tlsskipverify", w); err != nil {
		return c, err
	}
	if c.Type != probe.HTTP && !c.TLS {
		c.TLSSkipVerify = false // Consul ignores it there
	}
	if c.Interval, err = f.duration("interval", w); err != nil {
		return c, err
	}
	if c.Timeout, err = f.duration("timeout", w); err != nil {
		return c, err
	}
	dca, err := f.duration("deregistercriticalserviceafter", w)
	if err != nil {
		return c, err
	}
	if dca > 0 {
		c.DeregisterCriticalAfter = max(dca, probe.MinDeregister) // Consul's minimum too
	}
	sbp, err := f.integer("successbeforepassing", w, 0, probe.MaxThreshold)
	if err != nil {
		return c, err
	}
	fbc, err := f.integer("failuresbeforecritical", w, 0, probe.MaxThreshold)
	if err != nil {
		return c, err
	}
	fbw, err := f.integer("failuresbeforewarning", w, 0, probe.MaxThreshold)
	if err != nil {
		return c, err
	}
	if fbw != 0 && fbw != fbc {
		return c, fmt.Errorf("%w: %sFailuresBeforeWarning different from FailuresBeforeCritical is not supported (docs/consul.md)", errConsulDef, w)
	}
	// Consul: 0 means at once; so does a threshold of 1 here.
	c.Rise, c.Fall = max(1, sbp), max(1, fbc)
	// Accepted and ignored: ServiceID inside a service's own check, Type.
	f.take("serviceid")
	f.take("type")
	if err := f.refuse(w, "body", "tlsservername", "tcpusetls", "udp", "h2ping", "h2pingusetls", "dockercontainerid",
		"shell", "aliasnode", "aliasservice", "osservice", "outputmaxsize"); err != nil {
		return c, err
	}
	if err := f.rest(w); err != nil {
		return c, err
	}
	if c.Type != probe.TTL {
		if c.Interval == 0 {
			c.Interval = probe.DefaultInterval
		}
		c.Interval = max(c.Interval, consulMinInterval)
		if c.Timeout >= c.Interval {
			// Consul lets a timeout exceed the interval; here probes never
			// overlap, so it is kept below the interval.
			c.Timeout = c.Interval - c.Interval/10
		}
	} else if c.Interval > 0 || c.Timeout > 0 {
		c.Interval, c.Timeout = 0, 0 // Consul ignores them on a TTL check
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %s%v", errConsulDef, w, err)
	}
	return c, nil
}

// parseHeader maps Consul's Header (name → list of values, or one value)
// onto the probe's single-valued headers, joining repeated values with ", "
// (RFC 9110 5.3).
func parseHeader(v any, c *probe.Check, w string) error {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: %sHeader must be an object of string lists", errConsulDef, w)
	}
	c.Headers = make(map[string]string, len(m))
	for k, vals := range m {
		if one, ok := vals.(string); ok {
			vals = []any{one} // a single value, as some clients send it
		}
		list, ok := vals.([]any)
		if !ok {
			return fmt.Errorf("%w: %sHeader.%s must be a list of strings", errConsulDef, w, truncateString(k, 32))
		}
		parts := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("%w: %sHeader.%s must be a list of strings", errConsulDef, w, truncateString(k, 32))
			}
			parts = append(parts, s)
		}
		c.Headers[k] = strings.Join(parts, ", ")
	}
	return nil
}

// parseConsulDefinitions reads a definition file in Consul's form: a JSON
// object with "service" (one object) or "services" (a list). ok is false when
// js is not in that form (then it is a native definition).
func parseConsulDefinitions(js []byte) (regs []api.Registration, ok bool, err error) {
	t := bytes.TrimSpace(js)
	if len(t) == 0 || t[0] != '{' {
		return nil, false, nil
	}
	f, err := decodeObject(t)
	if err != nil {
		return nil, false, nil // not an object: the native parser reports it
	}
	one, many := f.take("service"), f.take("services")
	if one == nil && many == nil {
		return nil, false, nil
	}
	if len(f) > 0 {
		return nil, true, f.rest("")
	}
	var items []any
	if one != nil {
		items = append(items, one)
	}
	if many != nil {
		list, isList := many.([]any)
		if !isList {
			return nil, true, fmt.Errorf("%w: services must be a list of objects", errConsulDef)
		}
		items = append(items, list...)
	}
	if len(items) > maxConsulServices {
		return nil, true, fmt.Errorf("%w: %d services, at most %d", errConsulDef, len(items), maxConsulServices)
	}
	for i, it := range items {
		m, isObj := it.(map[string]any)
		if !isObj {
			return nil, true, fmt.Errorf("%w: service %d must be an object", errConsulDef, i+1)
		}
		sf, err := foldObject(m, "")
		if err != nil {
			return nil, true, err
		}
		s, err := parseConsulService(sf)
		if err != nil {
			return nil, true, fmt.Errorf("service %d: %w", i+1, err)
		}
		regs = append(regs, s.reg)
	}
	return regs, true, nil
}

// truncateString cuts s to at most n bytes (at a rune boundary) for messages.
func truncateString(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
