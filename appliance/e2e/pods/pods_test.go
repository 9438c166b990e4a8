// Package pods runs real pods: the appliance's kubelet with its own containerd,
// runc, the pod network inside a network namespace the test creates, and the
// busybox image built from Debian's busybox-static. Needs root.
package pods

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance/testcluster"
	rtnetwork "github.com/appliance/appliance/runtime/network"
)

func busyboxPod(name string, cmd ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "main", Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: cmd,
			}},
		},
	}
}

func waitPod(t *testing.T, c *testcluster.Cluster, ns, name string, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: %s: %v\nlast status: %+v", ns, name, what, err, statusOf(last))
	}
	return last
}

func statusOf(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	s := fmt.Sprintf("phase=%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, cs := range p.Status.ContainerStatuses {
		s += fmt.Sprintf(" [%s restarts=%d state=%+v last=%+v]", cs.Name, cs.RestartCount, cs.State, cs.LastTerminationState)
	}
	return s
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// httpGet fetches url from inside the node's network namespace.
func httpGet(node, url string) (string, error) {
	path := "/var/run/netns/" + node
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return rtnetwork.DialInNetNS(ctx, path, network, addr)
		},
	}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// inNode runs a command inside the node's network namespace.
func inNode(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

func TestPodRunsServesAndTalks(t *testing.T) {
	c, node := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"

	pod := busyboxPod("web", "sh", "-c", "echo hello from $(hostname); mkdir -p /www; echo served-by-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www")
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, ns, "web", "Running and Ready with an IP", running)
	if !strings.HasPrefix(p.Status.PodIP, "10.42.") {
		t.Fatalf("pod IP %q not in the cluster CIDR", p.Status.PodIP)
	}
	// imageID is the image's digest reference, as the kubelet reports it;
	// image stays as the spec names it.
	imgs, err := c.App.Agent().Runtime().ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantID string
	for _, img := range imgs {
		if img.Name == testcluster.BusyboxImage {
			wantID = strings.TrimSuffix(img.Name, ":1") + "@" + img.Digest
		}
	}
	if wantID == "" || !strings.Contains(wantID, "@sha256:") {
		t.Fatalf("imported busybox image not found among %+v", imgs)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].ImageID != wantID || cs[0].Image != testcluster.BusyboxImage {
		t.Fatalf("container statuses %+v: want image %q, imageID %q", cs, testcluster.BusyboxImage, wantID)
	}

	// Ready comes when the container starts (no readiness probe); httpd may
	// still be binding its port.
	var out string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		var gerr error
		out, gerr = httpGet(node, "http://"+p.Status.PodIP+":8080/")
		return gerr == nil && strings.TrimSpace(out) == "served-by-web", nil
	})
	if err != nil {
		t.Fatalf("GET from the node: %v: %q", err, out)
	}

	logs := c.Kubectl(t, "logs", "web")
	if !strings.Contains(logs, "hello from web") {
		t.Fatalf("kubectl logs = %q", logs)
	}
	if out := c.Kubectl(t, "exec", "web", "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "served-by-web" {
		t.Fatalf("kubectl exec = %q", out)
	}
	_, _, err = c.TryKubectl(t, nil, "exec", "web", "--", "sh", "-c", "exit 3")
	var ee *exec.ExitError
	if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("kubectl exec exit 3: err=%v", err)
	}
}
