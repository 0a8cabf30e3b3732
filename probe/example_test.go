package probe_test

import (
	"fmt"

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
