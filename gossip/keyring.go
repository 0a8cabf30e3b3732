package gossip

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Live keyring changes.
//
// An operator's change (Keyring) is applied on the local node, then sent as a
// msgKeyring to every live member over the reliable channel. Each member
// applies it, persists its keyring (Config.OnKeyring) and answers with a
// msgKeyringAck carrying the request id, its error if any and its keys; the
// originator counts the answers until every member asked has answered or ctx
// ends. The request is authenticated by riding the encrypted gossip: a node
// without a current key cannot send one that decrypts, and a node without
// encryption refuses keyring messages altogether.

// Errors of Keyring.
var (
	// ErrNotEncrypted: the node runs without a keyring (insecure gossip);
	// encryption cannot be turned on live.
	ErrNotEncrypted = errors.New("gossip: gossip is not encrypted (no keyring); start agents with a key to use the keyring")
	// ErrRemovePrimary: the key to remove is the primary one.
	ErrRemovePrimary = errors.New("gossip: refusing to remove the primary key: make another key primary first (keyring use)")
	// ErrKeyNotInstalled: the key to use is not installed.
	ErrKeyNotInstalled = errors.New("gossip: key is not installed: install it first (keyring install)")
	// ErrKeyringFull: installing would exceed MaxKeys.
	ErrKeyringFull = errors.New("gossip: keyring is full")
	// ErrBusy: too many keyring requests are in flight.
	ErrBusy = errors.New("gossip: too many keyring requests in flight")
)

// KeyOp is a keyring operation.
type KeyOp uint8

// Keyring operations.
const (
	KeyList    KeyOp = iota + 1 // report the keys
	KeyInstall                  // add a key (decrypts; not used to encrypt)
	KeyUse                      // make an installed key the primary (encrypts)
	KeyRemove                   // drop a key that is not the primary
	keyOpLimit
)

func (o KeyOp) String() string {
	switch o {
	case KeyList:
		return "list"
	case KeyInstall:
		return "install"
	case KeyUse:
		return "use"
	case KeyRemove:
		return "remove"
	}
	return fmt.Sprintf("keyop(%d)", uint8(o))
}

const (
	// MaxKeys bounds a keyring: every incoming message may be tried against
	// each key.
	MaxKeys = 16
	// maxPendingKeyring bounds the keyring requests in flight from one node.
	maxPendingKeyring = 16
	// maxKeyringError bounds the error text of an answer.
	maxKeyringError = 512
	// keyringTimeout is how long Keyring waits for answers when ctx has no
	// deadline.
	keyringTimeout = 10 * time.Second
)

// KeyringResponse is the outcome of a keyring operation across the cluster.
type KeyringResponse struct {
	Op KeyOp
	// Nodes is how many nodes were asked (the live members, this one
	// included); Responded how many answered before the deadline.
	Nodes, Responded int
	// Errors maps each node that answered with an error to it.
	Errors map[string]string
	// Missing lists the nodes that did not answer.
	Missing []string
	// Keys counts, per base64 key, the answering nodes that hold it;
	// PrimaryKeys the nodes that use it as primary.
	Keys, PrimaryKeys map[string]int
}

// Applied is how many nodes answered without an error.
func (r KeyringResponse) Applied() int { return r.Responded - len(r.Errors) }

// keyringMsg is a decoded msgKeyring.
type keyringMsg struct {
	From string
	ID   string
	Op   KeyOp
	Key  []byte // nil for KeyList
}

// keyringAckMsg is a decoded msgKeyringAck.
type keyringAckMsg struct {
	From  string
	ID    string
	Error string
	Keys  [][]byte // primary first; none when Error is set
}

// pendingKeyring collects the answers to one request.
type pendingKeyring struct {
	mu      sync.Mutex // guards acks
	acks    map[string]keyringAckMsg
	want    map[string]bool // nodes asked
	changed chan struct{}   // capacity 1: an answer arrived
}

// Keys returns a copy of the node's gossip keys, primary first; nil when
// gossip is not encrypted.
func (n *Node) Keys() [][]byte {
	kr := n.keyring
	if kr == nil {
		return nil
	}
	primary := kr.GetPrimaryKey()
	out := [][]byte{bytes.Clone(primary)}
	for _, k := range kr.GetKeys() {
		if !bytes.Equal(k, primary) {
			out = append(out, bytes.Clone(k))
		}
	}
	return out
}

