// Package sim runs many Grapevine nodes in one process over a simulated network
// (sim/simnet), drives faults from a scenario, checks the guarantees of
// docs/guarantees.md (G1-G5) against a recorded history, and reports figures and
// plots. docs/sim.md is the user's guide; cmd/grapevine-sim is its program.
//
// # Pieces, one concept per file
//
//   - Scenario (scenario.go, step.go): a YAML file (Parse, Load) of steps. Each
//     step kind is one Action type in its own file, step_<kind>.go, with its
//     Validate and its run: start, register, deregister, health, partition,
//     bridge, cut, heal, flap, unflap, link, slow, crash, restart, pause, resume,
//     leave, skew, clock, save, restore, wait, assert. Errors are ScenarioErrors
//     (file, line, what).
//   - Node and Factory (node.go, agentnode.go): the harness drives hosts through
//     a small interface; NewAgentFactory adapts real agents, tests use fakes.
//   - Run (runner.go, cluster.go): executes a scenario, samples every live
//     node's view of every registered service at a fixed interval, times
//     propagation from the nodes' change feeds (ChangeWatcher; sampled for nodes
//     without one). RunVirtual (virtual.go) does it in virtual time for a
//     program; Progress (progress.go) reports its position to any goroutine.
//     A settling start (step_start.go) has every node exchange member lists
//     with the first live one (Joiner), so a thousand nodes need not wait for
//     memberlist to gossip every join to every member.
//   - Check (checker.go): the invariants over the recorded history.
//   - Health (health.go): false deaths, suspicions, self-preservation, counters.
//   - Report (report.go, html.go): text summary, HTML page with SVG plots
//     drawn by sim/svgplot.
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
// whole run, memberlist included, runs in virtual time (tests wrap Run in
// synctest.Test; RunVirtual makes the bubble for a program); outside, Run runs
// in real time. Host clocks are the run's clock with a skew (both readings) and
// wall-clock steps (wall reading only, clock.go).
//
// # Concurrency
//
// Run owns one sampler goroutine besides the nodes' own (a ChangeWatcher's
// feed goroutine belongs to its node, which stops it in Close); it stops and
// waits for it, then closes every node and the network before returning. Node
// implementations must be safe for concurrent use (the runner and the sampler
// call them at once); NodeSpec.Events is called from the nodes' goroutines.
package sim
