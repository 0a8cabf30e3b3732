package agent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/internal/atomicfile"
	"github.com/grapevine-sd/grapevine/internal/safefile"
)

// Gossip keyring files.
//
// A keyring file holds base64 AES keys (16, 24 or 32 bytes each), one per
// line; the first is the primary (used to encrypt), the others are accepted
// for decryption (rotation). Blank lines and lines starting with '#' are
// ignored. `grapevine keygen > FILE` writes a valid one-key file.
//
// The agent seeds its keyring from encrypt_file (or encrypt/encrypt_keys) and
// keeps it in data_dir/keyringFile (mode 0600), rewritten on every live
// change (grapevine keyring), so a restart keeps rotated keys. When that file
// exists it wins over the configuration.

// ErrNoGossipKey is returned by New when no gossip key is configured and
// insecure gossip was not asked for.
var ErrNoGossipKey = errors.New(`agent: no gossip encryption key. Without one, anyone who can reach the gossip port can plant or replace records on every agent.
  Make a key once:          grapevine keygen > /etc/grapevine/gossip.key && chmod 600 /etc/grapevine/gossip.key
  copy the same file to every agent, and start each with
                            grapevine agent -encrypt-file /etc/grapevine/gossip.key   (config file: encrypt_file: /etc/grapevine/gossip.key)
  To run without authentication on purpose (a lab, a test): -insecure-gossip (config: insecure_gossip: true); -dev runs a local single agent`)

// ErrKeyring wraps every problem with a keyring file or key.
var ErrKeyring = errors.New("agent: keyring")

const (
	// keyringFile is the agent's keyring in data_dir.
	keyringFile = "gossip-keyring"
	// maxKeyringFile bounds a keyring file (a key line is at most 45 bytes).
	maxKeyringFile = 64 << 10
	// MaxKeys bounds the keys of one keyring: every incoming message is tried
	// against each, so a long ring costs CPU per packet.
	MaxKeys = 16
)

// ParseKeyring parses a keyring file: base64 keys one per line, the first the
// primary, blank lines and '#' comments ignored. It rejects an empty ring, a
// bad key (naming its line), a duplicate and more than MaxKeys keys.
func ParseKeyring(b []byte) ([][]byte, error) {
	if len(b) > maxKeyringFile {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrKeyring, len(b), maxKeyringFile)
	}
	var keys [][]byte
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := DecodeKey(string(line))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrKeyring, i+1, err)
		}
		for _, o := range keys {
			if bytes.Equal(o, k) {
				return nil, fmt.Errorf("%w: line %d: key listed twice", ErrKeyring, i+1)
			}
		}
		if len(keys) == MaxKeys {
			return nil, fmt.Errorf("%w: more than %d keys", ErrKeyring, MaxKeys)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key in the file", ErrKeyring)
	}
	return keys, nil
}

// FormatKeyring is the file form of keys (primary first), which ParseKeyring
// reads back.
func FormatKeyring(keys [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# grapevine gossip keyring: base64 keys, the first is the primary\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// DecodeKey decodes one base64 gossip key of 16, 24 or 32 bytes.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %w", err)
	}
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 16, 24 or 32", n)
	}
	return k, nil
}

