package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/grapevine-sd/grapevine/internal/safefile"
)

// TLSConfig puts the HTTP API behind TLS (docs/http.md, "TLS").
type TLSConfig struct {
	// CertFile and KeyFile are the server's PEM certificate (chain) and key.
	// Both or neither; reloaded on SIGHUP.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is a PEM bundle of the CAs whose client certificates are
	// accepted when VerifyIncoming is on; reloaded on SIGHUP.
	CAFile string `yaml:"ca_file"`
	// VerifyIncoming requires every client to present a certificate signed by
	// a CA of CAFile (mutual TLS).
	VerifyIncoming bool `yaml:"verify_incoming"`
}

// Enabled reports whether the API serves TLS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" }

func (c TLSConfig) validate() error {
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("tls: cert_file and key_file go together")
	case c.VerifyIncoming && c.CAFile == "":
		return errors.New("tls: verify_incoming needs ca_file")
	case (c.VerifyIncoming || c.CAFile != "") && c.CertFile == "":
		return errors.New("tls: ca_file and verify_incoming need cert_file and key_file")
	}
	return nil
}

// tlsState holds the current certificate and client CAs; reload swaps them
// (SIGHUP), and handshakes read them without a lock.
type tlsState struct {
	cfg  TLSConfig
	cert atomic.Pointer[tls.Certificate]
	cas  atomic.Pointer[x509.CertPool]
}

func newTLSState(c TLSConfig) (*tlsState, error) {
	s := &tlsState{cfg: c}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// maxPEMFile bounds a certificate, key or CA bundle file.
const maxPEMFile = 4 << 20

// reload re-reads the files; on error the old ones stay in use.
func (s *tlsState) reload() error {
	certPEM, err := safefile.Read(s.cfg.CertFile, maxPEMFile)
	if err != nil {
		return fmt.Errorf("tls: cert_file: %w", err)
	}
	keyPEM, err := safefile.Read(s.cfg.KeyFile, maxPEMFile)
	if err != nil {
		return fmt.Errorf("tls: key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	var pool *x509.CertPool
	if s.cfg.CAFile != "" {
		pem, err := safefile.Read(s.cfg.CAFile, maxPEMFile)
		if err != nil {
			return fmt.Errorf("tls: ca_file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: ca_file %s: no PEM certificate in it", s.cfg.CAFile)
		}
	}
	s.cert.Store(&cert)
	s.cas.Store(pool)
	return nil
}

// serverConfig is the listener's tls.Config: TLS 1.2+, HTTP/1.1 only (the
// guard's body deadline is per connection), current files at each handshake.
func (s *tlsState) serverConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		cert := s.cert.Load()
		c.Certificates = []tls.Certificate{*cert}
		if s.cfg.VerifyIncoming {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = s.cas.Load()
		}
		return c, nil
	}
	return base
}
