package agent

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// Filter semantics are defined once, by api.QueryOptions.Match (the HTTP
// contract, docs/http.md); the catalog answers lookups with its own indexed
// implementation (catalog.Filter) reached through toFilter. These tests hold
// the two to the same answers.

// filterFixture is a catalog holding instances that differ in every filtered
// field, and the agent view of each.
func filterFixture(t *testing.T) (*catalog.Catalog, map[string]api.Instance) {
	t.Helper()
	cat := catalogtest.New(t, "n1", catalogtest.NewClock())
	type spec struct {
		id     string
		tags   []string
		meta   map[string]string
		zone   string
		health catalog.Health
	}
	specs := []spec{
		{"a", []string{"v1", "canary"}, map[string]string{"ver": "1", "az": "x"}, "eu-1", catalog.HealthPassing},
		{"b", []string{"v1"}, map[string]string{"ver": "2"}, "us-1", catalog.HealthWarning},
		{"c", []string{"v2"}, map[string]string{"ver": "2", "empty": ""}, "eu-1", catalog.HealthCritical},
		{"d", nil, nil, "", catalog.HealthMaintenance},
		{"e", []string{"V1"}, map[string]string{"Ver": "1"}, "EU-1", catalog.HealthPassing},
		{"f", []string{"v1", "v2", "canary"}, map[string]string{"ver": "1:2"}, "us-1", catalog.HealthPassing},
	}
	a := &Agent{}
	for _, s := range specs {
		in := catalogtest.Instance("web", s.id, 80, s.tags...)
		in.Meta, in.Zone = s.meta, s.zone
		if err := cat.Register(in); err != nil {
			t.Fatalf("register %s: %v", s.id, err)
		}
		var err error
		switch s.health {
		case catalog.HealthPassing:
		case catalog.HealthMaintenance:
			err = cat.SetMaintenance(s.id, true, "")
		default:
			err = cat.SetHealth(s.id, s.health, "")
		}
		if err != nil {
			t.Fatalf("health %s: %v", s.id, err)
		}
	}
	all := map[string]api.Instance{}
	for _, e := range cat.Service("web", catalog.Filter{Health: catalog.HealthAny}).Entries {
		all[e.ID] = a.toAPI(e)
	}
	if len(all) != len(specs) {
		t.Fatalf("catalog holds %d instances, want %d", len(all), len(specs))
	}
	return cat, all
}

// agree reports how the catalog and api.QueryOptions.Match differ on o.
func agree(t *testing.T, cat *catalog.Catalog, all map[string]api.Instance, o api.QueryOptions) (got, want []string, err error) {
	f, err := toFilter(o)
	if err != nil {
		return nil, nil, err
	}
	got = []string{}
	for _, e := range cat.Service("web", f).Entries {
		got = append(got, e.ID)
	}
	want = []string{}
	for id, in := range all {
		if o.Match(in) {
			want = append(want, id)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	return got, want, nil
}

func TestFilterSemanticsAgree(t *testing.T) {
	cat, all := filterFixture(t)
	tests := []struct {
		name string
		o    api.QueryOptions
		want []string // also pins the semantics themselves
	}{
		{"default: passing and warning", api.QueryOptions{}, []string{"a", "b", "e", "f"}},
		{"any health", api.QueryOptions{Health: api.HealthAny}, []string{"a", "b", "c", "d", "e", "f"}},
		{"passing only", api.QueryOptions{Health: api.HealthPassing}, []string{"a", "e", "f"}},
		{"warning only", api.QueryOptions{Health: api.HealthWarning}, []string{"b"}},
		{"critical only", api.QueryOptions{Health: api.HealthCritical}, []string{"c"}},
		{"maintenance only", api.QueryOptions{Health: api.HealthMaintenance}, []string{"d"}},
		{"one tag", api.QueryOptions{Tags: []string{"v1"}}, []string{"a", "b", "f"}},
		{"every tag must match", api.QueryOptions{Tags: []string{"v1", "canary"}}, []string{"a", "f"}},
		{"tags are case-sensitive", api.QueryOptions{Tags: []string{"V1"}}, []string{"e"}},
		{"repeated tag", api.QueryOptions{Tags: []string{"v1", "v1"}}, []string{"a", "b", "f"}},
		{"unknown tag", api.QueryOptions{Tags: []string{"v3"}}, []string{}},
		{"meta pair", api.QueryOptions{Meta: map[string]string{"ver": "2"}, Health: api.HealthAny}, []string{"b", "c"}},
		{"every meta pair must match", api.QueryOptions{Meta: map[string]string{"ver": "1", "az": "x"}}, []string{"a"}},
		{"meta value with a colon", api.QueryOptions{Meta: map[string]string{"ver": "1:2"}}, []string{"f"}},
		{"empty meta value needs the key", api.QueryOptions{Meta: map[string]string{"empty": ""}, Health: api.HealthAny}, []string{"c"}},
		{"meta keys are case-sensitive", api.QueryOptions{Meta: map[string]string{"Ver": "1"}}, []string{"e"}},
		{"zone", api.QueryOptions{Zone: "eu-1", Health: api.HealthAny}, []string{"a", "c"}},
		{"zone is case-sensitive", api.QueryOptions{Zone: "EU-1"}, []string{"e"}},
		{"all together", api.QueryOptions{Tags: []string{"v1"}, Meta: map[string]string{"ver": "2"}, Zone: "us-1", Health: api.HealthWarning}, []string{"b"}},
	}
	for _, tc := range tests {
		got, want, err := agree(t, cat, all, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: catalog serves %v, api.QueryOptions.Match selects %v", tc.name, got, want)
		}
		if !slices.Equal(want, tc.want) {
			t.Errorf("%s: api.QueryOptions.Match selects %v, want %v", tc.name, want, tc.want)
		}
	}
}

// TestFilterSemanticsAgreeRandom draws filters from the fixture's vocabulary.
func TestFilterSemanticsAgreeRandom(t *testing.T) {
	cat, all := filterFixture(t)
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	healths := []api.Health{"", api.HealthAny, api.HealthPassing, api.HealthWarning, api.HealthCritical, api.HealthMaintenance}
	for i := range 500 {
		var o api.QueryOptions
		for range rng.IntN(3) {
			o.Tags = append(o.Tags, pick("v1", "v2", "canary", "V1", "x"))
		}
		if n := rng.IntN(3); n > 0 {
			o.Meta = map[string]string{}
			for range n {
				o.Meta[pick("ver", "az", "empty", "Ver")] = pick("1", "2", "", "x", "1:2")
			}
		}
		o.Zone = pick("", "", "eu-1", "us-1", "EU-1")
		o.Health = healths[rng.IntN(len(healths))]
		got, want, err := agree(t, cat, all, o)
		if err != nil {
			t.Fatalf("seed %d case %d %+v: %v", seed, i, o, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d case %d %s: catalog serves %v, api.QueryOptions.Match selects %v", seed, i, fmt.Sprintf("%+v", o), got, want)
		}
	}
}
