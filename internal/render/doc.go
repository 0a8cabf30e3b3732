// Package render keeps files rendered from Go text/templates up to date with
// the local agent's catalog, and runs a command (an HAProxy or nginx reload)
// when a file changes. It is what `grapevine render` runs; docs/render.md is
// the user's reference.
//
// A template reads the catalog through a few functions (service, services,
// members, env, and pure helpers such as hostPort and byTag; docs/render.md
// lists them). The set of
// lookups a template needs is discovered by rendering it: each call records a
// dependency; a render that needed data the engine does not hold yet is
// incomplete and is never written. The engine then fetches what is missing
// and renders again.
//
// # Watching
//
// Run keeps one loop per dependency: a blocking query (index + wait) per
// service, a poll every Config.PollInterval for the service list and the
// members (the agent has no blocking form for them). Loops start when a
// render first uses a dependency and stop when no template uses it any more.
// A change re-renders the templates that use it once the changes have been
// quiet for Config.Wait.Min, and at most Config.Wait.Max after the first one.
//
// # Invariants
//
//   - A file is written only from a complete render, only when its content
//     differs from what is on disk, and atomically: a temporary file in the
//     same directory, then rename. Readers never see a partial file.
//   - An unreachable agent changes no file: loops retry with capped backoff
//     and the files keep their last content until the agent answers again.
//   - A template that fails to parse (at New or Reload) changes nothing: New
//     returns the error; Reload keeps every template in use.
//   - A command runs only after its file changed, through /bin/sh -c, with
//     Config.ExecTimeout; on timeout its whole process group is killed. Its
//     failure is logged, never fatal to Run.
//
// # Concurrency
//
// Run owns every goroutine of the engine: one per dependency loop. It renders,
// writes and runs commands in its own goroutine, one template at a time; on
// return (its context ended) every loop has stopped. Reload may be called from
// any goroutine, also while Run runs. Run and Once must not run at the same
// time, and Run runs at most once per Engine.
package render
