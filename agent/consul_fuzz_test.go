package agent

import (
	"reflect"
	"testing"

	"github.com/grapevine-sd/grapevine/probe"
)

// FuzzConsulService feeds arbitrary bodies to the Consul registration
// decoder: it never panics, and every check it accepts is a valid probe
// definition.
func FuzzConsulService(f *testing.F) {
	f.Add([]byte(`{"ID":"web-1","Name":"web","Tags":["a"],"Port":80,"Meta":{"k":"v"},"Check":{"HTTP":"http://127.0.0.1/","Interval":"10s","Header":{"A":["1","2"]}}}`))
	f.Add([]byte(`{"name":"db","checks":[{"tcp":"127.0.0.1:1","interval":"500ms","timeout":"9s"},{"ttl":"30s","status":"passing"}]}`))
	f.Add([]byte(`{"Name":"g","Check":{"GRPC":"127.0.0.1:9/s","GRPCUseTLS":true,"TLSSkipVerify":true,"DeregisterCriticalServiceAfter":"10s","SuccessBeforePassing":3,"FailuresBeforeCritical":2}}`))
	f.Add([]byte(`{"Name":"x","Weights":{"Passing":3,"Warning":1},"Check":{"Args":["/bin/true"],"Interval":1000000000}}`))
	f.Add([]byte(`{"Name":"x","name":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := decodeObject(b)
		if err != nil {
			return
		}
		s, err := parseConsulService(fl)
		if err != nil {
			return
		}
		if s.reg.Name == "" || s.reg.ID == "" || s.reg.Port < 0 || s.reg.Port > 65535 {
			t.Fatalf("accepted %+v", s.reg)
		}
		for _, raw := range s.reg.Checks {
			if _, err := probe.ParseCheck(raw); err != nil {
				t.Fatalf("accepted a check the prober refuses: %s: %v", raw, err)
			}
		}
	})
}

// FuzzConsulFilter: the ?filter= parser never panics, and what it accepts
// evaluates without panicking on an answer element.
func FuzzConsulFilter(f *testing.F) {
	for _, s := range []string{
		`Service.Tags contains "a"`, `"a" in Service.Tags and not (Service.Port == 1)`,
		`Service.Meta["k"] != "v" or Node.Meta.zone is not empty`, `((((x == 1))))`, `a ==`, "`raw` in X",
	} {
		f.Add(s)
	}
	elem := consulServiceEntry{Service: consulAgentService{Tags: []string{"a"}, Meta: map[string]string{"k": "v"}}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseConsulFilter(s)
		if err != nil {
			return
		}
		if flt.check(reflect.TypeOf(elem)) == nil {
			flt.match(elem)
		}
	})
}
