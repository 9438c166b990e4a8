package testcluster

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdClient connects to the etcd of the appliance whose data directory is
// dataDir, on 127.0.0.1:port, over TLS with the API server's etcd client
// certificate, as any etcd client outside the appliance does. It is closed
// when tb ends.
func EtcdClient(tb testing.TB, dataDir string, port int) *clientv3.Client {
	tb.Helper()
	tlsDir := filepath.Join(dataDir, "tls")
	info := transport.TLSInfo{
		CertFile:      filepath.Join(tlsDir, "etcd-client.crt"),
		KeyFile:       filepath.Join(tlsDir, "etcd-client.key"),
		TrustedCAFile: filepath.Join(tlsDir, "etcd-ca.crt"),
	}
	tlsCfg, err := info.ClientConfig()
	if err != nil {
		tb.Fatalf("etcd client TLS: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("https://127.0.0.1:%d", port)},
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// EtcdClient connects to this cluster's etcd (see the function EtcdClient).
func (c *Cluster) EtcdClient(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return EtcdClient(tb, c.Config.DataDir, c.Config.EtcdClientPort)
}
