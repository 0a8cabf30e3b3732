package probe_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/grapevine-sd/grapevine/probe"
)

func ExampleParseCheck() {
	c, err := probe.ParseCheck([]byte(`{"id":"web","type":"http","target":"http://127.0.0.1:8080/health","interval":"5s"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Method, c.Interval, c.Timeout, c.Rise, c.Fall, c.InitialStatus)

	_, err = probe.ParseCheck([]byte(`{"id":"x","type":"exec","args":[],"interval":"5s"}`))
	fmt.Println(err)
	// Output:
	// GET 5s 2.5s 1 2 critical
	// probe: invalid check: check "x": args: an exec check needs a program (args[0]); no shell is used
}

func ExampleAggregate() {
	results := []probe.Result{{Status: probe.Passing}, {Status: probe.Warning}}
	fmt.Println(probe.Aggregate(results))
	// Output: warning
}

// A registration: Set validates the instance's checks, hands the health they
// give it to commit (where the agent registers the instance in its catalog),
// and only then starts them; later changes arrive through Config.OnHealth.
func ExampleRunner_Set() {
	cfg := probe.DefaultConfig()
	cfg.OnHealth = func(h probe.Health) { /* publish h.Owner's h.Status and h.Output */ }
	r, err := probe.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	checks := []probe.Check{{ID: "web-ttl", Type: probe.TTL, TTL: time.Minute, InitialStatus: probe.Warning}}
	err = r.Set("web-1", checks, func(h probe.Health) error {
		fmt.Println("register", h.Owner, "as", h.Status)
		return nil
	})
	fmt.Println(err, len(r.ByOwner("web-1")))

	// A check ID is one owner's: another instance cannot take it.
	err = r.Set("web-2", checks, nil)
	fmt.Println(errors.Is(err, probe.ErrCheckOwned))
	// Output:
	// register web-1 as warning
	// <nil> 1
	// true
}
