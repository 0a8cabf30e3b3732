package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/grapevine-sd/grapevine/api"
)

func Example() {
	// A stand-in for an agent.
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.IndexHeader, "7")
		api.WriteJSON(w, 200, []api.Instance{{ID: "web-1", Service: "web", Node: "node-a", Address: "10.0.0.1", Port: 8080, Health: api.HealthPassing}})
	}))
	defer agent.Close()

	client, err := api.NewClient(api.ClientConfig{Address: agent.URL})
	if err != nil {
		panic(err)
	}
	insts, meta, err := client.Service(context.Background(), "web", api.QueryOptions{Tags: []string{"v2"}})
	if err != nil {
		panic(err)
	}
	for _, i := range insts {
		fmt.Printf("%s %s:%d %s (index %d)\n", i.ID, i.Address, i.Port, i.Health, meta.Index)
	}
	// Output: web-1 10.0.0.1:8080 passing (index 7)
}

func ExampleClient_Stream() {
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.StreamContentType)
		_ = api.WriteEvent(w, api.StreamEvent{Index: 3, Type: api.EventReset, Instances: []api.Instance{{ID: "web-1", Node: "node-a"}}})
		_ = api.WriteEvent(w, api.StreamEvent{Index: 4, Type: api.EventDelete, Instance: &api.Instance{ID: "web-1", Node: "node-a"}})
	}))
	defer agent.Close()
	client, _ := api.NewClient(api.ClientConfig{Address: agent.URL})

	var last uint64
	for ev, err := range client.Stream(context.Background(), "web", last) {
		if err != nil {
			fmt.Println("stream ended:", err) // resume with client.Stream(ctx, "web", last)
			break
		}
		last = ev.Index
		fmt.Println(ev.Index, ev.Type, len(ev.Instances))
	}
	// Output:
	// 3 reset 1
	// 4 delete 0
	// stream ended: api: stream ended by the agent
}
