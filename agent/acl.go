package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/grapevine-sd/grapevine/internal/safefile"
)

// Policy is what an HTTP route requires of the request's token, and what a
// token grants. The levels are ordered: operator ⊃ write ⊃ read.
type Policy uint8

// Policies.
const (
	// PolicyNone is the zero Policy: no access at all.
	PolicyNone Policy = iota
	// PolicyRead reads the catalog, the members, the agent's state, metrics.
	PolicyRead
	// PolicyWrite registers, changes and deregisters instances (and updates
	// their checks) of the services the token names.
	PolicyWrite
	// PolicyOperator does everything: any service, and the agent's own
	// operations (keyring, join, force-leave).
	PolicyOperator
)

func (p Policy) String() string {
	switch p {
	case PolicyRead:
		return "read"
	case PolicyWrite:
		return "write"
	case PolicyOperator:
		return "operator"
	}
	return "none"
}

// ParsePolicy parses "read", "write" or "operator".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "read":
		return PolicyRead, nil
	case "write":
		return PolicyWrite, nil
	case "operator":
		return PolicyOperator, nil
	}
	return PolicyNone, fmt.Errorf("policy %q: want read, write or operator", s)
}

// ACLConfig turns on tokens for the HTTP API (docs/http.md, "Tokens").
type ACLConfig struct {
	// Enabled makes every request present a token (see DefaultPolicy).
	// Default false: then the API must stay on a loopback address (or use
	// TLS), see Config.InsecureHTTP.
	Enabled bool `yaml:"enabled"`
	// DefaultPolicy is what a request without a token may do: "deny"
	// (default: nothing, 401) or "allow" (read only; never writes).
	DefaultPolicy string `yaml:"default_policy"`
	// Tokens are the accepted tokens.
	Tokens []TokenConfig `yaml:"tokens"`
}

// TokenConfig is one token.
type TokenConfig struct {
	// Name identifies the token in the audit log; never the secret.
	Name string `yaml:"name"`
	// Secret is the token's value (at least 16 bytes recommended; `grapevine
	// keygen` prints a good one). Exactly one of Secret and SecretFile.
	Secret string `yaml:"secret"`
	// SecretFile holds the secret (surrounding white space trimmed); re-read
	// on SIGHUP, so a token rotates without a restart.
	SecretFile string `yaml:"secret_file"`
	// Policy is read, write or operator.
	Policy string `yaml:"policy"`
	// Services (write tokens only, required) are the service names the token
	// may register, change and deregister: exact names, or prefixes ending in
	// "*" ("api-*"); "*" alone is every service.
	Services []string `yaml:"services"`
}

// Limits of the ACL configuration.
const (
	maxTokens       = 1024
	maxTokenSecret  = 4096 // bytes
	maxTokenName    = 128
	maxTokenService = 256 // patterns per token
	weakSecretLen   = 16  // a shorter secret is accepted with a warning
)

// validate checks the config's shape (not the secret files, read by load).
func (c ACLConfig) validate() error {
	switch c.DefaultPolicy {
	case "", "allow", "deny":
	default:
		return fmt.Errorf("acl.default_policy %q: want allow or deny", c.DefaultPolicy)
	}
	if len(c.Tokens) > maxTokens {
		return fmt.Errorf("acl.tokens: %d tokens, limit %d", len(c.Tokens), maxTokens)
	}
	if c.Enabled && len(c.Tokens) == 0 && c.DefaultPolicy != "allow" {
		return errors.New("acl: enabled with no tokens and default_policy deny: nothing could use the API")
	}
	names := map[string]bool{}
	for i, t := range c.Tokens {
		where := fmt.Sprintf("acl.tokens[%d]", i)
		if t.Name == "" || len(t.Name) > maxTokenName || !printable(t.Name) {
			return fmt.Errorf("%s: name must be 1..%d printable bytes without spaces", where, maxTokenName)
		}
		where = fmt.Sprintf("acl token %q", t.Name)
		if names[t.Name] {
			return fmt.Errorf("%s: name used twice", where)
		}
		names[t.Name] = true
		switch {
		case t.Secret != "" && t.SecretFile != "":
			return fmt.Errorf("%s: give secret or secret_file, not both", where)
		case t.Secret == "" && t.SecretFile == "":
			return fmt.Errorf("%s: secret or secret_file is required", where)
		}
		if t.Secret != "" {
			if err := checkSecret(t.Secret); err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
		}
		p, err := ParsePolicy(t.Policy)
		if err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		if p != PolicyWrite && len(t.Services) > 0 {
			return fmt.Errorf("%s: services apply only to write tokens (%s covers every service)", where, p)
		}
		if p == PolicyWrite && len(t.Services) == 0 {
			return fmt.Errorf("%s: a write token needs services (\"*\" for every service)", where)
		}
		if len(t.Services) > maxTokenService {
			return fmt.Errorf("%s: %d services, limit %d", where, len(t.Services), maxTokenService)
		}
		for _, s := range t.Services {
			if err := checkServicePattern(s); err != nil {
				return fmt.Errorf("%s: services: %v", where, err)
			}
		}
	}
	return nil
}

