package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/apiserver"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/store"
	"github.com/appliance/appliance/dns"
	"github.com/appliance/appliance/netrules"
	"github.com/appliance/appliance/runtime/kubelet"
)

// Version is the appliance's version, set at build time.
var Version = "0.1.0-dev"

// Appliance is a running server: etcd, the API server and the controllers.
type Appliance struct {
	cfg    Config
	log    *slog.Logger
	paths  Paths
	etcd   *store.Etcd
	cancel context.CancelFunc
	ready  chan struct{}
	errc   chan error
	done   chan struct{}
	once   sync.Once
	port   int
	certs  *clusterCerts
	mu     sync.Mutex
	sim    *simulate.Simulator
	agent  *kubelet.Kubelet
	dns    *dns.Server
	proxy  *netrules.Proxier
	// The controller manager and the scheduler stop before the API server,
	// so that they hand their Leases back (and log no errors) while it still
	// serves. closing (under mu) keeps parts from starting once Close waits.
	stopParts context.CancelFunc
	parts     sync.WaitGroup
	closing   bool
}

// Paths are the files the appliance keeps under its data directory.
type Paths struct {
	TLSDir  string
	EtcdDir string
}

func pathsFor(cfg Config) Paths {
	return Paths{
		TLSDir:  filepath.Join(cfg.DataDir, "tls"),
		EtcdDir: filepath.Join(cfg.DataDir, "etcd"),
	}
}

// Start brings the control plane up in order: certificates, etcd, the API server,
// then the controllers. It returns once everything has been started; Ready closes
// when /readyz answers ok and the default namespaces exist. Any part that fails
// after that reports on Err. A half-started appliance cleans up after itself.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Appliance, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	partsCtx, stopParts := context.WithCancel(ctx)
	a := &Appliance{
		cfg: cfg, log: log, paths: pathsFor(cfg), cancel: cancel, stopParts: stopParts,
		ready: make(chan struct{}), errc: make(chan error, 4),
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	log.Info("effective config",
		"data-dir", cfg.DataDir, "bind-address", cfg.BindAddress, "https-port", cfg.HTTPSPort,
		"node-name", cfg.NodeName, "cluster-cidr", cfg.ClusterCIDR, "service-cidr", cfg.ServiceCIDR,
		"cluster-dns", cfg.ClusterDNS, "cluster-domain", cfg.ClusterDomain,
		"admin-kubeconfig", cfg.AdminKubeconfig, "etcd-client-port", cfg.EtcdClientPort)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	certs, err := ensureCerts(cfg, a.paths)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}

	a.etcd, err = store.Start(ctx, store.Config{
		Name: cfg.NodeName, DataDir: a.paths.EtcdDir, Host: "127.0.0.1",
		ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort,
		CAFile: certs.etcdCA, ServerCertFile: certs.etcdServer.CertFile, ServerKeyFile: certs.etcdServer.KeyFile,
		ClientCertFile: certs.etcdClient.CertFile, ClientKeyFile: certs.etcdClient.KeyFile,
	}, log.With("part", "etcd"))
	if err != nil {
		return nil, err
	}
	log.Info("etcd ready", "took", time.Since(start).Round(time.Millisecond))

	kubeletClientConfig, err := certs.kubeletClientTLS(cfg.KubeletPort)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress.String(), fmt.Sprint(cfg.HTTPSPort)))
	if err != nil {
		return nil, fmt.Errorf("api server: listen: %w", err)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	srv, err := apiserver.New(apiserver.Config{
		Listener:        ln,
		ServingCertFile: certs.serving.CertFile,
		ServingKeyFile:  certs.serving.KeyFile,
		ClientCAFile:    certs.ca.CertFile,
		Etcd: apiserver.EtcdConfig{
			Endpoints: []string{a.etcd.Endpoint()},
			InProcess: a.etcd.InProcessClient(),
			CAFile:    certs.etcdCA, CertFile: certs.etcdClient.CertFile, KeyFile: certs.etcdClient.KeyFile,
			CompactionInterval: cfg.CompactionInterval,
		},
		ServiceCIDR:      cfg.ServiceCIDR,
		AdvertiseAddress: cfg.advertiseAddress(),
		Kubelet:          kubeletClientConfig,
		Version:          Version,
		Log:              log.With("part", "apiserver"),
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("api server: %w", err)
	}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := srv.Run(ctx); err != nil {
			a.errc <- fmt.Errorf("api server: %w", err)
		}
	}()
	go func() {
		select {
		case err := <-a.etcd.Err():
			if err != nil {
				a.errc <- fmt.Errorf("etcd: %w", err)
			}
		case <-ctx.Done():
		}
	}()

	if err := writeAdminKubeconfig(cfg, certs, a.port); err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}

	a.certs = certs
	controllerCfg, err := certs.clientConfig(a.port, "system:kube-controller-manager")
	if err != nil {
		return nil, err
	}
	go a.waitReady(ctx, partsCtx, srv.LoopbackConfig(), controllerCfg, start)
	return a, nil
}

