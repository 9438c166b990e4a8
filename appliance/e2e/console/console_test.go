// Package console tests the real `appliance console` in tmux against a real
// appliance with simulated nodes: what the operator sees on the screen.
package console

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
)

// screen is a command (the console) running in a private tmux server.
type screen struct {
	t      *testing.T
	socket string
}

// sessions numbers the tmux servers of this test process, so that a test can
// run two consoles side by side.
var sessions atomic.Int64

// startConsole runs `appliance console --kubeconfig kubeconfig flags...` in a
// w×h terminal.
func startConsole(t *testing.T, kubeconfig string, w, h int, flags ...string) *screen {
	t.Helper()
	args := append([]string{"console", "--kubeconfig", kubeconfig}, flags...)
	return startTerminal(t, w, h, []string{"KUBECONFIG="}, args...)
}

// startTerminal runs the appliance binary with args in a w×h tmux terminal
// with the extra environment env (KEY=value); its stderr is logged if the
// test fails.
func startTerminal(t *testing.T, w, h int, env []string, args ...string) *screen {
	t.Helper()
	stderr := filepath.Join(t.TempDir(), "stderr")
	s := startShell(t, w, h, env, fmt.Sprintf("%s %s 2>%s", testcluster.Binary(t), strings.Join(args, " "), stderr))
	t.Cleanup(func() {
		if b, err := os.ReadFile(stderr); err == nil && len(b) > 0 && t.Failed() {
			t.Logf("stderr of `appliance %s`:\n%s", strings.Join(args, " "), b)
		}
	})
	return s
}

// startShell runs the shell command line script in a w×h terminal of a
// private tmux server, which the test's end stops.
func startShell(t *testing.T, w, h int, env []string, script string) *screen {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed (make deps installs it)")
	}
	s := &screen{t: t, socket: fmt.Sprintf("appliance-console-%d-%d", os.Getpid(), sessions.Add(1))}
	tmux := []string{"-L", s.socket, "-f", "/dev/null", "new-session", "-d", "-s", "console",
		"-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "-e", "TERM=xterm-256color"}
	for _, kv := range env {
		tmux = append(tmux, "-e", kv)
	}
	if out, err := exec.Command("tmux", append(tmux, script)...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last screen:\n%s", s.capture())
		}
		_ = exec.Command("tmux", "-L", s.socket, "kill-server").Run()
	})
	return s
}

func (s *screen) capture() string {
	out, err := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p", "-t", "console").Output()
	if err != nil {
		return fmt.Sprintf("(capture-pane: %v)", err)
	}
	return string(out)
}

func (s *screen) keys(keys ...string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-L", s.socket, "send-keys", "-t", "console"}, keys...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys: %v\n%s", err, out)
	}
}

