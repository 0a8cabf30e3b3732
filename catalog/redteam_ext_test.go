package catalog_test

import (
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// TestSyncFilesSwapAtQuota: definition files that replace every service by
// as many others (a new config_dir at the quota) apply whole: the outgoing
// file instances do not count against the quota of the incoming ones.
func TestSyncFilesSwapAtQuota(t *testing.T) {
	cfg := catalogtest.Config("a", catalogtest.NewClock())
	cfg.MaxRecordsPerOrigin = 8
	c, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SyncFiles(catalogtest.Instances("old", 8)); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncFiles(catalogtest.Instances("new", 8)); err != nil {
		t.Fatalf("swap at the quota: %v", err)
	}
	regs := c.Registrations()
	if len(regs) != 8 {
		t.Fatalf("%d registrations after the swap, want 8", len(regs))
	}
	for _, r := range regs {
		if r.Instance.Service != "new" {
			t.Fatalf("after the swap: %+v", r)
		}
	}
}