// Keyring applies op (with key, nil for KeyList) on this node and every live
// member, and waits for their answers until all have answered or ctx ends;
// what did not answer by then is in Missing. A change this node refuses (the
// primary key to remove, a key not installed to use, no encryption) is an
// error and is not sent. Each changed node persists its keyring through
// Config.OnKeyring.
func (n *Node) Keyring(ctx context.Context, op KeyOp, key []byte) (KeyringResponse, error) {
	if n.closed.Load() {
		return KeyringResponse{}, ErrClosed
	}
	if n.keyring == nil {
		return KeyringResponse{}, ErrNotEncrypted
	}
	if op < KeyList || op >= keyOpLimit {
		return KeyringResponse{}, fmt.Errorf("gossip: keyring: unknown operation %d", op)
	}
	if op != KeyList {
		if err := memberlist.ValidateKey(key); err != nil {
			return KeyringResponse{}, fmt.Errorf("gossip: keyring %s: %w", op, err)
		}
	}
	self, err := n.applyKeyring(op, key)
	if err != nil {
		return KeyringResponse{}, err
	}

	id := make([]byte, 16)
	_, _ = rand.Read(id)
	m := keyringMsg{From: n.cfg.Name, ID: hex.EncodeToString(id), Op: op, Key: key}
	msg, err := encodeKeyring(m)
	if err != nil {
		return KeyringResponse{}, err
	}
	p := &pendingKeyring{acks: map[string]keyringAckMsg{n.cfg.Name: self}, want: map[string]bool{n.cfg.Name: true}, changed: make(chan struct{}, 1)}
	peers := n.peers(math.MaxInt)
	for _, nd := range peers {
		p.want[nd.Name] = true
	}
	n.mu.Lock()
	if len(n.keyringReqs) >= maxPendingKeyring {
		n.mu.Unlock()
		return KeyringResponse{}, ErrBusy
	}
	n.keyringReqs[m.ID] = p
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.keyringReqs, m.ID)
		n.mu.Unlock()
	}()
	for _, nd := range peers {
		n.sendReliable(nd.Name, msgKeyring, msg)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, keyringTimeout)
		defer cancel()
	}
	for !p.complete() {
		select {
		case <-ctx.Done():
			return p.response(op), nil
		case <-n.done:
			return p.response(op), nil
		case <-p.changed:
		}
	}
	return p.response(op), nil
}

func (p *pendingKeyring) complete() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks) == len(p.want)
}

// response summarizes the answers so far.
func (p *pendingKeyring) response(op KeyOp) KeyringResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := KeyringResponse{Op: op, Nodes: len(p.want), Responded: len(p.acks),
		Errors: map[string]string{}, Keys: map[string]int{}, PrimaryKeys: map[string]int{}}
	for name := range p.want {
		a, ok := p.acks[name]
		switch {
		case !ok:
			r.Missing = append(r.Missing, name)
		case a.Error != "":
			r.Errors[name] = a.Error
		}
		if ok {
			for i, k := range a.Keys {
				s := base64.StdEncoding.EncodeToString(k)
				r.Keys[s]++
				if i == 0 {
					r.PrimaryKeys[s]++
				}
			}
		}
	}
	slices.Sort(r.Missing)
	return r
}

// applyKeyring applies op on the local keyring, persists the result and
// returns this node's answer. A refusal is an error.
func (n *Node) applyKeyring(op KeyOp, key []byte) (keyringAckMsg, error) {
	kr := n.keyring
	n.keyringMu.Lock()
	defer n.keyringMu.Unlock()
	var err error
	switch op {
	case KeyInstall:
		if !hasKey(kr.GetKeys(), key) && len(kr.GetKeys()) >= MaxKeys {
			err = fmt.Errorf("%w: %d keys", ErrKeyringFull, MaxKeys)
		} else {
			err = kr.AddKey(key)
		}
	case KeyUse:
		if !hasKey(kr.GetKeys(), key) {
			err = ErrKeyNotInstalled
		} else {
			err = kr.UseKey(key)
		}
	case KeyRemove:
		switch primary := kr.GetPrimaryKey(); {
		case bytes.Equal(primary, key):
			err = ErrRemovePrimary
		case hasKey(kr.GetKeys(), key):
			// memberlist's RemoveKey shifts the ring's array in place, which
			// readers may hold (GetKeys): UseKey first gives it a fresh one.
			if err = kr.UseKey(primary); err == nil {
				err = kr.RemoveKey(key)
			}
		}
	}
	switch {
	case errors.Is(err, ErrRemovePrimary), errors.Is(err, ErrKeyNotInstalled), errors.Is(err, ErrKeyringFull):
		return keyringAckMsg{}, err
	case err != nil:
		return keyringAckMsg{}, fmt.Errorf("gossip: keyring %s: %w", op, err)
	}
	keys := n.Keys()
	if op != KeyList && n.cfg.OnKeyring != nil {
		if err := n.cfg.OnKeyring(keys); err != nil {
			return keyringAckMsg{}, fmt.Errorf("gossip: keyring %s applied but not persisted: %w", op, err)
		}
	}
	if op != KeyList {
		n.log.Info().Stringer("op", op).Int("keys", len(keys)).Msg("keyring changed")
	}
	return keyringAckMsg{From: n.cfg.Name, Keys: keys}, nil
}

