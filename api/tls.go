package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Environment variables NewClient consults for fields left empty (the CLI's
// flags take the same names, see docs/cli.md).
const (
	// TokenEnv holds the ACL token sent with every request.
	TokenEnv = "GRAPEVINE_HTTP_TOKEN"
	// TokenFileEnv names a file holding the token.
	TokenFileEnv = "GRAPEVINE_HTTP_TOKEN_FILE"
	// CACertEnv names a PEM file of CAs that verify the agent's certificate.
	CACertEnv = "GRAPEVINE_CACERT"
	// ClientCertEnv and ClientKeyEnv name the client's PEM certificate and
	// key, presented when the agent requires them (verify_incoming).
	ClientCertEnv = "GRAPEVINE_CLIENT_CERT"
	ClientKeyEnv  = "GRAPEVINE_CLIENT_KEY"
)

// TokenHeader carries the ACL token (Authorization: Bearer works too).
const TokenHeader = "X-Grapevine-Token"

// maxTokenFile bounds a token file.
const maxTokenFile = 8 << 10

// fromEnv fills empty security fields of cfg from the environment.
func (c *ClientConfig) fromEnv() {
	set := func(dst *string, env string) {
		if *dst == "" {
			*dst = os.Getenv(env)
		}
	}
	if c.Token == "" {
		set(&c.TokenFile, TokenFileEnv)
	}
	if c.TokenFile == "" {
		set(&c.Token, TokenEnv)
	}
	set(&c.CAFile, CACertEnv)
	set(&c.ClientCert, ClientCertEnv)
	set(&c.ClientKey, ClientKeyEnv)
}

// loadToken returns the configured token: Token, or TokenFile's content
// (white space trimmed).
func (c ClientConfig) loadToken() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	f, err := os.Open(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("api: token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("api: token file: %w", err)
	}
	n := len(b)
	if n > maxTokenFile {
		return "", fmt.Errorf("api: token file %s: larger than %d bytes", c.TokenFile, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b[:n]))
	if tok == "" {
		return "", fmt.Errorf("api: token file %s is empty", c.TokenFile)
	}
	return tok, nil
}

// checkToken rejects a token no agent accepts, before it is sent.
func checkToken(tok string) error {
	for _, r := range tok {
		if r <= ' ' || r == 0x7f {
			return errors.New("api: token has spaces or unprintable characters")
		}
	}
	return nil
}

// tlsEnabled reports whether any TLS file is configured.
func (c ClientConfig) tlsEnabled() bool {
	return c.CAFile != "" || c.ClientCert != "" || c.ClientKey != ""
}

// transport builds the HTTP transport of the configured TLS files.
func (c ClientConfig) transport() (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("api: ca file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("api: ca file %s: no PEM certificate in it", c.CAFile)
		}
	}
	switch {
	case (c.ClientCert == "") != (c.ClientKey == ""):
		return nil, errors.New("api: client cert and client key go together")
	case c.ClientCert != "":
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("api: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return tr, nil
}
