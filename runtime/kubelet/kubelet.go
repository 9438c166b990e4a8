// Package kubelet is the node agent: it registers the Node, keeps its Lease and
// status fresh, and turns the pods bound to it into containers through containerd
// (a pause sandbox first, then init and app containers), with the pod network,
// volumes, probes, restarts, logs and the streaming endpoint the API server
// proxies kubectl logs/exec/attach/port-forward to.
//
// It talks to the API server only through client-go with its own node identity,
// so the same code runs inside `appliance server` and on joined machines.
package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/runtime/containerd"
	"github.com/appliance/appliance/runtime/network"
	"github.com/appliance/appliance/runtime/reexec"
	"github.com/appliance/appliance/runtime/server"
	"github.com/appliance/appliance/volumes"
)

// Config is a kubelet's configuration. Paths default to those of a real node;
// tests point them at temporary directories.
type Config struct {
	NodeName string
	// NodeIP is the node's InternalIP and the address the API server reaches the
	// kubelet endpoint on.
	NodeIP net.IP
	// Client is the kubelet's connection to the API server, with its node
	// identity (CN=system:node:<name>, O=system:nodes).
	Client *rest.Config

	// DataDir holds the agent's state: containerd's root, IP allocations, the
	// pause rootfs (default /var/lib/appliance/agent).
	DataDir string
	// RunDir holds containerd's socket and state and pod network namespaces
	// (default /run/appliance).
	RunDir string
	// PodsDir is where pod volumes live (default /var/lib/kubelet).
	PodsDir string
	// PodLogsDir is where container logs are written (default /var/log/pods).
	PodLogsDir string

	// ContainerRuntimeEndpoint uses an existing containerd instead of our own.
	ContainerRuntimeEndpoint string
	// RegistriesFile is the k3s-style registries.yaml.
	RegistriesFile string

	ClusterCIDR   *net.IPNet
	ClusterDNS    []net.IP
	ClusterDomain string
	// NodeNetNS, when set, is the network namespace the pod network is built in
	// and hostNetwork pods run in (tests); empty means the process's own.
	NodeNetNS string

	// Port is the kubelet endpoint's port (10250); 0 picks a free one.
	Port int
	// ServingCert is the endpoint's certificate; ClientCAs and AllowedUsers say
	// who may call it (the API server's kubelet-client certificate).
	ServingCert  tls.Certificate
	ClientCAs    *x509.CertPool
	AllowedUsers []string

	// Reserved is subtracted from capacity to give allocatable.
	Reserved corev1.ResourceList
	MaxPods  int

	// Executable is the appliance binary, which plays the pause process and the
	// log driver (default os.Executable()).
	Executable string

	// EvictionHard are the hard eviction thresholds, in the kubelet's syntax
	// ("memory.available<100Mi,nodefs.available<10%"); empty = the defaults.
	EvictionHard string

	// ImageGCHighPercent and ImageGCLowPercent: above High percent of the
	// image disk used, unused images are removed until Low is reached (the
	// kubelet's --image-gc-high-threshold and --image-gc-low-threshold).
	// Both zero means Kubernetes' 85 and 80; a High of 100 turns it off.
	ImageGCHighPercent int
	ImageGCLowPercent  int

	// PodCIDRTimeout bounds the wait for the node IPAM controller (default 60 s).
	PodCIDRTimeout time.Duration

	Log *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		return errors.New("kubelet: node name is required")
	}
	if c.Client == nil {
		return errors.New("kubelet: API client config is required")
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/appliance/agent"
	}
	if c.RunDir == "" {
		c.RunDir = "/run/appliance"
	}
	if c.PodsDir == "" {
		c.PodsDir = "/var/lib/kubelet"
	}
	if c.PodLogsDir == "" {
		c.PodLogsDir = "/var/log/pods"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.PodCIDRTimeout == 0 {
		c.PodCIDRTimeout = 60 * time.Second
	}
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("kubelet: find own executable: %w", err)
		}
		c.Executable = exe
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if _, err := ParseThresholds(c.EvictionHard); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	if c.NodeIP == nil {
		c.NodeIP = net.ParseIP("127.0.0.1")
	}
	if c.ImageGCHighPercent == 0 && c.ImageGCLowPercent == 0 {
		c.ImageGCHighPercent, c.ImageGCLowPercent = 85, 80
	}
	if c.ImageGCLowPercent < 0 || c.ImageGCHighPercent > 100 || c.ImageGCLowPercent >= c.ImageGCHighPercent {
		return fmt.Errorf("kubelet: image GC thresholds: want 0 <= low (%d) < high (%d) <= 100", c.ImageGCLowPercent, c.ImageGCHighPercent)
	}
	return nil
}