func hasKey(keys [][]byte, key []byte) bool {
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// onKeyring applies a peer's keyring request and answers it.
func (n *Node) onKeyring(m keyringMsg) {
	if n.keyring == nil {
		// Unreachable through an encrypted cluster; a plaintext one cannot
		// authenticate the request.
		n.reject(ReasonDecrypt, ErrNotEncrypted, func(e *zerolog.Event) { e.Str("peer", m.From).Str("msg", "keyring") })
		return
	}
	ack, err := n.applyKeyring(m.Op, m.Key)
	if err != nil {
		ack = keyringAckMsg{Error: truncate(err.Error(), maxKeyringError)}
		n.log.Warn().Err(err).Str("peer", m.From).Msg("keyring request refused")
	}
	ack.From, ack.ID = n.cfg.Name, m.ID
	msg, err := encodeKeyringAck(ack)
	if err != nil {
		n.log.Error().Err(err).Msg("encode keyring ack")
		return
	}
	n.sendReliable(m.From, msgKeyringAck, msg)
}

// onKeyringAck records a peer's answer to one of our requests.
func (n *Node) onKeyringAck(a keyringAckMsg) {
	n.mu.Lock()
	p := n.keyringReqs[a.ID]
	n.mu.Unlock()
	if p == nil {
		return // late, or not ours
	}
	p.mu.Lock()
	if p.want[a.From] {
		p.acks[a.From] = a
	}
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// keyringBody is a msgKeyring: [from, id, op, key].
type keyringBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	ID       string
	Op       uint8
	Key      []byte
}

// keyringAckBody is a msgKeyringAck: [from, id, error, keys].
type keyringAckBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	ID       string
	Error    string
	Keys     [][]byte
}

func encodeKeyring(m keyringMsg) ([]byte, error) {
	return encode(msgKeyring, keyringBody{From: m.From, ID: m.ID, Op: uint8(m.Op), Key: m.Key})
}

func encodeKeyringAck(a keyringAckMsg) ([]byte, error) {
	return encode(msgKeyringAck, keyringAckBody{From: a.From, ID: a.ID, Error: a.Error, Keys: a.Keys})
}

func checkID(id string) error {
	if len(id) == 0 || len(id) > 64 {
		return fmt.Errorf("%w: request id length %d", ErrBadMessage, len(id))
	}
	return nil
}

// decodeKeyring decodes and validates a msgKeyring.
func decodeKeyring(b []byte) (keyringMsg, error) {
	var body keyringBody
	if err := unmarshal(b, msgKeyring, &body); err != nil {
		return keyringMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return keyringMsg{}, err
	}
	if err := checkID(body.ID); err != nil {
		return keyringMsg{}, err
	}
	op := KeyOp(body.Op)
	switch {
	case op < KeyList || op >= keyOpLimit:
		return keyringMsg{}, fmt.Errorf("%w: keyring operation %d", ErrBadMessage, body.Op)
	case op == KeyList && len(body.Key) != 0:
		return keyringMsg{}, fmt.Errorf("%w: keyring list with a key", ErrBadMessage)
	case op != KeyList && memberlist.ValidateKey(body.Key) != nil:
		return keyringMsg{}, fmt.Errorf("%w: keyring key of %d bytes", ErrBadMessage, len(body.Key))
	}
	if op == KeyList {
		body.Key = nil
	}
	return keyringMsg{From: body.From, ID: body.ID, Op: op, Key: body.Key}, nil
}

// decodeKeyringAck decodes and validates a msgKeyringAck.
func decodeKeyringAck(b []byte) (keyringAckMsg, error) {
	var body keyringAckBody
	if err := unmarshal(b, msgKeyringAck, &body); err != nil {
		return keyringAckMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return keyringAckMsg{}, err
	}
	if err := checkID(body.ID); err != nil {
		return keyringAckMsg{}, err
	}
	switch {
	case len(body.Error) > maxKeyringError:
		return keyringAckMsg{}, fmt.Errorf("%w: keyring error of %d bytes", ErrBadMessage, len(body.Error))
	case len(body.Keys) > MaxKeys:
		return keyringAckMsg{}, fmt.Errorf("%w: %w: %d keys", ErrBadMessage, ErrTooLarge, len(body.Keys))
	case body.Error != "" && len(body.Keys) > 0:
		return keyringAckMsg{}, fmt.Errorf("%w: keyring answer with an error and keys", ErrBadMessage)
	}
	for _, k := range body.Keys {
		if memberlist.ValidateKey(k) != nil {
			return keyringAckMsg{}, fmt.Errorf("%w: keyring answer key of %d bytes", ErrBadMessage, len(k))
		}
	}
	return keyringAckMsg{From: body.From, ID: body.ID, Error: body.Error, Keys: body.Keys}, nil
}
