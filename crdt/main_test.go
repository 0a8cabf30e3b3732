package crdt

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs every rapid property 10,000 times by default (the bar);
// -rapid.checks on the command line still overrides it.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit && !testing.Short() {
		_ = flag.Set("rapid.checks", "10000")
	}
	os.Exit(m.Run())
}
