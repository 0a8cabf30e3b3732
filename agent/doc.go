// Package agent is the composition root of the Grapevine daemon: configuration,
// lifecycle, the HTTP API, the DNS server and metrics, wiring catalog, gossip and
// probe together. It holds no replication or health-check logic of its own: the
// catalog owns the records and their leases, gossip moves them between agents,
// probe runs the checks. The agent turns API calls, definition files and
// membership events into calls on those three, and answers lookups from the
// catalog.
//
// # Lifecycle
//
// New validates the Config, reads the gossip keys, opens the data directory
// (the catalog, which writes a new epoch and restores the API registrations with
// their check definitions) and builds the prober; it touches no network. Start
// then, in this order: creates the gossip node over the catalog
// (catalog.SetPublisher(node.Publish) makes every local change an eager push) and
// announces the new epoch; restarts the checks of registrations the catalog
// restored from disk; loads the service definition files of ConfigDir; registers
// the dev demo service; opens the HTTP, Consul-compatible and DNS listeners; joins
// the seeds (failure is not fatal: the rejoin loop retries); starts the tick loop.
// Reload (SIGHUP) re-reads the definition files, the config file's acl section
// and the HTTP security files (secret files, TLS).
// Leave tells the cluster this agent goes away, so peers withdraw its records at
// once; Close then stops the listeners, the prober, the gossip node, the tick
// loop and the catalog, in that order, and waits for all of them. Close without
// Leave is a crash as the peers see it. Close is idempotent.
//
// # Goroutines
//
// Every goroutine has an owner that stops it in Close and waits for it:
//
//   - the tick loop (Agent.wg): once a second hands the live member list to the
//     catalog's leases (SyncMembers) and advances the lease clock (Tick);
//   - the HTTP, Consul and DNS servers' accept loops and per-connection
//     goroutines (their Close/Shutdown); blocking queries and change streams end
//     when Close cancels the agent's context;
//   - the Consul listener's catalog watch (consulServer.wg);
//   - inside probe.Runner: one goroutine per check, one per running probe and one
//     notifier (Runner.Close);
//   - inside gossip.Node: memberlist's goroutines, the event queue, the sync and
//     rejoin loops (Node.Close).
//
// The package tests fail when a goroutine outlives them (internal/leaktest).
//
// # Callbacks and their threads
//
//   - Membership: gossip calls onMember from one goroutine, in order. It feeds
//     SWIM's verdicts to the catalog's leases (MemberAlive/Left/Failed) and keeps
//     the departed-member list and last known addresses.
//   - Health: probe calls publishHealth (Config.OnHealth) from its notifier
//     goroutine, in order, with an instance's aggregated health; the agent hands
//     it to catalog.SetHealth. probe also calls deregisterCritical
//     (OnDeregister) from the same goroutine for a check critical longer than its
//     deregister_critical_after. Neither holds a lock of the prober.
//   - Registration: Register and reloadDefinitions call probe.Runner.Set once per
//     instance; for an API registration its commit function registers the
//     instance in the catalog (with its check definitions, persisted together)
//     with the health its checks give it, on the caller's goroutine, before any
//     check starts. So a registration walks agent → probe and agent → catalog
//     once each, and the instance exists in the catalog before its first health
//     transition arrives. Deregister removes the instance from the catalog and
//     stops its checks under the same per-instance lock of probe
//     (RemoveOwnerWith), so a registration and a deregistration of one ID at
//     the same time happen one wholly after the other: an instance never keeps
//     a deregistration's missing checks, nor checks outlive their instance.
//   - HTTP: internal/httpserve runs each connection on a goroutine of its own
//     and calls the guard-wrapped mux on it; a request's context watches its
//     client (one background read) only while a handler waits on Done.
//   - Replication: the catalog calls the gossip node's Publish with every local
//     delta, after releasing its lock; gossip calls the catalog (its Store) from
//     memberlist's goroutines to merge what peers send.
//
// # Locks
//
// Agent.mu guards the listener and node pointers, the lifecycle flags, the
// file-registered instance IDs, the per-instance check counts and the departed
// members; it is never held across a call into catalog, gossip or probe. regMu
// guards the API registrations in flight, counted against the limits so that
// these hold while the registrations' commits run concurrently (and share the
// catalog's fsync); reloadMu serializes reloads of the definition files. Member addresses are copy-on-write (read without a lock).
//
// # Files in the data directory
//
//   - epoch.json, registrations.json, registrations.log: the catalog's (its
//     epoch, so a restart takes a newer one; the API registrations with their
//     maintenance flags and their check definitions, one record each, handed to
//     catalog.RegisterWithChecks and read back from catalog.Registrations to
//     restart the checks). A registration is acknowledged once it is appended
//     to the log and fsynced; docs/catalog.md, "Persistence";
//   - checks.json: the check definitions as versions before this one kept
//     them; the catalog folds it into registrations.json at start and removes
//     it (a read error refuses the start, a malformed file is set aside);
//   - gossip-keyring: the live gossip keyring (mode 0600), seeded from
//     encrypt_file and changed by key rotation.
//
// Every whole-file write goes through internal/atomicfile (temporary file,
// fsync, rename, fsync of the directory).
//
// Registrations from definition files are not persisted: the files are the
// source of truth and are re-read at start. Without a data directory nothing
// survives a restart (the agent warns at start; -dev uses a temporary one).
//
// docs/architecture.md shows where the agent sits; docs/config.md lists every
// key; docs/http.md, docs/dns.md and docs/metrics.md describe what it serves.
package agent
