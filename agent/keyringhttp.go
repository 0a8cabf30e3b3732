package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/gossip"
)

// keyringWait bounds how long a keyring operation waits for the agents'
// answers; those that did not answer by then are reported missing.
const keyringWait = 5 * time.Second

// keyringRoutes declares /v1/operator/keyring (Consul's shape), policy
// operator: GET lists, POST installs, PUT uses, DELETE removes.
func (h *httpServer) keyringRoutes() {
	for method, op := range map[string]gossip.KeyOp{
		http.MethodGet: gossip.KeyList, http.MethodPost: gossip.KeyInstall,
		http.MethodPut: gossip.KeyUse, http.MethodDelete: gossip.KeyRemove,
	} {
		h.mux.Handle(method+" /v1/operator/keyring", h.g.Require(PolicyOperator, func(w http.ResponseWriter, r *http.Request) {
			h.keyring(w, r, op)
		}))
	}
}

func (h *httpServer) keyring(w http.ResponseWriter, r *http.Request, op gossip.KeyOp) {
	var key []byte
	if op != gossip.KeyList {
		req, err := api.DecodeKeyringRequest(r.Body)
		if err != nil {
			writeErr(w, err)
			return
		}
		if key, err = DecodeKey(req.Key); err != nil {
			api.WriteError(w, http.StatusBadRequest, "keyring: "+err.Error())
			return
		}
	}
	ctx, cancel := h.a.requestContext(r.Context())
	defer cancel()
	res, err := h.a.Keyring(ctx, op, key)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, gossip.ErrRemovePrimary), errors.Is(err, gossip.ErrKeyNotInstalled),
			errors.Is(err, gossip.ErrKeyringFull), errors.Is(err, gossip.ErrNotEncrypted):
			code = http.StatusConflict
		case errors.Is(err, gossip.ErrBusy):
			code = http.StatusTooManyRequests
		}
		api.WriteError(w, code, err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, []api.KeyringResponse{toAPIKeyring(res)})
}

// Keyring applies a keyring operation on every live agent (gossip.Node.Keyring)
// and waits up to keyringWait for their answers.
func (a *Agent) Keyring(ctx context.Context, op gossip.KeyOp, key []byte) (gossip.KeyringResponse, error) {
	node := a.Node()
	if node == nil {
		return gossip.KeyringResponse{}, errors.New("agent: not started")
	}
	ctx, cancel := context.WithTimeout(ctx, keyringWait)
	defer cancel()
	return node.Keyring(ctx, op, key)
}

func toAPIKeyring(r gossip.KeyringResponse) api.KeyringResponse {
	out := api.KeyringResponse{Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, NumNodes: r.Nodes, NumResp: r.Responded, Missing: r.Missing}
	if len(r.Errors) > 0 {
		out.Messages = r.Errors
	}
	return out
}
