// Package probe runs the active health checks of the services on the agent's
// own host (HTTP, TCP, exec, gRPC and TTL) and reports their state changes. It knows
// nothing about gossip or the catalog.
//
// # Owners
//
// Checks belong to an owner, the service instance they check. Runner.Set makes
// a list of checks the complete set of one owner's checks (keeping unchanged
// ones running), and the Runner aggregates them into the owner's Health: the
// worst state of its checks, passing without checks. Every change of an owner's
// health is published through one callback, Config.OnHealth; the agent's wiring
// hands it to the catalog. Set takes a commit function that receives the health
// the owner is about to have before any check starts, so the instance can be
// registered with it: a registration calls Set once and the catalog once.
//
// # Checks and states
//
// A Check is a JSON-decodable definition (ParseCheck, or json.Unmarshal then
// Validate). A probe result is passing, warning or critical:
//
//   - http: a status in expect_status (default 200..299) is passing, 429 is
//     warning, any other status or error is critical.
//   - tcp: a completed connect is passing, anything else critical.
//   - exec: argv run directly (no shell); exit 0 passing, 1 warning, other
//     critical; output bounded; the process group is killed on timeout.
//   - ttl: the service sets the state with Runner.UpdateTTL; critical when
//     not updated within the TTL.
//   - grpc: the standard grpc.health.v1 Health/Check on host:port[/service]
//     (plaintext, or TLS); SERVING is passing, anything else critical.
//
// The state of a check follows its results through thresholds: Rise
// consecutive passing results make it passing; Fall consecutive non-passing
// results make it the latest result's status (warning or critical). TTL
// updates, TTL expiry and the watchdog set the state directly.
//
// # Invariants
//
//   - A check runs at most one probe at a time; probe starts are Interval
//     apart (a slow probe delays the next one). The first probe starts after a
//     random splay drawn from Config.Seed, so checks do not synchronize.
//   - Every probe gets a context with the check's Timeout. If it has not
//     returned Config.WatchdogGrace after that (a stuck probe), the check is
//     set critical with output "probe stuck: ...".
//   - Result.Output is valid UTF-8 of at most MaxOutput (4 KiB) bytes.
//   - A removed or replaced check never changes state or calls back again.
//
// # Concurrency
//
// A Runner is safe for concurrent use. Each check has one goroutine, plus one
// per running probe; a single notifier goroutine calls Config.OnHealth,
// Config.OnChange and Config.OnDeregister in the order the changes happened,
// without holding any lock: a callback may call the Runner (not Set from a
// commit), but must not block long, because later changes wait behind it (they
// queue, unbounded; probe loops never wait). Set calls its commit on the
// caller's goroutine with no Runner lock held; Sets of one owner are
// serialized, Sets of different owners (and their commits) run concurrently.
// Close stops all goroutines and waits for them; it is idempotent.
package probe
