package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  from-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", maxTokenFile+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name   string
		cfg    ClientConfig
		token  string
		scheme string
		err    string
	}{
		{"token", ClientConfig{Address: "127.0.0.1:1", Token: "abc"}, "abc", "http", ""},
		{"token file", ClientConfig{Address: "127.0.0.1:1", TokenFile: tokenFile}, "from-file-0123456789", "http", ""},
		{"token with a space", ClientConfig{Address: "127.0.0.1:1", Token: "a b"}, "", "", "spaces"},
		{"token file too big", ClientConfig{Address: "127.0.0.1:1", TokenFile: big}, "", "", "larger"},
		{"missing CA, no scheme: https", ClientConfig{Address: "127.0.0.1:1", CAFile: missing}, "", "", "ca file"},
		{"missing CA, explicit http: ignored", ClientConfig{Address: "http://127.0.0.1:1", CAFile: missing}, "", "http", ""},
		{"cert without key", ClientConfig{Address: "https://127.0.0.1:1", ClientCert: missing}, "", "", "go together"},
	}
	for _, tc := range cases {
		c, err := NewClient(tc.cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.token != tc.token || c.base.Scheme != tc.scheme {
			t.Errorf("%s: token %q scheme %q, want %q %q", tc.name, c.token, c.base.Scheme, tc.token, tc.scheme)
		}
	}
	t.Setenv(TokenEnv, "env-token")
	if c, err := NewClient(ClientConfig{Address: "127.0.0.1:1"}); err != nil || c.token != "env-token" {
		t.Errorf("token from %s: %v %q", TokenEnv, err, c.token)
	}
	t.Setenv(TokenFileEnv, tokenFile)
	if c, err := NewClient(ClientConfig{Address: "127.0.0.1:1"}); err != nil || c.token != "from-file-0123456789" {
		t.Errorf("token file from %s wins over %s: %v", TokenFileEnv, TokenEnv, err)
	}
}
