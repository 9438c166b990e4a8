package pods

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

const httpdScript = `mkdir -p /www; echo served-by-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www`

// httpdDeployment is a Deployment web of busybox httpd pods (label app=web)
// serving "served-by-<pod name>" on port 8080 (named http), Ready once they
// serve.
func httpdDeployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "httpd", Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
						Command:        []string{"sh", "-c", httpdScript},
						Ports:          []corev1.ContainerPort{{ContainerPort: 8080, Name: "http"}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstrName("http")}}, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
}

// TestDeploymentPodNetwork: a Deployment of three httpd pods gets three pod IPs
// that serve from the node and from each other; two containers of one pod share
// its IP, hostname and localhost.
func TestDeploymentPodNetwork(t *testing.T) {
	c, node := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, httpdDeployment(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 120*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, nil
		}
		pods = nil
		for _, p := range list.Items {
			if running(&p) && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		return len(pods) == 3, nil
	})
	if err != nil {
		t.Fatalf("3 running web pods: %v (have %d)", err, len(pods))
	}
	ips := map[string]string{}
	for _, p := range pods {
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Fatalf("pods %s and %s share IP %s", other, p.Name, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = p.Name
		body, err := httpGet(node, "http://"+p.Status.PodIP+":8080/")
		if err != nil || strings.TrimSpace(body) != "served-by-"+p.Name {
			t.Fatalf("GET %s (%s) from the node: %v %q", p.Status.PodIP, p.Name, err, body)
		}
	}
	// Pod to pod, through the bridge.
	a, b := pods[0], pods[1]
	out := c.Kubectl(t, "exec", a.Name, "--", "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc %s 8080`, b.Status.PodIP))
	if !strings.Contains(out, "served-by-"+b.Name) {
		t.Fatalf("%s -> %s: %q", a.Name, b.Name, out)
	}

	// Two containers, one pod.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "duo"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{
				{Name: "server", Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sh", "-c", httpdScript}},
				{Name: "client", Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "3600"}},
			},
		},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, ns, "duo", "Running", running)
	var got string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, _, err := c.TryKubectl(t, nil, "exec", "duo", "-c", "client", "--", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080`)
		got = out
		return err == nil && strings.Contains(out, "served-by-duo"), nil
	})
	if err != nil {
		t.Fatalf("client -> localhost:8080 in the same pod: %q", got)
	}
	for _, ctr := range []string{"server", "client"} {
		if h := strings.TrimSpace(c.Kubectl(t, "exec", "duo", "-c", ctr, "--", "hostname")); h != "duo" {
			t.Fatalf("hostname in %s = %q", ctr, h)
		}
		if addr := c.Kubectl(t, "exec", "duo", "-c", ctr, "--", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(addr, p.Status.PodIP+"/") {
			t.Fatalf("eth0 in %s = %q, want pod IP %s", ctr, addr, p.Status.PodIP)
		}
	}
	hosts := c.Kubectl(t, "exec", "duo", "-c", "client", "--", "cat", "/etc/hosts")
	if !regexp.MustCompile(regexp.QuoteMeta(p.Status.PodIP) + `\s+duo`).MatchString(hosts) {
		t.Fatalf("/etc/hosts has no line for the pod:\n%s", hosts)
	}
	resolv := c.Kubectl(t, "exec", "duo", "-c", "client", "--", "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.43.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local", "ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Fatalf("/etc/resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
}

// TestLogsExecPortForward: kubectl logs (tail, follow, previous), exec with exit
// codes, and port-forward, through the API server to the kubelet.
func TestLogsExecPortForward(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"
	counter := busyboxPod("counter", "sh", "-c", `i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done`)
	web := busyboxPod("web", "sh", "-c", httpdScript)
	// Each start prints its run number (kept in an emptyDir), then fails.
	flaky := busyboxPod("flaky", "sh", "-c", `n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run-$n; sleep 1; exit 1`)
	flaky.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	flaky.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	for _, p := range []*corev1.Pod{counter, web, flaky} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, c, ns, "counter", "Running", running)
	waitPod(t, c, ns, "web", "Running", running)

	// --tail
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		out := c.Kubectl(t, "logs", "counter", "--tail=3")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return len(lines) == 3 && strings.HasPrefix(lines[0], "line "), nil
	})
	if err != nil {
		t.Fatalf("kubectl logs --tail=3: %v", err)
	}

	// -f keeps delivering new lines.
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := c.KubectlCmd(t, "logs", "-f", "--tail=1", "counter")
	cmd = exec.CommandContext(fctx, cmd.Path, cmd.Args[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var first, n int
	for sc.Scan() {
		var v int
		if _, err := fmt.Sscanf(sc.Text(), "line %d", &v); err != nil {
			continue
		}
		if n == 0 {
			first = v
		}
		n++
		if v >= first+10 {
			break
		}
	}
	cancel()
	_ = cmd.Wait()
	if n < 10 {
		t.Fatalf("kubectl logs -f delivered %d lines", n)
	}

	// exec and its exit codes.
	if out := strings.TrimSpace(c.Kubectl(t, "exec", "web", "--", "cat", "/www/index.html")); out != "served-by-web" {
		t.Fatalf("exec cat = %q", out)
	}
	_, _, err = c.TryKubectl(t, nil, "exec", "web", "--", "sh", "-c", "exit 7")
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exec exit 7: %v", err)
	}
	if out, _, err := c.TryKubectl(t, []byte("from-stdin\n"), "exec", "-i", "web", "--", "cat"); err != nil || strings.TrimSpace(out) != "from-stdin" {
		t.Fatalf("exec -i cat: %v %q", err, out)
	}

	// port-forward to the pod's port 8080, from the host's loopback.
	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	defer pcancel()
	pf := c.KubectlCmd(t, "port-forward", "pod/web", "0:8080")
	pf = exec.CommandContext(pctx, pf.Path, pf.Args[1:]...)
	pout, err := pf.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pcancel(); _ = pf.Wait() }()
	line, err := bufio.NewReader(pout).ReadString('\n')
	if err != nil {
		t.Fatalf("port-forward output: %v", err)
	}
	m := regexp.MustCompile(`127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("port-forward said %q", line)
	}
	resp, err := http.Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatalf("GET through port-forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "served-by-web" {
		t.Fatalf("port-forward body %q", body)
	}

	// --previous shows the last run's output once the container restarted.
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "flaky", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
			return false, nil
		}
		prev, _, err := c.TryKubectl(t, nil, "logs", "flaky", "--previous")
		cur, _, err2 := c.TryKubectl(t, nil, "logs", "flaky")
		restarts := p.Status.ContainerStatuses[0].RestartCount
		return err == nil && err2 == nil &&
			strings.TrimSpace(prev) == fmt.Sprintf("run-%d", restarts) &&
			strings.TrimSpace(cur) == fmt.Sprintf("run-%d", restarts+1), nil
	})
	if err != nil {
		p, _ := c.Client.CoreV1().Pods(ns).Get(ctx, "flaky", metav1.GetOptions{})
		prev, perr, _ := c.TryKubectl(t, nil, "logs", "flaky", "--previous")
		t.Fatalf("logs --previous after a restart: %v; status %s; previous=%q %s", err, statusOf(p), prev, perr)
	}
}

