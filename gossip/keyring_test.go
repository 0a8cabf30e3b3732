package gossip_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// persisted records what OnKeyring saw per node.
type persisted struct {
	mu   sync.Mutex
	keys map[string][][]byte
}

func (p *persisted) hook(name string) func([][]byte) error {
	return func(keys [][]byte) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.keys[name] = keys
		return nil
	}
}

func (p *persisted) of(name string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[name]
}

// A full rotation through Keyring: install a new key everywhere, use it,
// remove the old one. Every step reaches all five nodes and says so; the
// cluster keeps its members; afterwards only the new key joins.
func TestKeyringRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		defer c.close()
		oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		saved := &persisted{keys: map[string][][]byte{}}
		var group []*tnode
		for range 5 {
			tn := c.add(func(cfg *gossip.Config) {
				cfg.SecretKeys = [][]byte{oldKey}
				cfg.OnKeyring = saved.hook(cfg.Name)
			})
			if len(group) > 0 {
				c.join(tn, group[0])
			}
			group = append(group, tn)
		}
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 5) })
		group[2].put("web", "v1")

		op := func(at *tnode, o gossip.KeyOp, key []byte) gossip.KeyringResponse {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := at.node.Keyring(ctx, o, key)
			if err != nil {
				t.Fatalf("%s %s: %v", at.name, o, err)
			}
			if r.Nodes != 5 || r.Responded != 5 || r.Applied() != 5 || len(r.Missing) != 0 {
				t.Fatalf("%s %s: %+v, want applied on 5/5", at.name, o, r)
			}
			return r
		}
		b64 := base64.StdEncoding.EncodeToString
		if r := op(group[1], gossip.KeyInstall, newKey); r.Keys[b64(newKey)] != 5 || r.PrimaryKeys[b64(oldKey)] != 5 {
			t.Errorf("after install: keys %v primary %v", r.Keys, r.PrimaryKeys)
		}
		// The primary cannot be removed; a key not installed cannot be used.
		if _, err := group[0].node.Keyring(context.Background(), gossip.KeyRemove, oldKey); !errors.Is(err, gossip.ErrRemovePrimary) {
			t.Errorf("remove primary = %v, want ErrRemovePrimary", err)
		}
		if _, err := group[0].node.Keyring(context.Background(), gossip.KeyUse, bytes.Repeat([]byte{3}, 32)); !errors.Is(err, gossip.ErrKeyNotInstalled) {
			t.Errorf("use unknown key = %v, want ErrKeyNotInstalled", err)
		}
		if r := op(group[3], gossip.KeyUse, newKey); r.PrimaryKeys[b64(newKey)] != 5 {
			t.Errorf("after use: primary %v", r.PrimaryKeys)
		}
		if r := op(group[4], gossip.KeyRemove, oldKey); r.Keys[b64(oldKey)] != 0 || r.Keys[b64(newKey)] != 5 {
			t.Errorf("after remove: keys %v", r.Keys)
		}
		r := op(group[0], gossip.KeyList, nil)
		if len(r.Keys) != 1 || r.PrimaryKeys[b64(newKey)] != 5 {
			t.Errorf("list: %+v", r)
		}
		for _, tn := range group {
			if got := saved.of(tn.name); len(got) != 1 || !bytes.Equal(got[0], newKey) {
				t.Errorf("%s persisted %d keys, want the new key alone", tn.name, len(got))
			}
			if got := tn.node.Keys(); len(got) != 1 || !bytes.Equal(got[0], newKey) {
				t.Errorf("%s holds %d keys", tn.name, len(got))
			}
		}
		group[2].put("web", "v2")
		waitFor(t, 30*time.Second, "convergence after rotation", func() bool { return members(group, 5) && converged(group) })

		// Only the new key gets in now.
		late := c.add(func(cfg *gossip.Config) { cfg.SecretKeys = [][]byte{newKey} })
		c.join(late, group[0])
		stale := c.add(func(cfg *gossip.Config) { cfg.SecretKeys = [][]byte{oldKey} })
		if n, err := stale.node.Join(context.Background(), []string{group[0].addr}); err == nil || n != 0 {
			t.Errorf("join with the removed key = %d, %v; want refused", n, err)
		}
		waitFor(t, 30*time.Second, "late joiner", func() bool { return members(append(group, late), 6) })
		if st := group[0].node.Stats(); st.Rejected["decrypt"] == 0 {
			t.Errorf("the removed key's attempts were not counted: %v", st.Rejected)
		}
	})
}

// A node without encryption has no keyring to change.
func TestKeyringNeedsEncryption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		defer c.close()
		tn := c.add(nil)
		if _, err := tn.node.Keyring(context.Background(), gossip.KeyList, nil); !errors.Is(err, gossip.ErrNotEncrypted) {
			t.Errorf("Keyring without encryption = %v, want ErrNotEncrypted", err)
		}
		if tn.node.Keys() != nil {
			t.Errorf("Keys() without encryption is not nil")
		}
	})
}
