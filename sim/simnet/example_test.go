package simnet_test

import (
	"fmt"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

func Example() {
	cfg := simnet.DefaultConfig()
	cfg.DefaultLink = simnet.LinkConfig{Latency: time.Millisecond, Distribution: simnet.Fixed}
	nw, err := simnet.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nw.Close()

	a, _ := nw.Transport(simnet.Addr(0))
	b, _ := nw.Transport(simnet.Addr(1))
	a.WriteTo([]byte("hello"), b.Addr())
	p := <-b.PacketCh()
	fmt.Printf("%s from %s\n", p.Buf, p.From)

	nw.Partition([]string{a.Addr()}) // a alone, everyone else together
	_, err = a.DialTimeout(b.Addr(), time.Second)
	fmt.Println(err)
	fmt.Println(nw.Stats(a.Addr()).PacketsSent, nw.Stats(b.Addr()).PacketsReceived)
	// Output:
	// hello from 10.0.0.1:7946
	// dial 10.0.0.2:7946: simnet: no route to host
	// 1 1
}