// waitFor polls the screen until cond holds or the deadline passes.
func (s *screen) waitFor(what string, timeout time.Duration, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sc := s.capture()
		if cond(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the console never showed %s within %s; screen:\n%s", what, timeout, sc)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      # The simulated kubelet takes 3 s to start the containers, so the
      # flow has a stage time to show, and a pod stays partway through
      # (scheduled, not yet started) long enough to be seen there.
      annotations: {appliance.dev/sim-start-delay: 3s}
    spec:
      containers:
      - name: app
        image: docker.io/library/nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`

const hugePod = `apiVersion: v1
kind: Pod
metadata:
  name: huge
  namespace: default
spec:
  containers:
  - name: app
    image: docker.io/library/busybox:1.36
    resources:
      requests: {cpu: "1000"}
`

// stageTime is the 3 s start of the containers: ✓2.9s, ✓3.0s, ✓3s.
var stageTime = regexp.MustCompile(`✓(2\.[5-9]|3\.[0-9]|3)s`)

// timedStage is a done stage with the time it took: ✓4ms, ✓2.9s.
var timedStage = regexp.MustCompile(`✓\d+(\.\d)?m?s`)

// TestConsoleShowsPodFlow applies a Deployment and an unschedulable pod and
// reads the flow view off the terminal: the Deployment's pods are seen partway
// (scheduled, with its time, the later stages still to come), then pass
// through every stage to Running and Ready with the time each took, and the
// huge pod shows the scheduler's reason.
func TestConsoleShowsPodFlow(t *testing.T) {
	c := testcluster.Start(t, func(cfg *appliance.Config) { cfg.SimulateNodes = 2 })
	s := startConsole(t, c.Kubeconfig, 160, 48)
	s.waitFor("the flow view, connected", 60*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Pod flow") && strings.Contains(sc, "●")
	})

	if out, errOut, err := c.TryKubectl(t, []byte(deployment), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply deployment: %v\n%s%s", err, out, errOut)
	}
	// For the 3 s the simulated kubelet takes, a web pod is scheduled (✓ and
	// a time) with the stages after it not done yet (· and the current one …).
	sc := s.waitFor("a web pod partway through the flow", 30*time.Second, func(sc string) bool {
		for _, line := range strings.Split(sc, "\n") {
			if !strings.Contains(line, "web-") {
				continue
			}
			if n := strings.Count(line, "✓"); n >= 1 && n < 6 && timedStage.MatchString(line) &&
				strings.Contains(line, "…") && strings.Contains(line, "·") {
				return true
			}
		}
		return false
	})
	t.Logf("partway:\n%s", sc)
	s.waitFor("3 web pods Running and Ready with stage times", 90*time.Second, func(sc string) bool {
		done := 0
		for _, line := range strings.Split(sc, "\n") {
			// sched, network, pulled, started, running, ready: all ✓, with times.
			if strings.Contains(line, "web-") && strings.Count(line, "✓") == 6 && stageTime.MatchString(line) {
				done++
			}
		}
		return done == 3
	})

	if out, errOut, err := c.TryKubectl(t, []byte(hugePod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply pod: %v\n%s%s", err, out, errOut)
	}
	sc = s.waitFor("the huge pod's FailedScheduling reason", 60*time.Second, func(sc string) bool {
		for _, line := range strings.Split(sc, "\n") {
			if strings.Contains(line, "huge") && strings.Contains(line, "Insufficient cpu") {
				return true
			}
		}
		return false
	})

	t.Logf("flow view:\n%s", sc)

	// The overview shows the control plane and both simulated nodes healthy.
	s.keys("1")
	s.waitFor("the overview with healthy parts and nodes", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "✓ API server") && strings.Contains(sc, "✓ etcd") &&
			strings.Contains(sc, "✓ scheduler") && strings.Contains(sc, "✓ controller-manager") &&
			strings.Count(sc, "kubelet ✓") == 2 && strings.Contains(sc, "FailedScheduling")
	})
	s.keys("q")
}

const talker = `apiVersion: v1
kind: Pod
metadata:
  name: talker
  namespace: default
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: appliance.test/busybox:1
    imagePullPolicy: Never
    command: ["sh", "-c", "i=0; while true; do echo hello-console-$i; i=$((i+1)); sleep 0.5; done"]
`

// TestConsoleShowsRealLogs runs a real container (the kubelet with containerd
// and runc, needs root) and reads what it printed in the console's logs view.
func TestConsoleShowsRealLogs(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	if out, errOut, err := c.TryKubectl(t, []byte(talker), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply pod: %v\n%s%s", err, out, errOut)
	}
	s := startConsole(t, c.Kubeconfig, 160, 48)
	s.waitFor("the console, connected", 60*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Pod flow") && strings.Contains(sc, "●")
	})
	s.keys(":po")
	s.keys("Enter")
	s.waitFor("the talker pod Running in the pods view", 90*time.Second, func(sc string) bool {
		for _, line := range strings.Split(sc, "\n") {
			if strings.Contains(line, "talker") && strings.Contains(line, "Running") {
				return true
			}
		}
		return false
	})
	s.keys("/talker")
	s.keys("Enter")
	s.keys("l")
	s.waitFor("the container's output in the logs view", 60*time.Second, func(sc string) bool {
		return regexp.MustCompile(`hello-console-\d+`).MatchString(sc)
	})
	s.keys("q")
}

// connected is the status line's mark of a healthy API server at host.
func connected(host string) func(string) bool {
	return func(sc string) bool {
		return strings.Contains(sc, "● "+host) && !strings.Contains(sc, "● "+host+" not ready")
	}
}

// TestBareApplianceOpensConsole runs `appliance` with no arguments: on a
// terminal it is the console (on the cluster $KUBECONFIG names); with its
// input or output not a terminal (a script, a pipe) it prints the help and
// exits instead of waiting in a console nobody sees.
func TestBareApplianceOpensConsole(t *testing.T) {
	c := testcluster.Start(t)

	t.Run("terminal", func(t *testing.T) {
		s := startTerminal(t, 160, 48, []string{"KUBECONFIG=" + c.Kubeconfig})
		s.waitFor("the console, connected", 60*time.Second, connected(c.REST.Host))
		s.keys("1")
		s.waitFor("the overview's control-plane rows", 30*time.Second, func(sc string) bool {
			return strings.Contains(sc, "✓ API server") && strings.Contains(sc, "✓ etcd") &&
				strings.Contains(sc, "✓ scheduler") && strings.Contains(sc, "✓ controller-manager")
		})
		s.keys("q")
	})

	t.Run("no terminal", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, testcluster.Binary(t))
		cmd.Env = testcluster.ProcessEnv("KUBECONFIG=" + c.Kubeconfig)
		// A new session: no controlling terminal for a console to open.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("`appliance` without a terminal did not exit within 30s; stdout:\n%s", out.String())
		}
		if err != nil {
			t.Fatalf("`appliance` without a terminal: %v\n%s%s", err, out.String(), errOut.String())
		}
		assertHelp(t, out.String())
	})

	t.Run("output piped from a terminal", func(t *testing.T) {
		// `appliance | less`: stdin is the terminal, stdout is not.
		dir := t.TempDir()
		outFile, rcFile := filepath.Join(dir, "out"), filepath.Join(dir, "rc")
		script := fmt.Sprintf("%s >%s; echo $? >%s", testcluster.Binary(t), outFile, rcFile)
		startShell(t, 160, 48, []string{"KUBECONFIG=" + c.Kubeconfig}, script)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if rc, err := os.ReadFile(rcFile); err == nil && len(rc) > 0 {
				if strings.TrimSpace(string(rc)) != "0" {
					t.Fatalf("`appliance | ...` exited %s", rc)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("`appliance` with its output piped did not exit within 30s")
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
		out, err := os.ReadFile(outFile)
		if err != nil {
			t.Fatal(err)
		}
		assertHelp(t, string(out))
	})
}

// assertHelp checks that out is the root command's help.
func assertHelp(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"Usage:", "appliance [command]", "console", "server", "kubectl"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the output is not the help (no %q):\n%s", want, out)
		}
	}
}

const keeper = `apiVersion: v1
kind: Pod
metadata:
  name: keeper
  namespace: default
spec:
  containers:
  - name: app
    image: docker.io/library/nginx:1.27
`

// TestConsoleReadonly runs `appliance console --readonly`: the header says
// read-only, ctrl-d on a pod offers no deletion (a "y" after it is just the
// YAML key, and the pod is still there), and the help lists no delete key,
// where the same console without --readonly lists it.
func TestConsoleReadonly(t *testing.T) {
	c := testcluster.Start(t, func(cfg *appliance.Config) { cfg.SimulateNodes = 1 })
	if out, errOut, err := c.TryKubectl(t, []byte(keeper), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply pod: %v\n%s%s", err, out, errOut)
	}
	podsView := func(s *screen) {
		s.t.Helper()
		s.waitFor("the console, connected", 60*time.Second, connected(c.REST.Host))
		s.keys(":po", "Enter")
		s.waitFor("the keeper pod in the pods view", 60*time.Second, func(sc string) bool {
			for _, line := range strings.Split(sc, "\n") {
				if strings.Contains(line, "keeper") && strings.Contains(line, "Running") {
					return true
				}
			}
			return false
		})
		s.keys("/keeper", "Enter")
		s.waitFor("the pods view filtered to keeper", 30*time.Second, func(sc string) bool {
			return strings.Contains(sc, "Pods /keeper")
		})
	}

	s := startConsole(t, c.Kubeconfig, 160, 48, "--readonly")
	s.waitFor("read-only in the header", 60*time.Second, func(sc string) bool {
		return strings.Contains(sc, "read-only")
	})
	podsView(s)
	// Were ctrl-d to ask "Delete default/keeper? y/n", the "y" would delete
	// the pod and the YAML would never show.
	s.keys("C-d")
	s.keys("y")
	sc := s.waitFor("the keeper pod's YAML (the y after ctrl-d)", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "kind: Pod") && strings.Contains(sc, "name: keeper")
	})
	if strings.Contains(sc, "Delete ") {
		t.Fatalf("the read-only console asked to delete:\n%s", sc)
	}
	pod, err := c.Client.CoreV1().Pods("default").Get(context.Background(), "keeper", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the pod is gone after ctrl-d in the read-only console: %v", err)
	}
	if pod.DeletionTimestamp != nil {
		t.Fatalf("the read-only console deleted the pod (deletionTimestamp %s)", pod.DeletionTimestamp)
	}
	// An escape followed at once by "?" would read as alt-?: wait for the
	// pods view first.
	s.keys("Escape")
	s.waitFor("the pods view again", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Pods /keeper") && !strings.Contains(sc, "kind: Pod")
	})
	s.keys("?")
	sc = s.waitFor("the help of the pods view", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Help: Pods") && strings.Contains(sc, "describe")
	})
	if strings.Contains(strings.ToLower(sc), "delete") || strings.Contains(sc, "ctrl-d") {
		t.Fatalf("the read-only console's help lists delete:\n%s", sc)
	}
	s.keys("q", "q")

	// The same help without --readonly lists delete: the check above can fail.
	rw := startConsole(t, c.Kubeconfig, 160, 48)
	podsView(rw)
	rw.keys("?")
	rw.waitFor("the help of the pods view with delete", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Help: Pods") && strings.Contains(sc, "ctrl-d") && strings.Contains(sc, "delete")
	})
	rw.keys("q", "q")
}

// TestConsoleSaysWhenUnreachable stops the appliance under a running console:
// the console says the API server is unreachable and that it keeps retrying,
// and once the appliance is back (same data directory and ports) it shows it
// connected again, with new pods arriving.
func TestConsoleSaysWhenUnreachable(t *testing.T) {
	pc := testcluster.NewProcessConfig(t)
	p := testcluster.StartProcess(t, pc)
	host := p.REST.Host
	s := startConsole(t, pc.AdminKubeconfig, 160, 48)
	s.waitFor("the console, connected", 60*time.Second, connected(host))

	p.Kill()
	s.waitFor("API server unreachable, retrying", 30*time.Second, func(sc string) bool {
		return strings.Contains(sc, "unreachable") && strings.Contains(sc, "retrying")
	})

	p = testcluster.StartProcess(t, pc)
	s.waitFor("the console, connected again", 60*time.Second, func(sc string) bool {
		return connected(host)(sc) && !strings.Contains(sc, "unreachable")
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "after-restart", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/nginx:1.27"}}},
	}
	if _, err := p.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the pod created after the restart in the flow view", 60*time.Second, func(sc string) bool {
		return strings.Contains(sc, "after-restart")
	})
	s.keys("q")
}

// TestConsoleSaysCredentialsRefused points the console at the appliance with
// credentials the API server does not accept: it says so (rather than
// "connected" with nothing in it) and keeps retrying.
func TestConsoleSaysCredentialsRefused(t *testing.T) {
	c := testcluster.Start(t)
	for _, tc := range []struct {
		name string
		user func(t *testing.T) *clientcmdapi.AuthInfo
	}{
		{"bogus bearer token", func(*testing.T) *clientcmdapi.AuthInfo {
			return &clientcmdapi.AuthInfo{Token: "bogus-token-the-server-never-issued"}
		}},
		{"client certificate from another CA", func(t *testing.T) *clientcmdapi.AuthInfo {
			cert, key := untrustedClientCert(t)
			return &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			ctx := kc.Contexts[kc.CurrentContext]
			kc.AuthInfos = map[string]*clientcmdapi.AuthInfo{ctx.AuthInfo: tc.user(t)}
			path := filepath.Join(t.TempDir(), "refused.kubeconfig")
			if err := clientcmd.WriteToFile(*kc, path); err != nil {
				t.Fatal(err)
			}
			s := startConsole(t, path, 160, 48)
			s.waitFor("credentials refused", 60*time.Second, func(sc string) bool {
				return strings.Contains(sc, "credentials refused")
			})
			s.keys("q")
		})
	}
}

// untrustedClientCert is a client certificate for system:admin in
// system:masters, signed by a CA of its own that the server has never seen.
func untrustedClientCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-cluster-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "system:admin", Organization: []string{"system:masters"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
