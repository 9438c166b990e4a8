package netrules

import (
	"context"
	"github.com/appliance/appliance/appliance/testcluster/testlog"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// TestFirstWriteFailureIsReported: when the very first write fails (here
// the namespace to program does not exist, so no iptables runs at all), a
// caller waiting for Ready hears about it on Err instead of waiting
// forever, and LastError says the same.
func TestFirstWriteFailureIsReported(t *testing.T) {
	p, err := Start(context.Background(), Config{Client: fake.NewClientset(), NodeName: testNode,
		NetNS: "/nonexistent/netns", MinSyncPeriod: 10 * time.Millisecond, SyncPeriod: time.Hour, Log: testlog.Warnings(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	select {
	case err := <-p.Err():
		if !strings.Contains(err.Error(), "/nonexistent/netns") {
			t.Errorf("Err() = %v, want the namespace named", err)
		}
	case <-p.Ready():
		t.Fatal("ready although nothing was written")
	case <-time.After(30 * time.Second):
		t.Fatal("no error within 30s")
	}
	if err := p.LastError(); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("LastError() = %v", err)
	}
	p.Close()
	p.Close() // twice is fine
}

func TestStartRefusesBadConfig(t *testing.T) {
	if _, err := Start(context.Background(), Config{NodeName: testNode}); err == nil || !strings.Contains(err.Error(), "client is required") {
		t.Errorf("Start without a client: %v", err)
	}
}
