// Package api is the HTTP contract of the Grapevine agent and a Go client for it.
//
// The package defines every JSON type that crosses the agent's HTTP API (the
// wire types: Instance, ServiceSummary, Member, Registration, AgentSelf,
// StreamEvent, Error, ...), the query parameters of lookups (QueryOptions), the
// Server-Sent Events framing of the change stream, and a Client with one method
// per endpoint. docs/http.md documents the same contract for non-Go callers.
//
// It imports only the standard library and nothing of the project, so an
// application can depend on it cheaply. The agent uses the server-side helpers
// (DecodeRegistration, DecodeTTLUpdate, ParseQueryOptions, WriteEvent) so that
// both ends of the contract are written once.
//
// # Invariants
//
//   - Every decoder of bytes from the network (responses in the client, request
//     bodies and query strings in the server helpers) bounds what it reads,
//     rejects unknown JSON fields where the body comes from a user, returns an
//     error on malformed input and never panics.
//   - A lookup never reports "not found" for a service: a service without
//     instances answers an empty list, so blocking queries and watches work on a
//     service before its first instance appears.
//   - Indexes are per service and only grow while the agent runs; a client that
//     sees an index lower than the one it sent (the agent restarted) starts over.
//
// # Concurrency
//
// A Client is safe for concurrent use by multiple goroutines. Every method takes
// a context first; cancelling it aborts the request. The iterator returned by
// Stream must be consumed by one goroutine; breaking out of the loop or
// cancelling the context closes the connection.
package api
