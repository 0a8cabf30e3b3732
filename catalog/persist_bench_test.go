package catalog_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// BenchmarkRegisterDurable is one acknowledged (durable) API registration in
// a catalog holding 100 of them, from one writer and from 16 at once (where
// group commit shares fsyncs).
func BenchmarkRegisterDurable(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cfg := catalogtest.Config("a", nil)
			cfg.DataDir = b.TempDir()
			c, err := catalog.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for i := range 100 {
				if err := c.Register(catalogtest.Instance("web", fmt.Sprintf("base-%d", i), 80)); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetParallelism(max(1, writers/2)) // GOMAXPROCS=2 here: writers goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := c.Register(catalogtest.Instance("web", fmt.Sprintf("w-%d", i%500), int(1+i%60000))); err != nil { // a change every time
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
