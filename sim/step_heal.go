package sim

import "context"

// HealStep removes the partition, every cut, bridge and flap; it starts the
// convergence clock (the report's convergence after heal).
type HealStep struct{}

func (*HealStep) Kind() string    { return "heal" }
func (*HealStep) Validate() error { return nil }

func (*HealStep) run(_ context.Context, r *runner, i int) error {
	r.trouble()
	r.cl.net.Heal() // stops the flaps too
	r.flaps = nil
	r.ck.recovered("", true, r.now())
	r.record(i, "heal", "")
	return nil
}
