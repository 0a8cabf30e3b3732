package agent

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzACLConfig feeds arbitrary YAML to the config loader and validates it:
// never a panic; an accepted ACL has valid policies, and its write tokens
// cover only what their patterns say.
func FuzzACLConfig(f *testing.F) {
	f.Add([]byte("acl:\n  enabled: true\n  default_policy: deny\n  tokens:\n    - {name: ops, secret: s3cr3t-s3cr3t-s3cr3t, policy: operator}\n"))
	f.Add([]byte("acl:\n  enabled: true\n  tokens:\n    - {name: web, secret: abcdefghijklmnop, policy: write, services: [web, \"api-*\"]}\n"))
	f.Add([]byte("acl: {enabled: true, default_policy: allow}\n"))
	f.Add([]byte("acl:\n  tokens:\n    - {name: x, secret_file: /nonexistent, policy: read}\n"))
	f.Add([]byte("acl:\n  tokens:\n    - {name: x, secret: a, policy: write, services: [\"*\"]}\n    - {name: x, secret: b, policy: read}\n"))
	f.Add([]byte("acl:\n  tokens:\n    - {name: y, secret: a, policy: write, services: [\"a*b\"]}\n"))
	f.Add([]byte("http_config: {allowed_hosts: [\"*\"], max_conns: 3, max_conns_per_client: 4}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := DefaultConfig()
		cfg.Node = "n"
		if err := cfg.load(b, "fuzz"); err != nil {
			return
		}
		if err := cfg.validateHTTPSecurity(); err != nil {
			return
		}
		a, _, err := newACL(cfg.ACL)
		if err != nil {
			return
		}
		for i, tok := range a.state.Load().tokens {
			tc := cfg.ACL.Tokens[i]
			if tok.name != tc.Name || tok.policy == PolicyNone {
				t.Fatalf("token %d loaded as %+v from %+v", i, tok, tc)
			}
			if tc.Secret != "" && a.lookup(tc.Secret) == nil {
				t.Fatalf("token %q not found by its secret", tc.Name)
			}
			for _, s := range []string{"", "web", "api-1", "zzz"} {
				want := tok.policy == PolicyOperator
				for _, p := range tc.Services {
					want = want || p == s || (strings.HasSuffix(p, "*") && strings.HasPrefix(s, strings.TrimSuffix(p, "*")))
				}
				if tok.policy == PolicyRead {
					want = false
				}
				if got := tok.covers(s); got != want {
					t.Fatalf("token %+v covers(%q) = %v, want %v", tc, s, got, want)
				}
			}
		}
	})
}

// FuzzTokenHeaders feeds arbitrary Authorization, X-Grapevine-Token and
// ?token= values to the token sources: never a panic, and a token found is
// non-empty, printable and bounded.
func FuzzTokenHeaders(f *testing.F) {
	f.Add("Bearer abc", "abc", "abc")
	f.Add("bearer  abc ", "", "")
	f.Add("Basic dXNlcjpwYXNz", "a b", "%00")
	f.Add("Bearer", "\x7f", "x&token=y")
	f.Add("Bearer a b", strings.Repeat("x", 5000), "")
	f.Fuzz(func(t *testing.T, authz, header, query string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{RawQuery: "token=" + query}}
		r.Header.Set("Authorization", authz)
		r.Header.Set(TokenHeader, header)
		for _, src := range []TokenSource{BearerToken, HeaderToken(TokenHeader), QueryToken("token")} {
			tok, ok, err := src(r)
			if err != nil && ok {
				t.Fatalf("both a token and an error: %q %v", tok, err)
			}
			if ok && checkPresented(tok) != nil {
				t.Fatalf("accepted %q", tok)
			}
		}
	})
}

func TestClientKey(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1:5":              "127.0.0.0/8",
		"127.3.2.1:5":              "127.0.0.0/8",
		"[::1]:5":                  "127.0.0.0/8",
		"10.0.0.1:5":               "10.0.0.1/32",
		"[2001:db8:1:2:3:4:5:6]:9": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:9":   "2001:db8:1:2::/64",
		"[::ffff:10.0.0.1]:7":      "10.0.0.1/32",
	}
	for in, want := range cases {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(a).String(); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}
