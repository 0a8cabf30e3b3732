package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReloadsTokens runs `grapevine agent -config FILE` with ACL
// tokens, rewrites the file's acl section (one token removed, one added)
// and sends SIGHUP: the new token works and the removed one is refused,
// without a restart; a broken file then keeps the tokens in force and the
// log says so.
func TestSIGHUPReloadsTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs an agent process")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	const (
		oldTok = "old-operator-token-0123456789"
		newTok = "new-operator-token-0123456789"
	)
	acl := func(secret string) string {
		return e2eGossip + "acl:\n  enabled: true\n  tokens:\n    - {name: ops, secret: " + secret + ", policy: operator}\n"
	}
	config := writeAgentConfig(t, dir, acl(oldTok))
	keyLine := func() string { // writeAgentConfig appended the keyring file
		b, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[strings.LastIndex(string(b), "\nencrypt_file:"):])
	}()
	ag := &e2eAgent{name: "node-a", dataDir: dir + "/data"}
	ag.start(t, bin, config, nil)
	status := func(tok string) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+ag.http+"/v1/agent/self", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(oldTok); got != http.StatusOK {
		t.Fatalf("old token before the reload: %d", got)
	}
	rewrite := func(body string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(acl(newTok) + keyLine)
	poll(t, 15*time.Second, "new token accepted after SIGHUP", func() (bool, string) {
		n, o := status(newTok), status(oldTok)
		return n == http.StatusOK && o == http.StatusUnauthorized, "new token " + http.StatusText(n) + ", old token " + http.StatusText(o)
	})
	rewrite("acl: [broken\n" + keyLine)
	poll(t, 15*time.Second, "a bad file logged", func() (bool, string) {
		return strings.Contains(ag.log.String(), "the tokens in force stay"), "no error in the log"
	})
	if n, o := status(newTok), status(oldTok); n != http.StatusOK || o != http.StatusUnauthorized {
		t.Errorf("after a bad file: new token %d, old %d; want the tokens in force kept", n, o)
	}
}
