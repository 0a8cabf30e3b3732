package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// KeyringRequest is the body of POST, PUT and DELETE /v1/operator/keyring
// (Consul's shape): one base64 gossip key.
type KeyringRequest struct {
	Key string
}

// KeyringResponse is one element of /v1/operator/keyring's answer (Consul's
// shape and field names; Grapevine has one ring, so WAN is false and
// Datacenter and Segment empty). NumResp and Missing are Grapevine's: how
// many agents answered and which did not.
type KeyringResponse struct {
	WAN        bool
	Datacenter string
	Segment    string
	// Messages maps each agent that refused the operation to its error.
	Messages map[string]string `json:",omitempty"`
	// Keys and PrimaryKeys count, per base64 key, the agents that hold it and
	// that use it to encrypt.
	Keys        map[string]int
	PrimaryKeys map[string]int
	// NumNodes is how many agents were asked (the live members), NumResp how
	// many answered in time.
	NumNodes int
	NumResp  int
	Missing  []string `json:",omitempty"`
}

// Applied is how many agents answered without an error.
func (r KeyringResponse) Applied() int { return r.NumResp - len(r.Messages) }

// Complete reports whether every agent asked answered without an error.
func (r KeyringResponse) Complete() bool { return r.NumResp == r.NumNodes && len(r.Messages) == 0 }

// DecodeKeyringRequest reads a keyring request body: at most MaxRequestBytes,
// one JSON object with a non-empty Key, no unknown fields. Errors wrap
// ErrInvalid or ErrTooLarge. The key itself is checked by the agent.
func DecodeKeyringRequest(r io.Reader) (KeyringRequest, error) {
	var req KeyringRequest
	if err := decodeStrict(r, MaxRequestBytes, &req); err != nil {
		return KeyringRequest{}, fmt.Errorf("keyring request: %w", err)
	}
	req.Key = strings.TrimSpace(req.Key)
	if req.Key == "" {
		return KeyringRequest{}, fmt.Errorf("%w: keyring request: Key is required", ErrInvalid)
	}
	return req, nil
}

// KeyringList lists the gossip keys of every live agent (GET
// /v1/operator/keyring).
func (c *Client) KeyringList(ctx context.Context) ([]KeyringResponse, error) {
	return c.keyring(ctx, http.MethodGet, "")
}

// KeyringInstall installs key (base64) on every live agent: it is accepted
// for decryption, not yet used to encrypt.
func (c *Client) KeyringInstall(ctx context.Context, key string) ([]KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPost, key)
}

// KeyringUse makes the installed key the primary (encrypting) key of every
// live agent.
func (c *Client) KeyringUse(ctx context.Context, key string) ([]KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPut, key)
}

// KeyringRemove removes key from every live agent; the primary key cannot
// be removed.
func (c *Client) KeyringRemove(ctx context.Context, key string) ([]KeyringResponse, error) {
	return c.keyring(ctx, http.MethodDelete, key)
}

func (c *Client) keyring(ctx context.Context, method, key string) ([]KeyringResponse, error) {
	req := request{method: method, path: []string{"v1", "operator", "keyring"}, timeout: c.timeout}
	if method != http.MethodGet {
		req.body = KeyringRequest{Key: key}
	}
	var out []KeyringResponse
	_, err := c.call(ctx, req, &out)
	return out, err
}
