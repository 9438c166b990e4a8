package reference

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/e2e/bench/benchutil"
	"github.com/appliance/appliance/appliance/pki"
	"github.com/appliance/appliance/appliance/testcluster"
)

// kubeAPIServerEnv names the kube-apiserver binary to measure.
const kubeAPIServerEnv = "APPLIANCE_BENCH_KUBE_APISERVER"

// etcdPrefix is kube-apiserver's root in the shared etcd; the appliance keeps
// its objects under /registry.
const etcdPrefix = "/reference"

func TestMain(m *testing.M) {
	benchutil.Setup()
	os.Exit(m.Run())
}

// BenchmarkAgainstKubeAPIServer: the appliance (API only, in this process) and
// the upstream kube-apiserver (a child process, with what kubeadm gives it:
// Node,RBAC authorization, the default admission plugins plus NodeRestriction)
// both store in the appliance's embedded etcd, kube-apiserver under /reference
// through gRPC over TLS as any external API server does. Each sub-benchmark runs
// the 16-worker pool of appliance/e2e/bench with its ConfigMap:
//
//   - create/appliance, create/kube-apiserver: ConfigMap creates (protobuf);
//   - get/appliance, get/kube-apiserver: Get of one ConfigMap by name;
//   - etcd-put/grpc: raw puts of the appliance's stored ConfigMap size, through
//     an etcd client over TLS (the floor of BenchmarkEtcdPutFloor/grpc).
//
// Besides p50-ms, p99-ms and ops/s every sub-benchmark reports, for phases of
// 1 s or more:
//
//   - cpu-self-cores (appliance and etcd-put): this process, that is the
//     appliance's API server, the embedded etcd and the client workers;
//   - cpu-bench-process-cores (kube-apiserver): the same process, which then
//     runs the client workers and etcd while the appliance's API server idles;
//     kube-apiserver's own CPU is not in it;
//   - cpu-kube-apiserver-cores: the child's utime+stime from /proc/<pid>/stat
//     (idle in the appliance and etcd phases);
//   - cpu-other-cores: the rest of the machine (neither process);
//   - cpu-ms/op: this process plus kube-apiserver, per operation: server, etcd
//     and client together, comparable between the two servers.
//
// Ratios: appliance/kube-apiserver (creates, and gets), and each server's
// creates divided by the etcd puts (appliance-create/etcd,
// kube-apiserver-create/etcd).
func BenchmarkAgainstKubeAPIServer(b *testing.B) {
	bin := os.Getenv(kubeAPIServerEnv)
	if bin == "" {
		b.Fatalf("%s is not set: it must name a kube-apiserver binary (v1.37.2, built from the Go module proxy; see docs/PERFORMANCE.md)", kubeAPIServerEnv)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%s: %v", kubeAPIServerEnv, err)
	}

	c := testcluster.Start(b, testcluster.APIOnly)
	kas := startKubeAPIServer(b, bin, c)

	app := client(b, c.REST)
	ref := client(b, kas.rest)
	for _, cs := range []kubernetes.Interface{app, ref} {
		warmUp(b, cs)
	}

	targets := []target{
		{name: "appliance", cs: app},
		{name: "kube-apiserver", cs: ref, isKAS: true},
	}
	var (
		creates = map[string]float64{}
		gets    = map[string]float64{}
		nsOf    = map[string]string{}
	)
	b.Run("create", func(b *testing.B) {
		for _, t := range targets {
			b.Run(t.name, func(b *testing.B) {
				ns := namespace(b, t.cs, "bench-create")
				cms := t.cs.CoreV1().ConfigMaps(ns)
				r, kasSec := measure(b, kas, func(i int) error {
					_, err := cms.Create(context.Background(), benchutil.ConfigMap("cm-"+strconv.Itoa(i)), metav1.CreateOptions{})
					return err
				})
				report(b, r, kasSec, t.isKAS)
				creates[t.name], nsOf[t.name] = r.OpsPerSec(), ns
				if t.isKAS && creates["appliance"] > 0 {
					b.ReportMetric(creates["appliance"]/r.OpsPerSec(), "appliance/kube-apiserver")
				}
			})
		}
	})
	b.Run("get", func(b *testing.B) {
		for _, t := range targets {
			b.Run(t.name, func(b *testing.B) {
				ns := namespace(b, t.cs, "bench-get")
				cms := t.cs.CoreV1().ConfigMaps(ns)
				if _, err := cms.Create(context.Background(), benchutil.ConfigMap("target"), metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				r, kasSec := measure(b, kas, func(int) error {
					_, err := cms.Get(context.Background(), "target", metav1.GetOptions{})
					return err
				})
				report(b, r, kasSec, t.isKAS)
				gets[t.name] = r.OpsPerSec()
				if t.isKAS && gets["appliance"] > 0 {
					b.ReportMetric(gets["appliance"]/r.OpsPerSec(), "appliance/kube-apiserver")
				}
			})
		}
	})
	b.Run("etcd-put", func(b *testing.B) {
		b.Run("grpc", func(b *testing.B) {
			cli := c.EtcdClient(b)
			// The size of what the appliance stored for a ConfigMap of
			// create/appliance, as BenchmarkEtcdPutFloor puts; kube-apiserver's
			// is reported beside it.
			size := func(key string) int {
				resp, err := cli.Get(context.Background(), key)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Kvs) != 1 {
					return 0
				}
				return len(resp.Kvs[0].Value)
			}
			appSize, kasSize := 0, 0
			if ns := nsOf["appliance"]; ns != "" {
				appSize = size("/registry/core/configmaps/" + ns + "/cm-0")
			}
			if ns := nsOf["kube-apiserver"]; ns != "" {
				kasSize = size(etcdPrefix + "/configmaps/" + ns + "/cm-0")
			}
			if appSize == 0 {
				b.Fatal("no ConfigMap of create/appliance in etcd to size the puts by (run the create sub-benchmarks too)")
			}
			value := string(make([]byte, appSize))
			prefix := fmt.Sprintf("/bench-floor/reference-%d/", time.Now().UnixNano())
			r, kasSec := measure(b, kas, func(i int) error {
				_, err := cli.Put(context.Background(), prefix+strconv.Itoa(i), value)
				return err
			})
			report(b, r, kasSec, false)
			b.ReportMetric(float64(appSize), "value-bytes")
			if kasSize > 0 {
				b.ReportMetric(float64(kasSize), "kube-apiserver-value-bytes")
			}
			for _, t := range targets {
				if creates[t.name] > 0 {
					b.ReportMetric(creates[t.name]/r.OpsPerSec(), t.name+"-create/etcd")
				}
			}
			if creates["kube-apiserver"] > 0 {
				b.Logf("creates/s: appliance %.0f, kube-apiserver %.0f (ratio %.2f); gets/s: appliance %.0f, kube-apiserver %.0f; etcd puts/s %.0f; creates/puts: appliance %.3f, kube-apiserver %.3f",
					creates["appliance"], creates["kube-apiserver"], creates["appliance"]/creates["kube-apiserver"],
					gets["appliance"], gets["kube-apiserver"], r.OpsPerSec(),
					creates["appliance"]/r.OpsPerSec(), creates["kube-apiserver"]/r.OpsPerSec())
			}
		})
	})
}