func checkSecret(s string) error {
	switch {
	case len(s) > maxTokenSecret:
		return fmt.Errorf("secret longer than %d bytes", maxTokenSecret)
	case !printable(s):
		return errors.New("secret has spaces or unprintable characters")
	}
	return nil
}

// checkServicePattern accepts a service name, a prefix ending in "*", or "*".
func checkServicePattern(s string) error {
	name := strings.TrimSuffix(s, "*")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: '*' only at the end", s)
	}
	if len(s) > 256 || (name == "" && s != "*") || !printable(s) {
		return fmt.Errorf("%q: want a service name, a prefix ending in '*', or '*'", s)
	}
	return nil
}

// token is a loaded token. The secret is kept only as its SHA-256, so
// comparisons take the same time whatever its length and no secret is ever
// in a log or a panic message.
type token struct {
	name     string
	policy   Policy
	services []string // patterns, write tokens only
	hash     [sha256.Size]byte
}

// covers reports whether t may write service.
func (t *token) covers(service string) bool {
	if t.policy == PolicyOperator {
		return true
	}
	if t.policy != PolicyWrite {
		return false
	}
	for _, p := range t.services {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(service, prefix) {
				return true
			}
		} else if p == service {
			return true
		}
	}
	return false
}

// acl holds the loaded tokens and the anonymous policy; both are swapped
// whole on reload (SIGHUP re-reads the config file's acl section and the
// secret files) and read without a lock. Enabled is fixed at start: turning
// the ACL on or off takes a restart (the listeners' safety checks depend on it).
type acl struct {
	enabled bool
	state   atomic.Pointer[aclState]
}

type aclState struct {
	anon   Policy // what a request without a token gets
	tokens []*token
}

// newACL loads c (validated) and reads the secret files. Secrets shorter than
// weakSecretLen come back as warnings.
func newACL(c ACLConfig) (*acl, []string, error) {
	a := &acl{enabled: c.Enabled}
	warns, err := a.load(c)
	return a, warns, err
}

// anonymous is what a request without a token may do.
func (a *acl) anonymous() Policy { return a.state.Load().anon }

// load (re)reads the tokens and the default policy; on error nothing changes.
func (a *acl) load(c ACLConfig) ([]string, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.Enabled != a.enabled {
		return nil, fmt.Errorf("acl.enabled %v: the agent runs with %v; turning the ACL on or off takes a restart", c.Enabled, a.enabled)
	}
	next := &aclState{anon: PolicyNone}
	if c.DefaultPolicy == "allow" {
		next.anon = PolicyRead
	}
	var warns []string
	toks := make([]*token, 0, len(c.Tokens))
	seen := map[[sha256.Size]byte]string{}
	for _, tc := range c.Tokens {
		secret := tc.Secret
		if tc.SecretFile != "" {
			b, err := safefile.Read(tc.SecretFile, maxTokenSecret+64)
			if err != nil {
				return nil, fmt.Errorf("acl token %q: secret_file: %w", tc.Name, err)
			}
			if fi, err := os.Stat(tc.SecretFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
				warns = append(warns, fmt.Sprintf("acl token %q: secret_file %s is readable by other users (mode %v): chmod 600 it", tc.Name, tc.SecretFile, fi.Mode().Perm()))
			}
			secret = strings.TrimSpace(string(b))
			if secret == "" {
				return nil, fmt.Errorf("acl token %q: secret_file %s is empty", tc.Name, tc.SecretFile)
			}
			if err := checkSecret(secret); err != nil {
				return nil, fmt.Errorf("acl token %q: secret_file %s: %v", tc.Name, tc.SecretFile, err)
			}
		}
		if len(secret) < weakSecretLen {
			warns = append(warns, fmt.Sprintf("acl token %q: secret shorter than %d bytes is easy to guess (use grapevine keygen)", tc.Name, weakSecretLen))
		}
		p, _ := ParsePolicy(tc.Policy)
		t := &token{name: tc.Name, policy: p, services: append([]string(nil), tc.Services...), hash: sha256.Sum256([]byte(secret))}
		if other, dup := seen[t.hash]; dup {
			return nil, fmt.Errorf("acl tokens %q and %q have the same secret", other, tc.Name)
		}
		seen[t.hash] = tc.Name
		toks = append(toks, t)
	}
	next.tokens = toks
	a.state.Store(next)
	return warns, nil
}

// lookup finds the token whose secret is secret. Every token is compared, in
// constant time, so the answer's timing tells nothing about which matched.
func (a *acl) lookup(secret string) *token {
	h := sha256.Sum256([]byte(secret))
	var found *token
	for _, t := range a.state.Load().tokens {
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found = t
		}
	}
	return found
}
