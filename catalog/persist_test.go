package catalog_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// dirState lists a directory's files with their contents, to prove nothing
// changed.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

// persisted returns a data directory holding one API registration (w1).
func persisted(t *testing.T, dir string) catalog.Config {
	t.Helper()
	cfg := catalogtest.Config("a", catalogtest.NewClock())
	cfg.DataDir = dir
	c, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
	c.Close()
	return cfg
}

func TestPersistRefusesWhatItCannotTrust(t *testing.T) {
	cases := []struct {
		name, file string
		mangle     func(path string) error
		want       string
	}{
		{"registrations is a directory (read error)", "registrations.json", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}, "cannot read"},
		{"epoch is a directory (read error)", "epoch.json", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}, "cannot read"},
		{"newer registrations format", "registrations.json", func(p string) error {
			return os.WriteFile(p, []byte(`{"format":3,"registrations":[]}`), 0o600)
		}, "format 3 is newer"},
		{"newer epoch format", "epoch.json", func(p string) error {
			return os.WriteFile(p, []byte(`{"format":7,"epoch":5}`), 0o600)
		}, "format 7 is newer"},
		{"unknown top-level field", "registrations.json", func(p string) error {
			return replaceIn(p, `"format": 2,`, `"format": 2, "owner": "x",`)
		}, `unknown field "owner"`},
		{"unknown instance field", "registrations.json", func(p string) error {
			return replaceIn(p, `"instance": {`, `"instance": {"weight": 3,`)
		}, `unknown field "weight"`},
		{"log is a directory (read error)", "registrations.log", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}, "cannot read"},
		{"newer log format", "registrations.log", func(p string) error {
			return os.WriteFile(p, catalog.LogLine(`{"format":2}`), 0o600)
		}, "format 2 is newer"},
		{"unknown field in a log record", "registrations.log", func(p string) error {
			b := append(catalog.LogLine(`{"format":1}`), catalog.LogLine(`{"put":{"instance":{"id":"w2","service":"web","address":"10.0.0.1","port":80}},"ttl":5}`)...)
			return os.WriteFile(p, b, 0o600)
		}, `unknown field "ttl"`},
		{"legacy checks file is a directory", "checks.json", func(p string) error {
			if err := downgrade(filepath.Dir(p)); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}, "cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := persisted(t, dir)
			if err := tc.mangle(filepath.Join(dir, tc.file)); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			c, err := catalog.New(cfg)
			if err == nil {
				c.Close()
				t.Fatalf("New started; want a refusal")
			}
			if !errors.Is(err, catalog.ErrPersist) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want ErrPersist saying %q", err, tc.want)
			}
			if after := dirState(t, dir); !mapsEqual(before, after) {
				t.Errorf("the data directory changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// downgrade rewrites dir's registrations.json as format 1 (as versions
// before check definitions moved into it wrote it).
func downgrade(dir string) error {
	return replaceIn(filepath.Join(dir, "registrations.json"), `"format": 2,`, `"format": 1,`)
}

func replaceIn(path, old, new string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), old) {
		return errors.New(path + " lacks " + old)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPersistMalformedIsSetAsideNotLoaded(t *testing.T) {
	cases := map[string]string{
		"truncated":      `{"format":1,"registrations":[{"instance":{"id":"w1"`,
		"no format":      `{"registrations":[{"instance":{"id":"w9","service":"web"}}]}`,
		"format zero":    `{"format":0,"registrations":[{"instance":{"id":"w9","service":"web"}}]}`,
		"wrong type":     `{"format":1,"registrations":[{"instance":{"id":"w9","service":"web","port":"x"}}]}`,
		"not an object":  `[1,2,3]`,
		"trailing data":  `{"format":1,"registrations":[]} {}`,
		"format as text": `{"format":"1","registrations":[]}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := persisted(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "registrations.json"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := catalog.New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close()
			if n := len(c.Local()); n != 0 {
				t.Errorf("%d registrations loaded from a malformed file", n)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, "registrations.json.corrupt-*"))
			if len(aside) != 1 {
				t.Fatalf("set aside: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Errorf("set-aside file holds %q, want the original", b)
			}
			if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "nothing of it loaded") {
				t.Errorf("warnings %v", w)
			}
		})
	}
}

// TestPersistUnreadableAsNonRoot makes registrations.json unreadable by
// permissions, as it happens in production: the test runs as root, so the
// check itself runs in a copy of this test binary as user nobody.
func TestPersistUnreadableAsNonRoot(t *testing.T) {
	if dir := os.Getenv("GRAPEVINE_TEST_PERSIST_CHILD"); dir != "" {
		cfg := catalogtest.Config("a", catalogtest.NewClock())
		cfg.DataDir = dir
		c, err := catalog.New(cfg)
		if err == nil {
			c.Close()
			t.Fatal("New started with an unreadable registrations.json")
		}
		if !errors.Is(err, catalog.ErrPersist) || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("error %v: want ErrPersist, permission denied", err)
		}
		t.Logf("uid %d refused: %v", os.Geteuid(), err)
		return
	}
	base, err := os.MkdirTemp("", "grapevine-persist-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	persisted(t, dir)
	regs := filepath.Join(dir, "registrations.json")
	if err := os.Chmod(regs, 0o000); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistUnreadableAsNonRoot$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GRAPEVINE_TEST_PERSIST_CHILD="+dir)
	if os.Geteuid() == 0 {
		const nobody = 65534
		// nobody must reach the directory and run a copy of this binary.
		for _, p := range []string{base, dir} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(base, "catalog.test")
		if err := copyFile(os.Args[0], bin, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd.Path, cmd.Args[0] = bin, bin
		cmd.Dir = base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	before := dirState(t, dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child: %s", out)
	if after := dirState(t, dir); !mapsEqual(before, after) {
		t.Errorf("the data directory changed:\nbefore %v\nafter  %v", keys(before), keys(after))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