// Kubelet is a running node agent.
type Kubelet struct {
	cfg     Config
	log     *slog.Logger
	client  kubernetes.Interface
	rt      *containerd.Runtime
	net     *network.Network
	vols    *volumes.Manager
	srv     *server.Server
	sources *sources
	rec     *recorder

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	once      sync.Once
	loopsOnce sync.Once
	ready     chan struct{}
	errc      chan error

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	node     *corev1.Node
	eviction evictionState
	attached map[string]*attachIO // interactive containers' streams, by id
	cpu      cpuSamples

	// podStore is the informer's store of this node's pods (nil until the
	// first list; guarded by mu); qosMu serialises updates of the QoS cgroups
	// and guards qosWritten, what was last written to each.
	podStore   cache.Store
	qosMu      sync.Mutex
	qosWritten map[string]*specs.LinuxResources

	logDriver string // symlink to the executable named appliance-log-driver
	pauseRoot string
	startedAt time.Time
}

// Start brings the node up: containerd, the Node object, the pod network once
// the node has a podCIDR, the endpoint, then the pod workers. Ready closes when
// the node is registered Ready and pods are being synced.
func Start(ctx context.Context, cfg Config) (_ *Kubelet, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("part", "kubelet")
	client, err := kubernetes.NewForConfig(cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("kubelet: client: %w", err)
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k := &Kubelet{
		cfg: cfg, log: log, client: client, ctx: kctx, cancel: cancel,
		ready: make(chan struct{}), errc: make(chan error, 4),
		workers: map[types.UID]*podWorker{}, startedAt: time.Now(),
	}
	k.eviction.t, _ = ParseThresholds(cfg.EvictionHard)
	defer func() {
		if err != nil {
			k.Close()
		}
	}()
	for _, d := range []string{cfg.DataDir, cfg.RunDir, cfg.PodsDir, cfg.PodLogsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("kubelet: %w", err)
		}
	}
	if err := k.prepareHelpers(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("kubelet: needs root (containerd, runc, network namespaces, mounts); run as root, or with --disable-agent for a control plane only")
	}
	if cfg.ContainerRuntimeEndpoint == "" {
		if err := containerd.CheckBinaries(); err != nil {
			return nil, fmt.Errorf("kubelet: %w", err)
		}
	}
	k.rt, err = containerd.Start(ctx, containerd.Config{
		Endpoint:       cfg.ContainerRuntimeEndpoint,
		Root:           filepath.Join(cfg.DataDir, "containerd"),
		State:          filepath.Join(cfg.RunDir, "containerd"),
		RegistriesFile: cfg.RegistriesFile,
		Log:            cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("kubelet: containerd: %w", err)
	}
	k.rec = newRecorder(client, cfg.NodeName, log)
	k.sources = newSources(client)
	k.vols = volumes.New(cfg.PodsDir, k.sources, cfg.Log.With("part", "volumes"))

	k.srv, err = server.Start(ctx, server.Config{
		Addr:         net.JoinHostPort(listenHost(cfg.NodeIP), fmt.Sprint(cfg.Port)),
		TLS:          &tls.Config{Certificates: []tls.Certificate{cfg.ServingCert}, MinVersion: tls.VersionTLS12},
		ClientCAs:    cfg.ClientCAs,
		AllowedUsers: cfg.AllowedUsers,
		Log:          cfg.Log.With("part", "kubelet-server"),
	}, &streams{k})
	if err != nil {
		return nil, fmt.Errorf("kubelet: endpoint: %w", err)
	}
	k.wg.Add(1)
	go k.run()
	return k, nil
}

func listenHost(ip net.IP) string {
	if ip.IsLoopback() {
		return ip.String()
	}
	return "0.0.0.0"
}

// prepareHelpers lays out the pause sandbox's rootfs and the log driver's
// symlink; both run the appliance executable through runtime/reexec.
func (k *Kubelet) prepareHelpers() error {
	bin := filepath.Join(k.cfg.DataDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	k.logDriver = filepath.Join(bin, reexec.LogDriver)
	if cur, err := os.Readlink(k.logDriver); err != nil || cur != k.cfg.Executable {
		os.Remove(k.logDriver)
		if err := os.Symlink(k.cfg.Executable, k.logDriver); err != nil {
			return fmt.Errorf("kubelet: log driver link: %w", err)
		}
	}
	k.pauseRoot = filepath.Join(k.cfg.DataDir, "pause", "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "etc", "lib", "lib64", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(k.pauseRoot, d), 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(k.pauseRoot, reexec.Pause), os.O_CREATE|os.O_RDONLY, 0o755)
	if err != nil {
		return fmt.Errorf("kubelet: pause rootfs: %w", err)
	}
	return f.Close()
}

// run registers the node, waits for its podCIDR, builds the pod network and
// starts the loops.
func (k *Kubelet) run() {
	defer k.wg.Done()
	if err := k.registerNode(k.ctx); err != nil {
		k.fail(err)
		return
	}
	cidr, err := k.waitPodCIDR(k.ctx)
	if err != nil {
		k.fail(err)
		return
	}
	k.net, err = network.New(network.Config{
		NodeNetNS:   k.cfg.NodeNetNS,
		PodCIDR:     cidr,
		ClusterCIDR: k.cfg.ClusterCIDR,
		StateDir:    filepath.Join(k.cfg.DataDir, "network"),
		NetNSDir:    filepath.Join(k.cfg.RunDir, "netns"),
		Log:         k.cfg.Log,
	})
	if err != nil {
		k.fail(fmt.Errorf("kubelet: pod network: %w", err))
		return
	}
	if err := k.net.Ensure(k.ctx); err != nil {
		k.fail(fmt.Errorf("kubelet: pod network: %w", err))
		return
	}
	k.wg.Add(4)
	go func() { defer k.wg.Done(); k.evictionLoop(k.ctx) }()
	go func() { defer k.wg.Done(); k.leaseLoop(k.ctx) }()
	go func() { defer k.wg.Done(); k.statusLoop(k.ctx) }()
	go func() { defer k.wg.Done(); k.eventLoop(k.ctx) }()
	if err := k.sources.start(k.ctx, k.onSourceChange); err != nil {
		k.fail(err)
		return
	}
	if err := k.watchPods(k.ctx); err != nil {
		k.fail(err)
		return
	}
	k.log.Info("node ready", "node", k.cfg.NodeName, "pod-cidr", cidr, "took", time.Since(k.startedAt).Round(time.Millisecond))
	close(k.ready)
}

func (k *Kubelet) fail(err error) {
	if k.ctx.Err() != nil {
		return
	}
	k.log.Error("kubelet failed", "err", err)
	select {
	case k.errc <- err:
	default:
	}
}

// Ready closes once the node is registered and pods are synced.
func (k *Kubelet) Ready() <-chan struct{} { return k.ready }

// Err reports a failure after Start.
func (k *Kubelet) Err() <-chan error { return k.errc }

// Addr is the kubelet endpoint's address.
func (k *Kubelet) Addr() string { return k.srv.Addr() }

// Gateway is the pod network's gateway on this node (the bridge's address,
// the first of the node's podCIDR), where node-local services such as the
// cluster DNS listen for pods. Valid once Ready has closed.
func (k *Kubelet) Gateway() net.IP { return k.net.Gateway() }

// Runtime is the kubelet's containerd (for `appliance image` and tests).
func (k *Kubelet) Runtime() *containerd.Runtime { return k.rt }

// Close stops the kubelet's loops and its own containerd, leaving pods running:
// a restarted kubelet re-adopts them. Safe to call twice.
func (k *Kubelet) Close() {
	k.once.Do(func() {
		k.stopLoops()
		if k.srv != nil {
			k.srv.Close()
		}
		if k.rt != nil {
			k.rt.Close()
		}
	})
}

// stopLoops stops syncing pods, renewing the Lease and watching containerd.
func (k *Kubelet) stopLoops() {
	k.loopsOnce.Do(func() {
		k.cancel()
		k.mu.Lock()
		for _, w := range k.workers {
			w.stop()
		}
		k.mu.Unlock()
		k.wg.Wait()
	})
}

// capacity is what the node offers: its CPUs, memory, root disk and pod slots.
func (k *Kubelet) capacity() corev1.ResourceList {
	cap := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(numCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(k.cfg.MaxPods), resource.DecimalSI),
	}
	if disk := diskTotal(k.cfg.DataDir); disk > 0 {
		cap[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(disk, resource.BinarySI)
	}
	return cap
}

func (k *Kubelet) allocatable() corev1.ResourceList {
	alloc := k.capacity()
	for name, q := range k.cfg.Reserved {
		if v, ok := alloc[name]; ok {
			v.Sub(q)
			if v.Sign() < 0 {
				v = resource.Quantity{}
			}
			alloc[name] = v
		}
	}
	return alloc
}

// Reset removes everything the kubelet runs: every container and sandbox in its
// containerd namespace, pod networks and the bridge. For tests and uninstall;
// the API objects are left as they are.
func (k *Kubelet) Reset(ctx context.Context) error {
	if k.rt == nil {
		return nil
	}
	k.stopLoops()
	nctx := k.rt.WithNamespace(ctx)
	cs, err := k.rt.Client().Containers(nctx)
	if err != nil {
		return fmt.Errorf("kubelet reset: %w", err)
	}
	var errs []error
	pods := map[types.UID]bool{}
	for _, c := range cs {
		labels, _ := c.Labels(nctx)
		k.removeContainer(ctx, &record{id: c.ID(), c: c, labels: labels})
		if uid := labels[labelPodUID]; uid != "" {
			pods[types.UID(uid)] = true
		}
		if ns := labels[labelNetNS]; ns != "" && k.net != nil {
			if err := k.net.Detach(ctx, labels[labelPodUID], ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if k.net != nil {
		if allocs, err := k.net.Allocations(); err == nil {
			for id := range allocs {
				if err := k.net.Detach(ctx, id, filepath.Join(k.cfg.RunDir, "netns", id)); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err := k.net.Cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	if uids, err := k.vols.Pods(); err == nil {
		for _, uid := range uids {
			if err := k.vols.Teardown(uid); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for uid := range pods {
		removePodCgroups(uid)
	}
	return errors.Join(errs...)
}
