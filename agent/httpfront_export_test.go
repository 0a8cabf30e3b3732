package agent

import (
	"context"
	"net/http"
	"time"
)

// ServeGuardedForTest serves h on an ephemeral loopback port the way the
// agent serves its own listeners (serveGuarded: the guard, connection caps,
// timeouts and TLS of a's config), so a test can put a handler there that
// no route of the agent has, e.g. one that panics. It returns the address
// and a func that closes the listener and waits for it.
func (a *Agent) ServeGuardedForTest(h http.Handler) (string, func() error, error) {
	const addr = "127.0.0.1:0"
	s, err := a.serveGuarded(addr, a.newGuard(addr, "test "), h)
	if err != nil {
		return "", nil, err
	}
	return s.Addr(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.close(ctx)
	}, nil
}
