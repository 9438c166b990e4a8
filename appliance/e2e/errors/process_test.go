package errors_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestKill9KeepsAcknowledgedWrites: every create the server acknowledged (201)
// before a kill -9 in the middle of a stream of creates is there after a restart on
// the same data directory and ports.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	pc := testcluster.NewProcessConfig(t)
	p := testcluster.StartProcess(t, pc)
	const ns, workers, killAfter = "durability", 8, 300
	createNamespace(t, p.Client, ns)

	rc := *p.REST
	rc.Timeout = 10 * time.Second
	client := kubernetes.NewForConfigOrDie(&rc)
	var (
		mu        sync.Mutex
		acked     []string
		killed    atomic.Bool
		inFlight  atomic.Int64 // requests that failed because of the kill
		enough    = make(chan struct{})
		enoughOne sync.Once
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if killed.Load() {
					return
				}
				name := fmt.Sprintf("cm-%d-%d", w, i)
				var code int
				res := client.CoreV1().RESTClient().Post().Namespace(ns).Resource("configmaps").
					Body(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}).
					Do(context.Background()).StatusCode(&code)
				err := res.Error()
				if err == nil && code == http.StatusCreated {
					mu.Lock()
					acked = append(acked, name)
					if len(acked) >= killAfter {
						enoughOne.Do(func() { close(enough) })
					}
					mu.Unlock()
					continue
				}
				if killed.Load() {
					inFlight.Add(1)
					return
				}
				t.Errorf("create %s before the kill: HTTP %d: %v", name, code, err)
				enoughOne.Do(func() { close(enough) })
				return
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d creates acknowledged in 60 s", killAfter)
	}
	killed.Store(true)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(10 * time.Second) {
		t.Fatalf("server still running 10 s after SIGKILL")
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	mu.Lock()
	want := slices.Clone(acked)
	mu.Unlock()
	t.Logf("killed with %d creates acknowledged; %d requests cut off by the kill", len(want), inFlight.Load())

	p2 := testcluster.StartProcess(t, pc)
	list, err := p2.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	var missing []string
	for _, name := range want {
		if !have[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged ConfigMaps lost by kill -9: %v", len(missing), len(want), missing)
	}
	t.Logf("after restart: all %d acknowledged ConfigMaps present (%d stored in all)", len(want), len(list.Items))
}

// TestSIGTERMExitsZero: SIGTERM stops the server cleanly (exit 0) within 10 s,
// idle or with a client's watch open (kubectl get -w, any controller).
func TestSIGTERMExitsZero(t *testing.T) {
	for _, openWatch := range []bool{false, true} {
		name := map[bool]string{false: "Idle", true: "WithOpenWatch"}[openWatch]
		t.Run(name, func(t *testing.T) {
			p := testcluster.StartProcess(t, testcluster.NewProcessConfig(t))
			createNamespace(t, p.Client, "sigterm")
			if openWatch {
				w, err := p.Client.CoreV1().ConfigMaps("sigterm").Watch(context.Background(), metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Stop()
			}
			start := time.Now()
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if !p.WaitExit(10 * time.Second) {
				// SIGQUIT makes Go print every goroutine, which the
				// process log below shows: what the shutdown waits for.
				p.Signal(syscall.SIGQUIT)
				p.WaitExit(5 * time.Second)
				t.Fatalf("server still running 10 s after SIGTERM")
			}
			if code := p.ExitCode(); code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0", code)
			}
			t.Logf("exited 0 %s after SIGTERM", time.Since(start).Round(time.Millisecond))
			// A clean start and stop logs no error, and nothing in klog's
			// format: client-go's lines go through the daemon's log.
			for _, line := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
				if klogLine.MatchString(line) || strings.Contains(line, "level=ERROR") {
					t.Errorf("a klog line or an error in a clean start and stop:\n%s", line)
				}
			}
		})
	}
}