// ReadKeyringFile reads and parses a keyring file, bounded in size. A file
// others can read is accepted (the key is shared by design) but reported in
// the returned warning.
func ReadKeyringFile(path string) (keys [][]byte, warning string, err error) {
	b, err := safefile.Read(path, maxKeyringFile)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	keys, err = ParseKeyring(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("keyring file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return keys, warning, nil
}

// writeKeyringFile writes keys to path atomically with mode 0600.
func writeKeyringFile(path string, keys [][]byte) error {
	if err := atomicfile.Write(path, FormatKeyring(keys), 0o600); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	return nil
}

// configKeys are the keys the configuration names: encrypt_file's, or
// encrypt then encrypt_keys. nil when none is configured.
func (c *Config) configKeys() (keys [][]byte, warning string, err error) {
	if c.EncryptFile != "" {
		return ReadKeyringFile(c.EncryptFile)
	}
	keys, err = c.Keys()
	return keys, "", err
}

// gossipKeys resolves the keyring the agent starts with: data_dir's keyring
// file when it exists (it holds live rotations), else the configured keys,
// which then seed it (seed: the caller writes them once the data directory
// exists). No key at all is ErrNoGossipKey unless insecure gossip is allowed
// (insecure_gossip or dev). It reads only, so a refusal changes nothing on
// disk, and logs what it decided.
func (a *Agent) gossipKeys() (keys [][]byte, seed bool, err error) {
	cfgKeys, warn, err := a.cfg.configKeys()
	if err != nil {
		return nil, false, err
	}
	if warn != "" {
		a.log.Warn().Msg(warn)
	}
	keys = cfgKeys
	if a.cfg.DataDir != "" {
		path := filepath.Join(a.cfg.DataDir, keyringFile)
		stored, _, err := ReadKeyringFile(path)
		switch {
		case err == nil:
			if len(cfgKeys) > 0 && !bytes.Equal(cfgKeys[0], stored[0]) {
				a.log.Warn().Str("file", path).Msg("the keyring in data_dir (kept across live rotations) overrides the configured key; update encrypt_file to match it, or remove the data_dir keyring to start from the configured one")
			}
			keys = stored
		case errors.Is(err, fs.ErrNotExist):
			seed = len(keys) > 0
		default:
			return nil, false, err
		}
	}
	if len(keys) > 0 && a.cfg.InsecureGossip {
		a.log.Warn().Msg("insecure_gossip ignored: a gossip key is configured, gossip is encrypted")
	}
	if len(keys) == 0 {
		if !a.cfg.InsecureGossip && !a.cfg.Dev {
			return nil, false, ErrNoGossipKey
		}
		a.log.Warn().Msg("gossip is NOT encrypted or authenticated (insecure_gossip or -dev): anyone who can reach the gossip port can join, read every record and plant or replace records; set encrypt_file (grapevine keygen)")
		return nil, false, nil
	}
	return keys, seed, nil
}

// saveKeyring persists the live keyring in data_dir (without one it warns:
// a restart returns to the configured keys).
func (a *Agent) saveKeyring(keys [][]byte) error {
	if a.cfg.DataDir == "" {
		a.log.Warn().Msg("keyring changed but not persisted: no data_dir, a restart returns to the configured keys")
		return nil
	}
	return writeKeyringFile(filepath.Join(a.cfg.DataDir, keyringFile), keys)
}

// gossipSecurity describes the gossip protection for /v1/agent/self.
func (a *Agent) gossipSecurity() api.GossipSecurity {
	g := api.GossipSecurity{Label: a.cfg.Gossip.Label}
	if node := a.Node(); node != nil {
		g.Keys = len(node.Keys())
	} else {
		g.Keys = len(a.keys)
	}
	g.Encrypted = g.Keys > 0
	g.Insecure = !g.Encrypted
	return g
}

// GossipLimits bound what one peer can make an agent do; see gossip.Config.
// 0 disables a limit.
type GossipLimits struct {
	// SenderRecordRate is the records per second merged from one sender
	// (bursts of SenderRecordBurst); more are rejected as rate_limited and
	// left to anti-entropy.
	SenderRecordRate  float64 `yaml:"sender_record_rate"`
	SenderRecordBurst int     `yaml:"sender_record_burst"`
	// ReplyRate is the anti-entropy answers per second sent to one peer, and
	// ReplyBytesRate their bytes per second: a forged digest cannot make the
	// agent reflect more than this at any peer.
	ReplyRate      float64 `yaml:"reply_rate"`
	ReplyBytesRate float64 `yaml:"reply_bytes_rate"`
}

func defaultGossipLimits() GossipLimits {
	g := gossip.DefaultConfig()
	return GossipLimits{SenderRecordRate: g.SenderRecordRate, SenderRecordBurst: g.SenderRecordBurst,
		ReplyRate: g.ReplyRate, ReplyBytesRate: g.ReplyBytesRate}
}

func (l GossipLimits) validate() error {
	switch {
	case l.SenderRecordRate < 0 || l.ReplyRate < 0 || l.ReplyBytesRate < 0:
		return errors.New("gossip.limits: rates must be >= 0 (0 disables)")
	case l.SenderRecordRate > 0 && l.SenderRecordBurst < 1:
		return errors.New("gossip.limits.sender_record_burst must be >= 1 with a sender_record_rate")
	}
	return nil
}

// integrityConfig sets the gossip node's rejection mapping, keyring
// persistence and rate limits.
func (a *Agent) integrityConfig(gc *gossip.Config) {
	gc.MergeReason = mergeReason
	gc.OnKeyring = a.saveKeyring
	l := a.cfg.Gossip.Limits
	gc.SenderRecordRate, gc.SenderRecordBurst = l.SenderRecordRate, l.SenderRecordBurst
	gc.ReplyRate, gc.ReplyBytesRate = l.ReplyRate, l.ReplyBytesRate
}

// mergeReason maps the catalog's merge rejections onto gossip's reasons.
func mergeReason(err error) gossip.Reason {
	switch {
	case errors.Is(err, catalog.ErrUnknownOrigin):
		return gossip.ReasonUnknownOrigin
	case errors.Is(err, catalog.ErrBadEpoch):
		return gossip.ReasonBadEpoch
	case errors.Is(err, catalog.ErrOverQuota):
		return gossip.ReasonOverQuota
	case errors.Is(err, catalog.ErrTooLarge):
		return gossip.ReasonTooLarge
	}
	return 0
}
