package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Blocking query bounds (GET /v1/services/{name} with index).
const (
	// DefaultWait is the wait of a blocking query that sets index but no wait.
	DefaultWait = 5 * time.Minute
	// MaxWait caps wait; larger values are clamped, not rejected.
	MaxWait = 10 * time.Minute
)

// QueryOptions filter a lookup (GET /v1/services/{name}) and make it blocking.
// The zero value asks for the passing and warning instances, at once.
type QueryOptions struct {
	// Tags: an instance must carry every one.
	Tags []string
	// Meta: an instance must have every key with exactly that value.
	Meta map[string]string
	// Zone: only instances in this zone ("" means any zone).
	Zone string
	// Health: only instances with this health; "" means the default lookup,
	// passing and warning (a warning instance still serves); HealthAny means all.
	Health Health
	// Index > 0 makes the query blocking: the agent answers when the service's
	// index exceeds Index, or when Wait has passed (with an unchanged result).
	Index uint64
	// Wait bounds a blocking query; 0 means DefaultWait; capped at MaxWait.
	Wait time.Duration
}

// Values encodes o as query parameters (deterministic order).
func (o QueryOptions) Values() url.Values {
	v := url.Values{}
	for _, t := range o.Tags {
		v.Add("tag", t)
	}
	keys := make([]string, 0, len(o.Meta))
	for k := range o.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Add("meta", k+":"+o.Meta[k])
	}
	if o.Zone != "" {
		v.Set("zone", o.Zone)
	}
	if o.Health != "" {
		v.Set("health", string(o.Health))
	}
	if o.Index > 0 {
		v.Set("index", strconv.FormatUint(o.Index, 10))
	}
	if o.Wait > 0 {
		v.Set("wait", o.Wait.String())
	}
	return v
}

// EffectiveWait is the wait the agent applies to o: 0 when not blocking,
// else Wait defaulted and capped.
func (o QueryOptions) EffectiveWait() time.Duration {
	switch {
	case o.Index == 0:
		return 0
	case o.Wait <= 0:
		return DefaultWait
	case o.Wait > MaxWait:
		return MaxWait
	}
	return o.Wait
}

// Limits on lookup query strings, so a request cannot make the agent filter by
// thousands of predicates.
const (
	maxQueryFilters = 64
	maxQueryValue   = 512
)

// ParseQueryOptions decodes the query string of GET /v1/services/{name}. It
// rejects unknown parameters, repeated single-valued ones, an invalid health,
// a meta filter without ':', and a malformed index or wait; errors wrap
// ErrInvalid and read well as a 400 message. Health "" is the default lookup
// (passing and warning).
func ParseQueryOptions(v url.Values) (QueryOptions, error) {
	var o QueryOptions
	n := 0
	for key, vals := range v {
		n += len(vals)
		if n > maxQueryFilters {
			return QueryOptions{}, fmt.Errorf("%w: more than %d query parameters", ErrInvalid, maxQueryFilters)
		}
		for _, s := range vals {
			if len(s) > maxQueryValue {
				return QueryOptions{}, fmt.Errorf("%w: query parameter %q longer than %d bytes", ErrInvalid, key, maxQueryValue)
			}
		}
		switch key {
		case "tag", "meta":
		case "zone", "health", "index", "wait":
			if len(vals) > 1 {
				return QueryOptions{}, fmt.Errorf("%w: query parameter %q given %d times", ErrInvalid, key, len(vals))
			}
		default:
			return QueryOptions{}, fmt.Errorf("%w: unknown query parameter %q (known: tag, meta, zone, health, index, wait)", ErrInvalid, key)
		}
	}
	for _, t := range v["tag"] {
		if t == "" {
			return QueryOptions{}, fmt.Errorf("%w: empty tag", ErrInvalid)
		}
		o.Tags = append(o.Tags, t)
	}
	for _, m := range v["meta"] {
		k, val, ok := strings.Cut(m, ":")
		if !ok || k == "" {
			return QueryOptions{}, fmt.Errorf("%w: meta filter %q is not key:value", ErrInvalid, m)
		}
		if o.Meta == nil {
			o.Meta = map[string]string{}
		}
		if prev, dup := o.Meta[k]; dup && prev != val {
			return QueryOptions{}, fmt.Errorf("%w: meta key %q filtered with two values", ErrInvalid, k)
		}
		o.Meta[k] = val
	}
	o.Zone = v.Get("zone")
	h, err := ParseHealthFilter(v.Get("health"))
	if err != nil {
		return QueryOptions{}, err
	}
	o.Health = h
	if s := v.Get("index"); s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return QueryOptions{}, fmt.Errorf("%w: index %q is not an unsigned integer", ErrInvalid, s)
		}
		o.Index = idx
	}
	if s := v.Get("wait"); s != "" {
		d, err := parseWait(s)
		if err != nil {
			return QueryOptions{}, err
		}
		o.Wait = d
	}
	return o, nil
}

// parseWait accepts a Go duration ("30s") or a bare number of seconds.
func parseWait(s string) (time.Duration, error) {
	if secs, err := strconv.ParseUint(s, 10, 32); err == nil {
		return min(time.Duration(secs)*time.Second, MaxWait), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: wait %q is not a duration like 30s", ErrInvalid, s)
	}
	return min(d, MaxWait), nil
}

// ParseHealthFilter parses a health filter: "" (the default: passing and
// warning), passing, warning, critical, maintenance or any.
func ParseHealthFilter(s string) (Health, error) {
	if s == "" {
		return "", nil
	}
	h := Health(s)
	if h == HealthAny || h.Valid() {
		return h, nil
	}
	return "", fmt.Errorf("%w: health %q is not one of passing, warning, critical, maintenance, any", ErrInvalid, s)
}

// Match reports whether inst passes the filters of o (not Index or Wait). It
// is the definition of the lookup filters' semantics: clients filtering on their
// own (grapevine render, tests) call it, and the agent's catalog, which answers
// from its indexes with catalog.Filter, is held to the same answers by the
// agent's TestFilterSemanticsAgree.
func (o QueryOptions) Match(inst Instance) bool {
	switch h := o.Health; h {
	case "":
		if inst.Health != HealthPassing && inst.Health != HealthWarning {
			return false
		}
	case HealthAny:
	default:
		if inst.Health != h {
			return false
		}
	}
	if o.Zone != "" && inst.Zone != o.Zone {
		return false
	}
	for _, t := range o.Tags {
		if !slices.Contains(inst.Tags, t) {
			return false
		}
	}
	for k, v := range o.Meta {
		if got, ok := inst.Meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}