// waitReady polls /readyz, then starts the controllers and closes Ready. The
// controller manager and the scheduler run on partsCtx.
func (a *Appliance) waitReady(ctx, partsCtx context.Context, loopback, controllers *rest.Config, start time.Time) {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		a.errc <- err
		return
	}
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := a.startControllers(partsCtx, controllers); err != nil {
		a.errc <- err
		return
	}
	if !a.cfg.DisableScheduler {
		if err := a.startScheduler(partsCtx, a.certs); err != nil {
			a.errc <- err
			return
		}
	}
	if a.cfg.SimulateNodes > 0 {
		if err := a.startSimulator(ctx, a.certs); err != nil {
			a.errc <- err
			return
		}
	}
	if !a.cfg.DisableAgent {
		if err := a.startAgent(ctx); err != nil {
			a.errc <- err
			return
		}
	}
	a.log.Info("appliance ready", "took", time.Since(start).Round(time.Millisecond), "port", a.port)
	close(a.ready)
}

// Ready closes once the API server serves and the cluster's namespaces exist.
func (a *Appliance) Ready() <-chan struct{} { return a.ready }

// Err reports a part that failed after start.
func (a *Appliance) Err() <-chan error { return a.errc }

// Port is the API server's port (useful when configured as 0 in tests).
func (a *Appliance) Port() int { return a.port }

// Close stops the API server, then etcd. Safe to call more than once.
func (a *Appliance) Close() {
	a.once.Do(func() {
		// Simulated nodes are removed while the API server still serves.
		a.mu.Lock()
		sim := a.sim
		a.mu.Unlock()
		if sim != nil {
			sim.Close()
		}
		// The kubelet leaves its pods running; a restarted one re-adopts them.
		a.mu.Lock()
		agent := a.agent
		a.mu.Unlock()
		if agent != nil {
			agent.Close()
		}
		a.mu.Lock()
		resolver := a.dns
		a.mu.Unlock()
		if resolver != nil {
			resolver.Close()
		}
		a.mu.Lock()
		proxy := a.proxy
		a.mu.Unlock()
		if proxy != nil {
			proxy.Close() // the rules stay, as kube-proxy leaves them
		}
		a.mu.Lock()
		a.closing = true
		a.mu.Unlock()
		a.stopParts()
		parts := make(chan struct{})
		go func() { a.parts.Wait(); close(parts) }()
		select {
		case <-parts:
		case <-time.After(10 * time.Second):
			a.log.Warn("controller manager or scheduler did not stop in time")
		}
		a.cancel()
		if a.done != nil {
			select {
			case <-a.done:
			case <-time.After(20 * time.Second):
				a.log.Warn("api server did not stop in time")
			}
		}
		if a.etcd != nil {
			a.etcd.Close()
		}
	})
}

// startAgent runs this machine's kubelet with its own node identity, and waits
// until its node is registered and its pods are being synced.
func (a *Appliance) startAgent(ctx context.Context) error {
	cfg := a.cfg
	ip := cfg.nodeIP()
	client, serving, err := a.certs.nodeCerts(a.port, cfg.NodeName, ip)
	if err != nil {
		return fmt.Errorf("kubelet certificates: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(serving.CertFile, serving.KeyFile)
	if err != nil {
		return fmt.Errorf("kubelet certificates: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.certs.ca.CertPEM())
	_, clusterCIDR, _ := net.ParseCIDR(cfg.ClusterCIDR.String())
	k, err := kubelet.Start(ctx, kubelet.Config{
		NodeName:                 cfg.NodeName,
		NodeIP:                   ip,
		Client:                   client,
		DataDir:                  filepath.Join(cfg.DataDir, "agent"),
		RunDir:                   cfg.RunDir,
		PodsDir:                  cfg.KubeletDir,
		PodLogsDir:               cfg.PodLogsDir,
		ContainerRuntimeEndpoint: cfg.ContainerRuntimeEndpoint,
		RegistriesFile:           cfg.PrivateRegistry,
		ClusterCIDR:              clusterCIDR,
		ClusterDNS:               []net.IP{net.IP(cfg.ClusterDNS.AsSlice())},
		ClusterDomain:            cfg.ClusterDomain,
		NodeNetNS:                cfg.AgentNetNS,
		EvictionHard:             cfg.EvictionHard,
		ImageGCHighPercent:       cfg.ImageGCHighThreshold,
		ImageGCLowPercent:        cfg.ImageGCLowThreshold,
		Port:                     cfg.KubeletPort,
		ServingCert:              cert,
		ClientCAs:                pool,
		AllowedUsers:             []string{KubeletClientUser},
		Log:                      a.log,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.agent = k
	a.mu.Unlock()
	select {
	case <-k.Ready():
	case err := <-k.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		select {
		case err := <-k.Err():
			a.errc <- err
		case <-ctx.Done():
		}
	}()
	// The node's service rules and DNS share one client, as the node.
	cs, err := kubernetes.NewForConfig(client)
	if err != nil {
		return err
	}
	if !cfg.DisableKubeProxy {
		if err := a.startNodeProxy(ctx, cs); err != nil {
			return err
		}
	}
	if !cfg.DisableClusterDNS {
		if err := a.startNodeDNS(ctx, cs, k.Gateway()); err != nil {
			return err
		}
	}
	return nil
}

// EtcdInProcess is the etcd client the API server stores through: direct
// calls into the embedded member. For benchmarks that need etcd's floor
// without a network in between.
func (a *Appliance) EtcdInProcess() *clientv3.Client { return a.etcd.InProcessClient() }

// Agent is this machine's kubelet, nil with --disable-agent.
func (a *Appliance) Agent() *kubelet.Kubelet {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.agent
}

// runPart runs a part that must stop before the API server (see stopParts),
// unless Close has begun.
func (a *Appliance) runPart(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return
	}
	a.parts.Add(1)
	go func() {
		defer a.parts.Done()
		f()
	}()
}
