package pods

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestStatsSummary: the kubelet endpoint's /stats/summary (what metrics-server
// reads) reports the node and a running container's CPU and memory, to the API
// server's kubelet-client certificate only.
func TestStatsSummary(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, busyboxPod("busy", "sh", "-c", "while true; do :; done"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "busy", "Running", running)

	tlsDir := filepath.Join(c.Config.DataDir, "tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "apiserver-kubelet-client.crt"), filepath.Join(tlsDir, "apiserver-kubelet-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	url := "https://" + c.App.Agent().Addr() + "/stats/summary"
	get := func(certs []tls.Certificate) (*http.Response, error) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		return client.Get(url)
	}
	if resp, err := get(nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without a client certificate: %s, want 401", resp.Status)
		}
	}
	var sum statsv1alpha1.Summary
	var busy *statsv1alpha1.PodStats
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		resp, err := get([]tls.Certificate{cert})
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("stats/summary: %s", resp.Status)
		}
		sum = statsv1alpha1.Summary{}
		if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
			return false, err
		}
		busy = nil
		for i := range sum.Pods {
			if sum.Pods[i].PodRef.Name == "busy" {
				busy = &sum.Pods[i]
			}
		}
		// The second reading has a rate.
		return busy != nil && len(busy.Containers) == 1 && busy.Containers[0].CPU != nil && busy.Containers[0].CPU.UsageNanoCores != nil, nil
	})
	if err != nil {
		t.Fatalf("stats/summary never showed the busy container with a CPU rate: %v; %+v", err, sum)
	}
	cs := busy.Containers[0]
	if *cs.CPU.UsageNanoCores < 100_000_000 {
		t.Fatalf("a busy loop uses %d nanocores, want at least 0.1 core", *cs.CPU.UsageNanoCores)
	}
	if cs.Memory == nil || cs.Memory.WorkingSetBytes == nil || *cs.Memory.WorkingSetBytes == 0 {
		t.Fatalf("container memory: %+v", cs.Memory)
	}
	if sum.Node.NodeName != c.Config.NodeName || sum.Node.Memory == nil || *sum.Node.Memory.AvailableBytes == 0 || sum.Node.Fs == nil {
		t.Fatalf("node stats: %+v", sum.Node)
	}
}
