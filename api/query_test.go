package api

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestQueryOptionsRoundTrip(t *testing.T) {
	tests := []QueryOptions{
		{Health: HealthPassing},
		{Tags: []string{"v2", "http"}, Meta: map[string]string{"b": "2", "a": "x:y"}, Zone: "eu-1", Health: HealthAny, Index: 42, Wait: 30 * time.Second},
		{Health: HealthMaintenance, Index: 1},
	}
	for _, want := range tests {
		got, err := ParseQueryOptions(want.Values())
		if err != nil {
			t.Fatalf("ParseQueryOptions(%v): %v", want.Values(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	}
	if got := (QueryOptions{Meta: map[string]string{"b": "2", "a": "1"}}).Values().Encode(); got != "meta=a%3A1&meta=b%3A2" {
		t.Errorf("Values not deterministic: %s", got)
	}
}

func TestParseQueryOptions(t *testing.T) {
	tests := []struct {
		query   string
		want    QueryOptions
		wantErr bool
	}{
		{"", QueryOptions{}, false},
		{"health=any", QueryOptions{Health: HealthAny}, false},
		{"wait=15", QueryOptions{Wait: 15 * time.Second}, false},
		{"wait=1h&index=3", QueryOptions{Index: 3, Wait: MaxWait}, false},
		{"meta=k:", QueryOptions{Meta: map[string]string{"k": ""}}, false},
		{"health=sick", QueryOptions{}, true},
		{"tags=x", QueryOptions{}, true},
		{"tag=", QueryOptions{}, true},
		{"meta=novalue", QueryOptions{}, true},
		{"meta=:v", QueryOptions{}, true},
		{"meta=k:1&meta=k:2", QueryOptions{}, true},
		{"index=-1", QueryOptions{}, true},
		{"index=x", QueryOptions{}, true},
		{"wait=-5s", QueryOptions{}, true},
		{"wait=soon", QueryOptions{}, true},
		{"zone=a&zone=b", QueryOptions{}, true},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQueryOptions(v)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tt.query, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err %v does not wrap ErrInvalid", tt.query, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

func TestQueryOptionsMatch(t *testing.T) {
	inst := Instance{Health: HealthWarning, Zone: "eu", Tags: []string{"a", "b"}, Meta: map[string]string{"v": "2"}}
	tests := []struct {
		opts QueryOptions
		want bool
	}{
		{QueryOptions{}, true}, // default: passing and warning
		{QueryOptions{Health: HealthPassing}, false},
		{QueryOptions{Health: HealthWarning}, true},
		{QueryOptions{Health: HealthAny, Tags: []string{"a", "b"}}, true},
		{QueryOptions{Health: HealthAny, Tags: []string{"a", "c"}}, false},
		{QueryOptions{Health: HealthAny, Zone: "us"}, false},
		{QueryOptions{Health: HealthAny, Meta: map[string]string{"v": "2"}}, true},
		{QueryOptions{Health: HealthAny, Meta: map[string]string{"v": "3"}}, false},
		{QueryOptions{Health: HealthAny, Meta: map[string]string{"w": ""}}, false},
	}
	for _, tt := range tests {
		if got := tt.opts.Match(inst); got != tt.want {
			t.Errorf("%+v.Match = %v, want %v", tt.opts, got, tt.want)
		}
	}
}

func TestEffectiveWait(t *testing.T) {
	tests := []struct {
		o    QueryOptions
		want time.Duration
	}{
		{QueryOptions{Wait: time.Second}, 0},
		{QueryOptions{Index: 1}, DefaultWait},
		{QueryOptions{Index: 1, Wait: time.Second}, time.Second},
		{QueryOptions{Index: 1, Wait: time.Hour}, MaxWait},
	}
	for _, tt := range tests {
		if got := tt.o.EffectiveWait(); got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.o, got, tt.want)
		}
	}
}
