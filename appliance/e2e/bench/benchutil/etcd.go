package benchutil

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/appliance/appliance/appliance/testcluster"
)

// EtcdClient connects to the appliance's etcd over TLS with the API server's
// etcd client certificate, as any etcd client outside the appliance does. It
// is closed when tb ends.
func EtcdClient(tb testing.TB, c *testcluster.Cluster) *clientv3.Client {
	tb.Helper()
	tlsDir := filepath.Join(c.Config.DataDir, "tls")
	info := transport.TLSInfo{
		CertFile:      filepath.Join(tlsDir, "etcd-client.crt"),
		KeyFile:       filepath.Join(tlsDir, "etcd-client.key"),
		TrustedCAFile: filepath.Join(tlsDir, "etcd-ca.crt"),
	}
	tlsCfg, err := info.ClientConfig()
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("https://127.0.0.1:%d", c.Config.EtcdClientPort)},
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}
