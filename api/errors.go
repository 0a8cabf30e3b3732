package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. A *StatusError matches ErrNotFound with errors.Is when its
// code is 404.
var (
	// ErrNotFound: the agent answered 404 (no such instance, check or
	// registration).
	ErrNotFound = errors.New("api: not found")
	// ErrTooLarge: a response or request body exceeded its size limit.
	ErrTooLarge = errors.New("api: body too large")
	// ErrInvalid wraps every reason a request body, query string or stream is
	// rejected by the decoders of this package.
	ErrInvalid = errors.New("api: invalid input")

	errCheckNotObject = fmt.Errorf("%w: check definition must be a JSON object", ErrInvalid)
)

// StatusError is a non-2xx answer of the agent. Message is the "error" field
// of the JSON body (or the status text when the body had none).
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}
