package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Contract constants shared by the agent and the client.
const (
	// IndexHeader carries a service's index on lookups (X-Grapevine-Index).
	IndexHeader = "X-Grapevine-Index"
	// MaxRequestBytes bounds every request body the agent accepts (413 above).
	MaxRequestBytes = 1 << 20
	// DefaultAddress is the agent's default HTTP address.
	DefaultAddress = "127.0.0.1:7947"
	// AddressEnv names the environment variable that overrides DefaultAddress
	// for clients.
	AddressEnv = "GRAPEVINE_HTTP_ADDR"
)

// DecodeRegistration reads a PUT /v1/agent/services body: at most
// MaxRequestBytes (else an error wrapping ErrTooLarge), exactly one JSON
// object, no unknown fields, a name, a port in 0..65535, every check a JSON
// object. An empty ID is set to Name. Other errors wrap ErrInvalid. Semantic
// limits (name syntax, tag and meta sizes, check schemas) are the catalog's
// and the prober's to enforce.
func DecodeRegistration(r io.Reader) (Registration, error) {
	var reg Registration
	if err := decodeStrict(r, MaxRequestBytes, &reg); err != nil {
		return Registration{}, fmt.Errorf("registration: %w", err)
	}
	if reg.Name == "" {
		return Registration{}, fmt.Errorf("%w: registration: name is required", ErrInvalid)
	}
	if reg.Port < 0 || reg.Port > 65535 {
		return Registration{}, fmt.Errorf("%w: registration: port %d out of range 0..65535", ErrInvalid, reg.Port)
	}
	for i, c := range reg.Checks {
		if c = bytes.TrimSpace(c); len(c) == 0 || c[0] != '{' {
			return Registration{}, fmt.Errorf("%w: registration: checks[%d] is not a JSON object", ErrInvalid, i)
		}
	}
	if reg.ID == "" {
		reg.ID = reg.Name
	}
	return reg, nil
}

// DecodeTTLUpdate reads a PUT /v1/agent/checks/{id}/ttl body with the limits
// of DecodeRegistration. Status must be passing, warning or critical.
func DecodeTTLUpdate(r io.Reader) (TTLUpdate, error) {
	var u TTLUpdate
	if err := decodeStrict(r, MaxRequestBytes, &u); err != nil {
		return TTLUpdate{}, fmt.Errorf("ttl update: %w", err)
	}
	switch u.Status {
	case HealthPassing, HealthWarning, HealthCritical:
		return u, nil
	}
	return TTLUpdate{}, fmt.Errorf("%w: ttl update: status %q is not one of passing, warning, critical", ErrInvalid, u.Status)
}

// decodeStrict decodes exactly one JSON value from at most limit bytes of r
// into v, rejecting unknown fields and trailing data.
func decodeStrict(r io.Reader, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, mbe.Limit)
		}
		return fmt.Errorf("%w: read body: %v", ErrInvalid, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: empty body", ErrInvalid)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	return nil
}

// StatusCode maps an error of this package's decoders to an HTTP status: 413
// for ErrTooLarge, 400 for ErrInvalid, else 500.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, Error{Error: msg})
}
