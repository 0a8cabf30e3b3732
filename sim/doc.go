// Package sim runs many Grapevine nodes in one process over a simulated network
// (sim/simnet), drives faults from a scenario, checks the guarantees of
// docs/guarantees.md (G1-G5) against a recorded history, and reports figures and plots.
//
// # Pieces
//
//   - Scenario: a YAML file (Parse, Load) of steps: start, register,
//     deregister, health, partition, cut, heal, flap, unflap, link, crash,
//     restart, pause, resume, leave, skew, wait, assert. docs/sim.md
//     documents the format.
//   - Node and Factory: the harness drives hosts through a small interface;
//     NewAgentFactory adapts real agents, tests may use fakes.
//   - Run: executes a scenario, samples every live node's view of every
//     registered service at a fixed interval, times propagation from the
//     nodes' change feeds (ChangeWatcher; sampled for nodes without one), and
//     returns a Report (text summary, HTML page with SVG plots).
//
// # Invariants
//
// Every random choice (node picks, network draws) comes from the scenario's
// seed, which is printed; memberlist itself uses the global math/rand, so two
// runs with one seed make the same choices but need not produce the same
// timings: compare distributions over seeds. Invariant failures are results
// (Report.Passed), not errors; Run's error means the harness could not run.
//
// # Time
//
// Run uses the standard clock and timers. Inside a testing/synctest bubble the
// whole run, memberlist included, runs in virtual time (scenario tests do
// this); outside (grapevine sim run) it runs in real time.
//
// # Concurrency
//
// Run owns one sampler goroutine besides the nodes' own (a ChangeWatcher's
// feed goroutine belongs to its node, which stops it in Close); it stops and
// waits for it, then closes every node and the network before returning. Node
// implementations must be safe for concurrent use (the runner and the sampler
// call them at once).
package sim