// TestBadConfigRefusesToStart: a bad key or value from each source stops the
// server before it writes anything, with a non-zero exit and a message naming the
// key.
func TestBadConfigRefusesToStart(t *testing.T) {
	bin := testcluster.Binary(t)
	cases := []struct {
		name  string
		args  func(pc testcluster.ProcessConfig, dir string) []string
		env   []string
		names []string // stderr must mention one of these
	}{{
		name: "UnknownKeyInConfigFile",
		args: func(pc testcluster.ProcessConfig, dir string) []string {
			file := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(file, []byte("log-level: info\nnosuchkey: 1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return append(pc.ServerArgs(), "--config", file)
		},
		names: []string{"nosuchkey"},
	}, {
		name: "BadValueInEnvironment",
		// Without --https-port: a flag would win over the environment.
		args:  func(pc testcluster.ProcessConfig, _ string) []string { return without(pc.ServerArgs(), "--https-port") },
		env:   []string{"APPLIANCE_HTTPS_PORT=abc"},
		names: []string{"APPLIANCE_HTTPS_PORT", "https-port"},
	}, {
		name: "BadFlagValue",
		args: func(pc testcluster.ProcessConfig, _ string) []string {
			return append(pc.ServerArgs(), "--service-cidr", "nonsense")
		},
		names: []string{"service-cidr"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc := testcluster.NewProcessConfig(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args(pc, t.TempDir())...)
			cmd.Env = testcluster.ProcessEnv(tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("still running after 30 s (killed); stderr:\n%s", stderr.String())
			}
			if err == nil || cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("exit code 0 (%v), want non-zero; stderr:\n%s", err, stderr.String())
			}
			mentioned := false
			for _, n := range tc.names {
				mentioned = mentioned || strings.Contains(stderr.String(), n)
			}
			if !mentioned {
				t.Errorf("stderr does not name %s:\n%s", strings.Join(tc.names, " or "), stderr.String())
			}
			for _, path := range []string{pc.DataDir, pc.AdminKubeconfig} {
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s was created by a server that refused to start", path)
				}
			}
			t.Logf("exit %d: %s", cmd.ProcessState.ExitCode(), strings.TrimSpace(stderr.String()))
		})
	}
}

func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++ // and its value
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// TestCertificates: the first start writes the admin kubeconfig with mode 0600 and
// serves a certificate for every name in-cluster clients use; a second start on
// the same data directory keeps the same CA, so existing kubeconfigs keep working.
func TestCertificates(t *testing.T) {
	pc := testcluster.NewProcessConfig(t)
	p := testcluster.StartProcess(t, pc)

	expectMode0600(t, pc.AdminKubeconfig)
	caFile := filepath.Join(pc.DataDir, "tls", "ca.crt")
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(pc.DataDir, "tls", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.LoadFromFile(pc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, cluster := range kc.Clusters {
		if !bytes.Equal(cluster.CertificateAuthorityData, caPEM) {
			t.Errorf("kubeconfig cluster %s: CA data is not %s", name, caFile)
		}
	}

	// The certificate the server presents, verified against the cluster CA for
	// every name and address.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: no certificate", caFile)
	}
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(pc.HTTPSPort)), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS handshake with the API server: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates
	conn.Close()
	leaf := served[0]
	inter := x509.NewCertPool()
	for _, c := range served[1:] {
		inter.AddCert(c)
	}
	for _, name := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1", "10.43.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, Intermediates: inter}); err != nil {
			t.Errorf("serving certificate not valid for %s: %v (DNS %v, IPs %v)", name, err, leaf.DNSNames, leaf.IPAddresses)
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.43.0.1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("serving certificate has no IP SAN %s: %v", ip, leaf.IPAddresses)
		}
	}
	onDisk, err := os.ReadFile(filepath.Join(pc.DataDir, "tls", "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(onDisk); block == nil || !bytes.Equal(block.Bytes, leaf.Raw) {
		t.Errorf("served certificate is not tls/apiserver.crt")
	}

	// Second start on the same data directory.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(30 * time.Second) {
		t.Fatalf("server did not stop on SIGTERM")
	}
	firstREST := p.REST
	p2 := testcluster.StartProcess(t, pc)
	for file, before := range map[string][]byte{caFile: caPEM, filepath.Join(pc.DataDir, "tls", "ca.key"): caKey} {
		after, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s changed on the second start", file)
		}
	}
	expectMode0600(t, pc.AdminKubeconfig)
	// The first start's kubeconfig still works.
	old := kubernetes.NewForConfigOrDie(firstREST)
	if _, err := old.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("first start's kubeconfig against the second start: %v", err)
	}
	_ = p2
}

func expectMode0600(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s: mode %#o, want 0600", path, mode)
	}
}

// klogLine is klog's header: severity, date, time (I1126 10:30:09.139365).
var klogLine = regexp.MustCompile(`^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ `)
