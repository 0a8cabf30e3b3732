package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run([]string{"grapevine", "completion", shell}, &out, &errb); code != exitOK {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
	}
	if out.Len() < 200 {
		t.Fatalf("completion %s: %d bytes", shell, out.Len())
	}
	return out.String()
}

func TestCompletionRefusesOtherShells(t *testing.T) {
	for _, args := range [][]string{{}, {"tcsh"}, {"bash", "zsh"}} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"grapevine", "completion"}, args...), &out, &errb); code != exitUsage {
			t.Errorf("completion %q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestCompletionBash parses the bash script with bash -n, then runs its
// function on command lines and checks what it offers.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	script := filepath.Join(t.TempDir(), "grapevine.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	tests := []struct {
		line string // the words typed; the last is the one completed
		want []string
		not  []string
	}{
		{"grapevine lo", []string{"lookup"}, []string{"agent"}},
		{"grapevine ", []string{"agent", "lookup", "register", "completion", "version"}, nil},
		{"grapevine lookup -ta", []string{"-tag"}, nil},
		{"grapevine lookup -http 127.0.0.1:7947 -z", []string{"-zone"}, nil},
		{"grapevine agent -", []string{"-config", "-data-dir", "-dev", "-help"}, []string{"-tag"}},
		{"grapevine completion ", []string{"bash", "zsh", "fish"}, nil},
		{"grapevine completion z", []string{"zsh"}, []string{"bash"}},
	}
	for _, tc := range tests {
		words := strings.Split(tc.line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, sq(w))
		}
		prog := "source " + sq(script) + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_grapevine\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: offers %v, want %q among them", tc.line, got, w)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(got, n) {
				t.Errorf("%q: offers %v, not %q", tc.line, got, n)
			}
		}
	}
}

// TestCompletionZshAndFish parses the scripts where the shells are installed
// (make deps installs them).
func TestCompletionZshAndFish(t *testing.T) {
	for _, shell := range []string{"zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script := completionScript(t, shell)
			if !strings.Contains(script, "lookup") || !strings.Contains(script, "-tag") && !strings.Contains(script, "'tag'") {
				t.Errorf("%s script lacks lookup or its -tag flag", shell)
			}
			bin, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("%s not installed (make deps installs it); script not parsed", shell)
			}
			path := filepath.Join(t.TempDir(), "grapevine."+shell)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, out)
			}
			// Load it and ask for completions the way the shell would.
			var prog, want string
			switch shell {
			case "zsh":
				prog, want = "autoload -Uz compinit && compinit -u -d "+sq(filepath.Join(t.TempDir(), "zcompdump"))+"; source "+sq(path)+"; print -r -- ${_comps[grapevine]}", "_grapevine"
			case "fish":
				prog, want = "source "+sq(path)+"; complete -C 'grapevine lookup -ta'", "-tag"
			}
			cmd := exec.Command(bin, "-c", prog)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("%s: loading the script gave %v, output %q; want %q in it", shell, err, out, want)
			}
		})
	}
}
