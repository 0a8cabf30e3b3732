package render

import (
	"os"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
)

// TestMain fails the package when a goroutine of the engine outlives the
// tests: Run must stop every loop it started. Only goroutines running this
// package's code count (HTTP transports and the agents of the tests have
// owners of their own).
func TestMain(m *testing.M) {
	os.Exit(leaktest.Main(m, 15*time.Second, leaktest.Only("internal/render.(*Engine).watch", "internal/render.(*Engine).Run")))
}
