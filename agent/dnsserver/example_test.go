package dnsserver_test

import (
	"context"
	"fmt"

	"github.com/grapevine-sd/grapevine/agent/dnsserver"
	"github.com/miekg/dns"
)

// static is a Source of one service that never changes.
type static struct{}

func (static) Service(name string) (uint64, []dnsserver.Instance) {
	if name != "web" {
		return 0, nil
	}
	return 1, []dnsserver.Instance{{Node: "n1", Address: "10.0.0.1", Port: 8080}}
}
func (static) ServiceIndex(name string) uint64 {
	if name != "web" {
		return 0
	}
	return 1
}
func (static) NodeAddress(string) (string, bool) { return "", false }
func (static) Version() uint64                   { return 0 }

func Example() {
	cfg := dnsserver.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Source = static{}
	s, err := dnsserver.New(cfg)
	if err != nil {
		panic(err)
	}
	defer s.Close(context.Background())

	m := new(dns.Msg)
	m.SetQuestion("_web._tcp.service.grapevine.", dns.TypeSRV)
	r, err := dns.Exchange(m, s.Addr())
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Answer[0])
	fmt.Println(r.Extra[0])
	// Output:
	// _web._tcp.service.grapevine.	5	IN	SRV	1 1 8080 0a000001.addr.grapevine.
	// 0a000001.addr.grapevine.	5	IN	A	10.0.0.1
}
