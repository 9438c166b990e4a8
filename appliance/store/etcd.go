// Package store runs the embedded etcd that holds all cluster state. Only the API
// server talks to it: etcd listens on loopback, with its own CA, and accepts only
// clients that present a certificate from that CA.
//
// One member is tuned to be ready in well under a second: it campaigns at once
// (initial election tick advance) and uses short ticks, since there is no peer whose
// slowness a long election timeout would have to forgive.
package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/appliance/appliance/appliance/logging"
)

// Config says where etcd keeps its data, where it listens and which certificates it
// uses. Every field is required but the ports, which default to 2379 and 2380.
type Config struct {
	Name       string // member name, the node name
	DataDir    string // etcd's own directory (member/ beneath it)
	Host       string // listen address; 127.0.0.1 keeps etcd private to this machine
	ClientPort int
	PeerPort   int

	CAFile         string // the etcd CA: signs the server, peer and client certificates
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string // what the API server presents
	ClientKeyFile  string
}

// Validate reports the first missing or bad field.
func (c *Config) Validate() error {
	if c.Name == "" || c.DataDir == "" {
		return errors.New("etcd: name and data dir are required")
	}
	for _, f := range []string{c.CAFile, c.ServerCertFile, c.ServerKeyFile, c.ClientCertFile, c.ClientKeyFile} {
		if f == "" {
			return errors.New("etcd: CA, server and client certificate files are required")
		}
	}
	for _, p := range []int{c.ClientPort, c.PeerPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("etcd: port %d out of range", p)
		}
	}
	return nil
}

// Endpoint is the client URL the API server dials.
func (c *Config) Endpoint() string {
	return "https://" + hostPort(c.Host, c.ClientPort)
}

// Etcd is a running embedded member.
type Etcd struct {
	cfg Config
	e   *embed.Etcd
	log *slog.Logger

	inProcessOnce sync.Once
	inProcess     *clientv3.Client
}

// Start starts the member and returns once it serves clients or fails.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Etcd, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ClientPort == 0 {
		cfg.ClientPort = 2379
	}
	if cfg.PeerPort == 0 {
		cfg.PeerPort = 2380
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	clientURL := url.URL{Scheme: "https", Host: hostPort(cfg.Host, cfg.ClientPort)}
	peerURL := url.URL{Scheme: "https", Host: hostPort(cfg.Host, cfg.PeerPort)}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	// etcd's HTTP endpoints (/health, /metrics, the gRPC gateway) get a port
	// of their own, so that the client port is gRPC only: etcd then serves it
	// with gRPC's own HTTP/2 server instead of net/http's, which costs less CPU
	// per request.
	ec.ListenClientHttpUrls = []url.URL{{Scheme: "https", Host: hostPort(cfg.Host, 0)}}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	ec.InitialCluster = cfg.Name + "=" + peerURL.String()
	ec.InitialClusterToken = "appliance"
	tls := transport.TLSInfo{
		CertFile:       cfg.ServerCertFile,
		KeyFile:        cfg.ServerKeyFile,
		TrustedCAFile:  cfg.CAFile,
		ClientCertAuth: true,
	}
	ec.ClientTLSInfo, ec.PeerTLSInfo = tls, tls
	ec.TickMs, ec.ElectionMs = 50, 500
	ec.InitialElectionTickAdvance = true
	// The API server compacts history itself (so that watches get 410 Gone);
	// etcd's own compactor stays off.
	ec.AutoCompactionRetention = "0"
	ec.QuotaBackendBytes = 8 << 30
	// 3 MiB request bodies plus protobuf envelope must fit in one etcd request.
	ec.MaxRequestBytes = 4 << 20
	// etcd's errors, in the daemon's log format; those that only say it is
	// stopping are debug lines.
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(logging.ZapCore(logging.Library(log, "etcd"), zapcore.ErrorLevel)))
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start etcd: %w", err)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, ctx.Err()
	}
	s := &Etcd{cfg: cfg, e: e, log: log}
	return s, nil
}

// Err reports a fatal error of the running member.
func (s *Etcd) Err() <-chan error { return s.e.Err() }

// Endpoint is the URL clients dial.
func (s *Etcd) Endpoint() string { return s.cfg.Endpoint() }

// Client opens a client with the API server's certificate, for health checks,
// tests and benchmarks.
func (s *Etcd) Client() (*clientv3.Client, error) {
	tlsCfg, err := s.ClientTLS()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// InProcessClient is a client that calls this member directly, with no
// socket, TLS or gRPC encoding in between (etcd's v3client, as its gRPC proxy
// uses). It is closed with the member.
func (s *Etcd) InProcessClient() *clientv3.Client {
	s.inProcessOnce.Do(func() { s.inProcess = v3client.New(s.e.Server) })
	return s.inProcess
}

// ClientTLS is the TLS configuration of a trusted etcd client.
func (s *Etcd) ClientTLS() (*tls.Config, error) {
	info := transport.TLSInfo{
		CertFile:      s.cfg.ClientCertFile,
		KeyFile:       s.cfg.ClientKeyFile,
		TrustedCAFile: s.cfg.CAFile,
	}
	return info.ClientConfig()
}

// Close stops the member; every acknowledged write is already on disk (etcd fsyncs
// its WAL before it answers).
func (s *Etcd) Close() {
	if s.inProcess != nil {
		s.inProcess.Close()
	}
	s.e.Close()
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
