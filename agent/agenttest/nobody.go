package agenttest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the user ID tests drop to (65534 on Debian and most systems).
const Nobody = 65534

// RerunAsNobody runs the test named run again in a child process of this
// test binary, as user nobody when the test runs as root (tests of files a
// user cannot read are void as root), with env added. base must be a
// directory nobody may enter; a copy of the binary is put there. It returns
// the child's output and exit error.
func RerunAsNobody(t testing.TB, base, run string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	if os.Geteuid() == 0 {
		bin := filepath.Join(base, filepath.Base(os.Args[0]))
		if err := copyExecutable(os.Args[0], bin); err != nil {
			t.Fatal(err)
		}
		cmd.Path, cmd.Args[0], cmd.Dir = bin, bin, base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