// target is one API server and a client of it.
type target struct {
	name  string
	cs    kubernetes.Interface
	isKAS bool
}

// measure runs op on the shared pool and also returns the CPU seconds
// kube-apiserver spent meanwhile.
func measure(b *testing.B, kas *kubeAPIServer, op func(i int) error) (benchutil.Result, float64) {
	b.Helper()
	before := kas.cpuSeconds(b)
	r := benchutil.Pool(b, op)
	return r, kas.cpuSeconds(b) - before
}

// report adds p50-ms, p99-ms, ops/s and the CPU figures described on
// BenchmarkAgainstKubeAPIServer.
func report(b *testing.B, r benchutil.Result, kasSec float64, isKAS bool) {
	b.ReportMetric(benchutil.MS(benchutil.Percentile(r.Lat, 0.50)), "p50-ms")
	b.ReportMetric(benchutil.MS(benchutil.Percentile(r.Lat, 0.99)), "p99-ms")
	b.ReportMetric(r.OpsPerSec(), "ops/s")
	u := r.CPU
	if u.Wall < 1 {
		return // a smoke run's: /proc's 10 ms ticks would make the figures noise
	}
	self := "cpu-self-cores"
	if isKAS {
		self = "cpu-bench-process-cores"
	}
	b.ReportMetric(u.Self/u.Wall, self)
	b.ReportMetric(kasSec/u.Wall, "cpu-kube-apiserver-cores")
	if u.Other >= 0 {
		b.ReportMetric(max(0, u.Other-kasSec)/u.Wall, "cpu-other-cores")
	}
	b.ReportMetric((u.Self+kasSec)*1000/float64(r.Ops), "cpu-ms/op")
}

// client is a clientset for rc without client-side rate limiting, speaking
// protobuf, as BenchmarkCreate/protobuf's.
func client(b *testing.B, rc *rest.Config) kubernetes.Interface {
	b.Helper()
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.Timeout = time.Minute
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

var runs struct {
	mu sync.Mutex
	n  int
}

// namespace creates a namespace of its own for one benchmark run.
func namespace(b *testing.B, cs kubernetes.Interface, prefix string) string {
	b.Helper()
	runs.mu.Lock()
	runs.n++
	name := fmt.Sprintf("%s-%d", prefix, runs.n)
	runs.mu.Unlock()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		b.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// warmUp creates and reads some ConfigMaps from every worker before the first
// measurement, as appliance/e2e/bench does, so that connections, caches and
// the heap of both servers are in their steady state.
func warmUp(b *testing.B, cs kubernetes.Interface) {
	b.Helper()
	ns := namespace(b, cs, "bench-warmup")
	var wg sync.WaitGroup
	errs := make(chan error, benchutil.Workers)
	for w := range benchutil.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("cm-%d-%d", w, i)
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), benchutil.ConfigMap(name), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("warm-up: %v", err)
	}
}

