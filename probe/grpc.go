package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// SplitGRPCTarget splits a grpc check target "host:port" or
// "host:port/service" into the address to dial and the service name to ask
// about ("" asks for the server's overall health, as grpc.health.v1 defines).
func SplitGRPCTarget(target string) (addr, service string, err error) {
	if len(target) > MaxTargetLen {
		return "", "", fmt.Errorf("target longer than %d bytes", MaxTargetLen)
	}
	addr, service, _ = strings.Cut(target, "/")
	if err := validHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%v (grpc targets are host:port or host:port/service)", err)
	}
	if strings.ContainsAny(service, "\x00\r\n") {
		return "", "", errors.New("target: grpc service name has a control character")
	}
	return addr, service, nil
}

// grpcProbe asks Target's grpc.health.v1.Health/Check. SERVING is passing;
// NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, an RPC error (including a server
// without the health service) and the timeout are critical. A connection is
// made per probe and closed after it, so nothing outlives the probe; no proxy
// from the environment is used (checks target the local host).
func grpcProbe(c Check) probeFunc {
	addr, service, _ := SplitGRPCTarget(c.Target) // validated
	creds := insecure.NewCredentials()
	if c.TLS {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: c.TLSSkipVerify}) //nolint:gosec // operator's explicit choice
	}
	d := dialer(c)
	return func(ctx context.Context) (Status, string) {
		desc := "gRPC health " + c.Target
		conn, err := grpc.NewClient("passthrough:///"+addr,
			grpc.WithTransportCredentials(creds),
			grpc.WithNoProxy(),
			grpc.WithUserAgent(userAgent),
			grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp", a)
			}),
		)
		if err != nil {
			return Critical, fmt.Sprintf("%s: %v", desc, err)
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			if ctx.Err() != nil {
				return Critical, fmt.Sprintf("%s: %v", desc, timeoutErr(ctx, err, c.Timeout))
			}
			if st, ok := status.FromError(err); ok {
				if st.Code() == codes.Unimplemented {
					return Critical, fmt.Sprintf("%s: the server has no grpc.health.v1 service", desc)
				}
				return Critical, clipOutput(fmt.Sprintf("%s: %s: %s", desc, st.Code(), st.Message()))
			}
			return Critical, clipOutput(fmt.Sprintf("%s: %v", desc, err))
		}
		out := fmt.Sprintf("%s: %s", desc, resp.GetStatus())
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return Passing, out
		}
		return Critical, out
	}
}
