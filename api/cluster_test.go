package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeJoinRequest(t *testing.T) {
	tests := []struct {
		name, body string
		err        error
	}{
		{"one", `{"addresses":["10.0.0.1:7946"]}`, nil},
		{"ipv6", `{"addresses":["[fd00::1]:7946","10.0.0.2:7946"]}`, nil},
		{"none", `{"addresses":[]}`, ErrInvalid},
		{"missing", `{}`, ErrInvalid},
		{"empty address", `{"addresses":[""]}`, ErrInvalid},
		{"long address", `{"addresses":["` + strings.Repeat("a", 257) + `"]}`, ErrInvalid},
		{"too many", `{"addresses":[` + strings.Repeat(`"a:1",`, 16) + `"a:1"]}`, ErrInvalid},
		{"unknown field", `{"addresses":["a:1"],"wan":true}`, ErrInvalid},
		{"not json", `addresses`, ErrInvalid},
		{"too large", `{"addresses":["` + strings.Repeat("a", MaxRequestBytes) + `"]}`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodeJoinRequest(strings.NewReader(tt.body))
			if tt.err == nil && (err != nil || len(j.Addresses) == 0) {
				t.Fatalf("got %+v, %v", j, err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("got %+v, %v; want %v", j, err, tt.err)
			}
		})
	}
}

// FuzzDecodeJoinRequest: any body decodes to a valid request or fails cleanly.
func FuzzDecodeJoinRequest(f *testing.F) {
	f.Add([]byte(`{"addresses":["10.0.0.1:7946"]}`))
	f.Add([]byte(`{"addresses":[]}`))
	f.Add([]byte(`{"addresses":["a:1"]}{"addresses":["b:1"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeJoinRequest(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if len(j.Addresses) == 0 || len(j.Addresses) > maxJoinAddresses {
			t.Fatalf("accepted %d addresses", len(j.Addresses))
		}
		for _, a := range j.Addresses {
			if a == "" || len(a) > 256 {
				t.Fatalf("accepted address %q", a)
			}
		}
	})
}