// kubeAPIServer is the upstream API server, a child process.
type kubeAPIServer struct {
	cmd  *exec.Cmd
	rest *rest.Config // the appliance's admin client certificate, kube-apiserver's address and CA
}

// kubeAPIServerFlags are kube-apiserver's flags: those of kubeadm's that bear
// on these requests (authorization, admission, service accounts), on loopback
// only, against the appliance's etcd. Left out, as nothing here uses them: the
// front proxy (requestheader), bootstrap tokens and the kubelet client.
func kubeAPIServerFlags(dir string, port int, tlsDir string, etcdPort int) []string {
	return []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconcilers refuse a loopback advertise address; this
		// one leaves the kubernetes service's endpoints alone (one lease write
		// every 10 s less than kubeadm's kube-apiserver does).
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + dir,
		"--tls-cert-file=" + filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "serving.key"),
		// The appliance's cluster CA: its admin certificate (O=system:masters)
		// works on both servers.
		"--client-ca-file=" + filepath.Join(tlsDir, "ca.crt"),
		"--etcd-servers=https://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--etcd-cafile=" + filepath.Join(tlsDir, "etcd-ca.crt"),
		"--etcd-certfile=" + filepath.Join(tlsDir, "etcd-client.crt"),
		"--etcd-keyfile=" + filepath.Join(tlsDir, "etcd-client.key"),
		"--etcd-prefix=" + etcdPrefix,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--authorization-mode=Node,RBAC",
		// The default plugins, plus NodeRestriction as kubeadm and k3s add.
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
	}
}

// startKubeAPIServer starts kube-apiserver on a free loopback port against the
// appliance's etcd, waits for its /readyz, and kills it when b ends.
func startKubeAPIServer(b *testing.B, bin string, c *testcluster.Cluster) *kubeAPIServer {
	b.Helper()
	dir := b.TempDir()
	tlsDir := filepath.Join(c.Config.DataDir, "tls")

	// A serving certificate of its own, from a CA of its own.
	ca, err := pki.LoadOrCreateCA(dir, "serving-ca", "kube-apiserver-reference-ca")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := ca.EnsureLeaf(dir, "serving", pki.Leaf{CommonName: "kube-apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		b.Fatal(err)
	}
	if filepath.Base(pair.CertFile) != "serving.crt" || filepath.Base(pair.KeyFile) != "serving.key" {
		b.Fatalf("serving pair written as %s, %s", pair.CertFile, pair.KeyFile)
	}
	writeServiceAccountKeys(b, dir)

	port := testcluster.FreePorts(b, 1)[0]
	logPath := filepath.Join(dir, "kube-apiserver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, kubeAPIServerFlags(dir, port, tlsDir, c.Config.EtcdClientPort)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// It dies with this process, however this process ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		// By PID: SIGTERM, and SIGKILL if it has not exited within 10 s.
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	rc := rest.CopyConfig(c.REST)
	rc.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	rc.TLSClientConfig.CAData = nil
	rc.TLSClientConfig.CAFile = ca.CertFile
	rc.TLSClientConfig.ServerName = ""
	k := &kubeAPIServer{cmd: cmd, rest: rc}

	// Ready when /readyz says ok, within 2 minutes (it bootstraps RBAC, the
	// priority-and-fairness configuration and more on its first start).
	probe, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := probe.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return k
		}
		lastErr = err
		if lastErr == nil {
			lastErr = fmt.Errorf("/readyz: %q", body)
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			b.Fatalf("kube-apiserver exited before it was ready: %v\n%s", err, tail(logPath))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			b.Fatalf("kube-apiserver not ready within 2 minutes: %v\n%s", lastErr, tail(logPath))
		}
	}
}

// writeServiceAccountKeys writes dir/sa.key and dir/sa.pub, the service
// account token signing key pair kube-apiserver requires (RSA 2048, as
// kubeadm's).
func writeServiceAccountKeys(b *testing.B, dir string) {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pubPEM, 0o644); err != nil {
		b.Fatal(err)
	}
}

// cpuSeconds is kube-apiserver's user+system CPU time so far, from
// /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 1/100 s ticks).
func (k *kubeAPIServer) cpuSeconds(b *testing.B) float64 {
	b.Helper()
	s, err := procCPUSeconds(k.cmd.Process.Pid)
	if err != nil {
		b.Fatalf("kube-apiserver CPU: %v", err)
	}
	return s
}

func procCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / 100, nil
}

// tail is the end of a log file, for a failure message.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return string(data)
}
