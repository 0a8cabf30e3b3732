package agent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/rs/zerolog"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestParseKeyring(t *testing.T) {
	k1, k2 := b64(testKey(1)), b64(testKey(2))
	k16 := b64(bytes.Repeat([]byte{3}, 16))
	tests := []struct {
		name    string
		in      string
		want    int    // keys
		wantErr string // substring; "" = ok
	}{
		{"one key", k1 + "\n", 1, ""},
		{"no newline", k1, 1, ""},
		{"comments and blanks", "# ring\n\n  " + k1 + "  \r\n# old\n" + k2 + "\n", 2, ""},
		{"16-byte key", k16, 1, ""},
		{"empty", "", 0, "no key"},
		{"only comments", "# nothing\n", 0, "no key"},
		{"not base64", k1 + "\n!!!\n", 0, "line 2"},
		{"short key", "AAAA\n", 0, "3 bytes"},
		{"duplicate", k1 + "\n" + k1 + "\n", 0, "twice"},
		{"too many", manyKeys(MaxKeys + 1), 0, "more than"},
		{"huge", strings.Repeat("#", maxKeyringFile+1), 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeyring([]byte(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyring = %v, want ErrKeyring mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(keys) != tt.want {
				t.Fatalf("ParseKeyring = %d keys, %v; want %d", len(keys), err, tt.want)
			}
			back, err := ParseKeyring(FormatKeyring(keys))
			if err != nil || len(back) != len(keys) || !bytes.Equal(back[0], keys[0]) {
				t.Errorf("FormatKeyring does not round-trip: %v", err)
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(b64(testKey(byte(i + 1))))
		b.WriteByte('\n')
	}
	return b.String()
}

func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte(b64(testKey(1)) + "\n"))
	f.Add([]byte("# c\n" + b64(testKey(1)) + "\n" + b64(testKey(2)) + "\r\n"))
	f.Add([]byte("AAAA\n"))
	f.Add([]byte{0xff, '\n', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseKeyring(b)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > MaxKeys {
			t.Fatalf("%d keys accepted", len(keys))
		}
		back, err := ParseKeyring(FormatKeyring(keys))
		if err != nil || len(back) != len(keys) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range keys {
			if !bytes.Equal(back[i], keys[i]) {
				t.Fatalf("key %d changed in the round trip", i)
			}
		}
	})
}

// keylessConfig is a loopback agent config without a key.
func keylessConfig(t *testing.T, log *strings.Builder) Config {
	c := DefaultConfig()
	c.Node, c.Bind, c.HTTP, c.DNS.Addr = "n1", "127.0.0.1:0", "", ""
	c.DataDir = t.TempDir()
	c.Logger = zerolog.New(log)
	return c
}

// Without a key the agent refuses to start and says how to make one; with
// insecure_gossip or -dev it starts, warns and shows it in Self.
func TestNewRequiresGossipKey(t *testing.T) {
	var log strings.Builder
	c := keylessConfig(t, &log)
	_, err := New(c)
	if !errors.Is(err, ErrNoGossipKey) {
		t.Fatalf("New without a key = %v, want ErrNoGossipKey", err)
	}
	for _, want := range []string{"grapevine keygen", "-encrypt-file", "encrypt_file", "-insecure-gossip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, mode := range []string{"insecure", "dev"} {
		t.Run(mode, func(t *testing.T) {
			var log strings.Builder
			c := keylessConfig(t, &log)
			c.InsecureGossip, c.Dev = mode == "insecure", mode == "dev"
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "gossip is NOT encrypted") || !strings.Contains(log.String(), `"level":"warn"`) {
				t.Errorf("no warning about insecure gossip:\n%s", log.String())
			}
			if g := a.Self().Gossip; !g.Insecure || g.Encrypted || g.Keys != 0 {
				t.Errorf("Self().Gossip = %+v, want insecure", g)
			}
		})
	}
}

// encrypt_file seeds the data_dir keyring (0600); on the next start the
// data_dir keyring wins over a changed file, with a warning.
func TestKeyringFileSeedsDataDir(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(b64(testKey(1))+"\n"+b64(testKey(2))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	c := keylessConfig(t, &log)
	c.EncryptFile = keyFile
	c.Gossip.Label = "prod"
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if g := a.Self().Gossip; !g.Encrypted || g.Insecure || g.Keys != 2 || g.Label != "prod" {
		t.Errorf("Self().Gossip = %+v, want encrypted with 2 keys, label prod", g)
	}
	a.Close()
	stored := filepath.Join(c.DataDir, keyringFile)
	fi, err := os.Stat(stored)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("data_dir keyring mode %v, want 0600", fi.Mode().Perm())
	}
	keys, _, err := ReadKeyringFile(stored)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], testKey(1)) {
		t.Fatalf("stored keyring %d keys, %v", len(keys), err)
	}

	// A changed file does not override what the agent keeps.
	if err := os.WriteFile(keyFile, []byte(b64(testKey(9))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	b, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(b.keys) != 2 || !bytes.Equal(b.keys[0], testKey(1)) {
		t.Errorf("restart uses %d keys, primary %x; want the stored ring", len(b.keys), b.keys[0][:1])
	}
	for _, want := range []string{"overrides the configured key", "readable by others"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestKeyConfigRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"file and inline", func(c *Config) { c.EncryptFile, c.Encrypt = "/x", b64(testKey(1)) }, "exclusive"},
		{"bad cidr", func(c *Config) { c.Gossip.AllowedCIDRs = []string{"10.0.0.0"} }, "allowed_cidrs"},
		{"long label", func(c *Config) { c.Gossip.Label = strings.Repeat("l", 256) }, "label"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.Node = "n1"
		tt.mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want ErrConfig mentioning %q", tt.name, err, tt.want)
		}
	}
	var log strings.Builder
	c := keylessConfig(t, &log)
	c.EncryptFile = filepath.Join(t.TempDir(), "missing.key")
	if _, err := New(c); !errors.Is(err, ErrKeyring) {
		t.Errorf("New with a missing key file = %v, want ErrKeyring", err)
	}
}

// The catalog's merge rejections map onto gossip's reasons; others are left
// to gossip's default.
func TestMergeReason(t *testing.T) {
	tests := []struct {
		err  error
		want gossip.Reason
	}{
		{fmt.Errorf("merge: %w", catalog.ErrUnknownOrigin), gossip.ReasonUnknownOrigin},
		{fmt.Errorf("merge: %w", catalog.ErrBadEpoch), gossip.ReasonBadEpoch},
		{fmt.Errorf("merge: %w", catalog.ErrOverQuota), gossip.ReasonOverQuota},
		{fmt.Errorf("merge: %w", catalog.ErrTooLarge), gossip.ReasonTooLarge},
		{errors.New("other"), 0},
	}
	for _, tt := range tests {
		if got := mergeReason(tt.err); got != tt.want {
			t.Errorf("mergeReason(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// A refusal for want of a key leaves the data directory untouched.
func TestNoKeyChangesNothingOnDisk(t *testing.T) {
	var log strings.Builder
	c := keylessConfig(t, &log)
	c.DataDir = filepath.Join(t.TempDir(), "data")
	if _, err := New(c); !errors.Is(err, ErrNoGossipKey) {
		t.Fatalf("New = %v, want ErrNoGossipKey", err)
	}
	if _, err := os.Stat(c.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir after a refusal: %v, want it not created", err)
	}
}