// TestConfigMapAndSecret: a configMap volume and env from a Secret show their
// values inside the container, and an update of the ConfigMap reaches the file.
func TestConfigMapAndSecret(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"greeting": "hello"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := busyboxPod("reader", "sleep", "3600")
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg"}}
	pod.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		// Set before the kubelet first writes the pod's IP to its status.
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, ns, "reader", "Running", running)
	if p.Status.PodIP == "" || p.Status.HostIP == "" {
		t.Fatalf("status without IPs: podIP %q hostIP %q", p.Status.PodIP, p.Status.HostIP)
	}
	if got, want := strings.TrimSpace(c.Kubectl(t, "exec", "reader", "--", "sh", "-c", "echo $POD_IP/$HOST_IP")), p.Status.PodIP+"/"+p.Status.HostIP; got != want {
		t.Fatalf("env from status.podIP/status.hostIP = %q, want %q", got, want)
	}
	if got := strings.TrimSpace(c.Kubectl(t, "exec", "reader", "--", "cat", "/etc/cfg/greeting")); got != "hello" {
		t.Fatalf("configMap file = %q", got)
	}
	if got := strings.TrimSpace(c.Kubectl(t, "exec", "reader", "--", "sh", "-c", "echo $PASSWORD/$POD_NAME")); got != "s3cret/reader" {
		t.Fatalf("env = %q", got)
	}
	c.Kubectl(t, "patch", "configmap", "settings", "--type=merge", "-p", `{"data":{"greeting":"bonjour"}}`)
	var got string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		got = strings.TrimSpace(c.Kubectl(t, "exec", "reader", "--", "cat", "/etc/cfg/greeting"))
		return got == "bonjour", nil
	})
	if err != nil {
		t.Fatalf("configMap update not seen in the container: %q", got)
	}
}
