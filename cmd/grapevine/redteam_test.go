package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEmptyArgumentIsUsageError: an empty NAME or ID (an unset shell
// variable) is a usage error before any request: `watch ""` used to stream
// every service, `lookup ""` reported the agent unreachable.
func TestEmptyArgumentIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"lookup", ""},
		{"watch", ""},
		{"deregister", ""},
		{"maint", "", "-enable"},
		{"force-leave", ""},
		{"check", "pass", ""},
	} {
		var out, errb bytes.Buffer
		// An address nothing listens on: a request made would fail with exit 3.
		argv := append([]string{"grapevine"}, args...)
		argv = append(argv[:2], append([]string{"-http", "127.0.0.1:1"}, argv[2:]...)...)
		if args[0] == "check" {
			argv = []string{"grapevine", "check", "pass", "-http", "127.0.0.1:1", ""}
		}
		code := run(argv, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), "is empty") {
			t.Errorf("%q: exit %d, stderr %q; want %d and \"is empty\"", args, code, errb.String(), exitUsage)
		}
	}
}
