package httpserve_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/httpserve"
)

// selfSigned is a TLS certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Over TLS, a request whose handler waits on its context (the background
// read, stopped by a deadline in the past) leaves the connection usable:
// the next requests on it, pipelined during the wait or sent after, are
// served.
func TestTLSConnectionAfterAWatchedRequest(t *testing.T) {
	cert := selfSigned(t)
	cfg := httpserve.DefaultConfig()
	cfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		hello(w, r)
	})
	s, err := httpserve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	defer func() { _ = s.Close(); <-done }()

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for round := range 3 {
		fmt.Fprint(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		if round == 1 {
			time.Sleep(30 * time.Millisecond)
			fmt.Fprint(c, "GET /piped HTTP/1.1\r\nHost: x\r\n\r\n") // while it waits
		}
		if _, body := answer(t, br, "GET"); body != "hello /wait" {
			t.Fatalf("round %d: %q", round, body)
		}
		if round == 1 {
			if _, body := answer(t, br, "GET"); body != "hello /piped" {
				t.Fatalf("pipelined during the wait: %q", body)
			}
		}
		fmt.Fprint(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := answer(t, br, "GET"); body != "hello /after" {
			t.Fatalf("round %d, after the watched request: %q", round, body)
		}
	}
}
