package probe

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/testaddr"
	"github.com/grapevine-sd/grapevine/internal/testcert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcServer starts a real gRPC server on loopback: with the standard health
// service when withHealth, over TLS (self-signed) when tlsOn.
func grpcServer(t *testing.T, withHealth, tlsOn bool) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if tlsOn {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{testcert.SelfSigned(t, "probe-test")}})))
	}
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	if withHealth {
		healthpb.RegisterHealthServer(s, hs)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String(), hs
}

// silentListener accepts connections and never answers: a hung server.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestGRPCProbe(t *testing.T) {
	addr, hs := grpcServer(t, true, false)
	hs.SetServingStatus("web", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	bare, _ := grpcServer(t, false, false)
	tlsAddr, tlsHS := grpcServer(t, true, true)
	tlsHS.SetServingStatus("web", healthpb.HealthCheckResponse_SERVING)
	hung := silentListener(t)

	tests := []struct {
		name   string
		c      Check
		want   Status
		output string
	}{
		{"server overall serving", Check{Target: addr}, Passing, "SERVING"},
		{"service serving", Check{Target: addr + "/web"}, Passing, "SERVING"},
		{"service not serving", Check{Target: addr + "/db"}, Critical, "NOT_SERVING"},
		{"unknown service", Check{Target: addr + "/nope"}, Critical, "NotFound"},
		{"no health service", Check{Target: bare}, Critical, "no grpc.health.v1 service"},
		{"refused", Check{Target: testaddr.Refused(t)}, Critical, "gRPC health"},
		{"hung server times out", Check{Target: hung, Interval: time.Second, Timeout: 200 * time.Millisecond}, Critical, "timed out after 200ms"},
		{"tls skip verify", Check{Target: tlsAddr + "/web", TLS: true, TLSSkipVerify: true}, Passing, "SERVING"},
		{"tls unknown authority", Check{Target: tlsAddr + "/web", TLS: true}, Critical, "certificate"},
		{"plaintext to a tls server", Check{Target: tlsAddr + "/web", Interval: time.Second, Timeout: 300 * time.Millisecond}, Critical, "gRPC health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.ID, tt.c.Type = "g", GRPC
			got, out := runOnce(t, tt.c)
			if got != tt.want || !strings.Contains(out, tt.output) {
				t.Errorf("got %s %q, want %s containing %q", got, out, tt.want, tt.output)
			}
		})
	}
}

// TestGRPCProbeFollowsServer: a check through the Runner follows the
// server's status as it changes.
func TestGRPCProbeFollowsServer(t *testing.T) {
	addr, hs := grpcServer(t, true, false)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	changes := make(chan Result, 16)
	cfg := DefaultConfig()
	cfg.MaxSplay = time.Millisecond
	cfg.OnChange = func(r Result) { changes <- r }
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := Check{ID: "g", Type: GRPC, Target: addr + "/api", Interval: time.Second, Timeout: 500 * time.Millisecond, Fall: 1}
	if err := r.Add("api-1", c); err != nil {
		t.Fatal(err)
	}
	wait := func(want Status) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case res := <-changes:
				if res.Status == want {
					return
				}
			case <-deadline:
				st, _ := r.Status("g")
				t.Fatalf("check never became %s (now %s %q)", want, st.Status, st.Output)
			}
		}
	}
	wait(Passing)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_NOT_SERVING)
	wait(Critical)
}

func TestGRPCTargetValidation(t *testing.T) {
	tests := []struct {
		c    Check
		want string
	}{
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1:9090/svc.v1.Api"}, ""},
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1"}, "host:port"},
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1:0"}, "port must be"},
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1:1/a\nb"}, "control character"},
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1:1", TLSSkipVerify: true}, "needs tls"},
		{Check{ID: "a", Type: TCP, Target: "127.0.0.1:1", TLS: true}, "tls applies only"},
		{Check{ID: "a", Type: GRPC, Target: "127.0.0.1:1", Method: "GET"}, "only to an http check"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.c, err, tt.want)
		}
	}
}
