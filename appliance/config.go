// Package appliance is the daemon: it wires the control plane's parts in a visible
// order (PKI -> etcd -> API server -> controllers) and hands back a handle with
// Ready, Err and Close, as etcd's embed package does.
package appliance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/appliance/appliance/runtime/kubelet"
	"sigs.k8s.io/yaml"
)

// Config is the effective configuration of `appliance server`. Every field has a
// flag, an APPLIANCE_* environment variable and a key in the config file, all with
// the same name (flag --data-dir, env APPLIANCE_DATA_DIR, key data-dir).
type Config struct {
	DataDir            string
	AdminKubeconfig    string
	BindAddress        net.IP
	HTTPSPort          int
	AdvertiseAddress   net.IP
	TLSSANs            []string
	NodeName           string
	ClusterCIDR        netip.Prefix
	ServiceCIDR        netip.Prefix
	ClusterDNS         netip.Addr
	ClusterDomain      string
	EtcdClientPort     int
	EtcdPeerPort       int
	CompactionInterval time.Duration
	LogLevel           string
	// Controllers lists the controller loops to run, as kube-controller-manager's
	// --controllers: "*" is every loop, "name" adds one, "-name" removes one.
	Controllers []string
	// DisableScheduler leaves pods unscheduled (another scheduler places them).
	DisableScheduler bool
	// NodeMonitorGracePeriod is how long a node may go without renewing its
	// Lease before it is marked Unknown and tainted (Kubernetes: 40 s).
	NodeMonitorGracePeriod time.Duration
	// SimulateNodes registers that many simulated (hollow) nodes, for trying
	// scheduling rules and for scale tests without real machines.
	SimulateNodes int

	// DisableAgent runs a control plane only: no kubelet on this machine.
	DisableAgent bool
	// NodeIP is the node's InternalIP, where the API server reaches its kubelet
	// (default: the first node IP).
	NodeIP net.IP
	// KubeletPort is the kubelet endpoint's port (logs, exec, port-forward);
	// 0 picks a free one.
	KubeletPort int
	// ContainerRuntimeEndpoint uses an existing containerd socket instead of
	// the appliance's own containerd.
	ContainerRuntimeEndpoint string
	// PrivateRegistry is the k3s-style registries.yaml (mirrors, plain-HTTP
	// registries, credentials).
	PrivateRegistry string
	// KubeletDir holds pod volumes; PodLogsDir container logs; RunDir
	// containerd's socket and pod network namespaces.
	KubeletDir string
	PodLogsDir string
	RunDir     string
	// EvictionHard are the kubelet's hard eviction thresholds, in its syntax.
	EvictionHard string
	// ImageGCHighThreshold and ImageGCLowThreshold are the kubelet's image
	// garbage collection thresholds: above High percent of disk used, unused
	// images are removed until Low is reached. 100 turns it off.
	ImageGCHighThreshold int
	ImageGCLowThreshold  int
	// AgentNetNS builds the pod network inside this network namespace instead
	// of the host's, and runs hostNetwork pods there (tests, nested setups).
	AgentNetNS string
	// DisableClusterDNS runs no cluster DNS: no kube-dns Service, no resolver
	// on the node (k3s: --disable coredns).
	DisableClusterDNS bool
	// DisableKubeProxy programs no service rules on this node (k3s's flag).
	DisableKubeProxy bool
	// ResolvConf names the file whose nameservers the cluster DNS forwards
	// names outside the cluster to ("" is /etc/resolv.conf).
	ResolvConf string
}

// DefaultConfigFile is read when present; --config names another.
const DefaultConfigFile = "/etc/appliance/config.yaml"

// Defaults are those of k3s, so a homelab user finds the addresses they expect.
func Defaults() Config {
	host, _ := os.Hostname()
	return Config{
		DataDir:                "/var/lib/appliance",
		AdminKubeconfig:        "/etc/appliance/admin.kubeconfig",
		BindAddress:            net.IPv4zero,
		HTTPSPort:              6443,
		NodeName:               strings.ToLower(host),
		ClusterCIDR:            netip.MustParsePrefix("10.42.0.0/16"),
		ServiceCIDR:            netip.MustParsePrefix("10.43.0.0/16"),
		ClusterDNS:             netip.MustParseAddr("10.43.0.10"),
		ClusterDomain:          "cluster.local",
		EtcdClientPort:         2379,
		EtcdPeerPort:           2380,
		CompactionInterval:     5 * time.Minute,
		LogLevel:               "info",
		Controllers:            []string{"*"},
		NodeMonitorGracePeriod: 40 * time.Second,
		KubeletPort:            10250,
		PrivateRegistry:        "/etc/appliance/registries.yaml",
		KubeletDir:             "/var/lib/kubelet",
		PodLogsDir:             "/var/log/pods",
		RunDir:                 "/run/appliance",
		ImageGCHighThreshold:   85,
		ImageGCLowThreshold:    80,
	}
}

// AddFlags registers every key on fs, bound to c's fields.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for etcd data, certificates and node state")
	fs.StringVar(&c.AdminKubeconfig, "admin-kubeconfig", c.AdminKubeconfig, "where to write the admin kubeconfig (mode 0600)")
	fs.IPVar(&c.BindAddress, "bind-address", c.BindAddress, "address the API server listens on")
	fs.IntVar(&c.HTTPSPort, "https-port", c.HTTPSPort, "port of the API server")
	fs.IPVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress, "address clients use to reach the API server (default: first node IP)")
	fs.StringSliceVar(&c.TLSSANs, "tls-san", c.TLSSANs, "extra host names or IPs in the API server's certificate")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "this node's name")
	fs.Var(prefixValue{&c.ClusterCIDR}, "cluster-cidr", "pod network")
	fs.Var(prefixValue{&c.ServiceCIDR}, "service-cidr", "service network; its first address is the kubernetes service")
	fs.Var(addrValue{&c.ClusterDNS}, "cluster-dns", "cluster DNS service address")
	fs.StringVar(&c.ClusterDomain, "cluster-domain", c.ClusterDomain, "cluster DNS domain")
	fs.IntVar(&c.EtcdClientPort, "etcd-client-port", c.EtcdClientPort, "embedded etcd client port (loopback only)")
	fs.IntVar(&c.EtcdPeerPort, "etcd-peer-port", c.EtcdPeerPort, "embedded etcd peer port")
	fs.DurationVar(&c.CompactionInterval, "etcd-compaction-interval", c.CompactionInterval, "how often old etcd revisions are compacted")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&c.NodeMonitorGracePeriod, "node-monitor-grace-period", c.NodeMonitorGracePeriod, "how long a node may miss Lease renewals before it is marked Unknown")
	fs.BoolVar(&c.DisableScheduler, "disable-scheduler", c.DisableScheduler, "do not run the scheduler")
	fs.IntVar(&c.SimulateNodes, "simulate-nodes", c.SimulateNodes, "register this many simulated nodes (labelled appliance.dev/simulated=true)")
	fs.BoolVar(&c.DisableAgent, "disable-agent", c.DisableAgent, "run the control plane only, without a kubelet on this machine")
	fs.IPVar(&c.NodeIP, "node-ip", c.NodeIP, "this node's InternalIP, where the API server reaches its kubelet (default: first node IP)")
	fs.IntVar(&c.KubeletPort, "kubelet-port", c.KubeletPort, "port of the kubelet endpoint (logs, exec, port-forward)")
	fs.StringVar(&c.ContainerRuntimeEndpoint, "container-runtime-endpoint", c.ContainerRuntimeEndpoint, "use this containerd socket instead of starting the appliance's own containerd")
	fs.StringVar(&c.PrivateRegistry, "private-registry", c.PrivateRegistry, "registries.yaml with mirrors, plain-HTTP registries and credentials")
	fs.StringVar(&c.KubeletDir, "kubelet-dir", c.KubeletDir, "directory for pod volumes")
	fs.StringVar(&c.PodLogsDir, "pod-logs-dir", c.PodLogsDir, "directory for container logs")
	fs.StringVar(&c.RunDir, "run-dir", c.RunDir, "runtime directory: containerd's socket and state, pod network namespaces")
	fs.StringVar(&c.EvictionHard, "eviction-hard", c.EvictionHard, "hard eviction thresholds, e.g. memory.available<100Mi,nodefs.available<10% (the defaults)")
	fs.IntVar(&c.ImageGCHighThreshold, "image-gc-high-threshold", c.ImageGCHighThreshold, "percent of disk used above which unused images are removed (100 turns image garbage collection off)")
	fs.IntVar(&c.ImageGCLowThreshold, "image-gc-low-threshold", c.ImageGCLowThreshold, "percent of disk used that image garbage collection frees down to")
	fs.StringVar(&c.AgentNetNS, "agent-netns", c.AgentNetNS, "build the pod network, and run hostNetwork pods, inside this network namespace (path) instead of the host's")
	fs.BoolVar(&c.DisableClusterDNS, "disable-cluster-dns", c.DisableClusterDNS, "run no cluster DNS (no kube-dns service, no resolver on this node)")
	fs.BoolVar(&c.DisableKubeProxy, "disable-kube-proxy", c.DisableKubeProxy, "program no service rules (iptables) on this node")
	fs.StringVar(&c.ResolvConf, "resolv-conf", c.ResolvConf, "file whose nameservers the cluster DNS forwards other names to (default /etc/resolv.conf)")
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers, "controller loops to run: * for all, name to add one, -name to remove one ("+strings.Join(ControllerNames, ", ")+")")
}

// Load applies the config file, then APPLIANCE_* variables, to every flag not
// given on the command line (flags win, then the environment, then the file).
// Unknown keys and bad values are errors that name them.
func Load(fs *pflag.FlagSet, file string, fileRequired bool, environ []string) error {
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })

	if data, err := os.ReadFile(file); err == nil {
		var values map[string]any
		// Strict: a key given twice is an error, not "the last one wins".
		if err := yaml.UnmarshalStrict(data, &values); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		keys := make([]string, 0, len(values))
		var unknown []string
		for k := range values {
			keys = append(keys, k)
			if fs.Lookup(k) == nil || k == "config" {
				unknown = append(unknown, strconv.Quote(k))
			}
		}
		sort.Strings(keys)
		sort.Strings(unknown)
		switch len(unknown) {
		case 0:
		case 1:
			return fmt.Errorf("config file %s: unknown key %s", file, unknown[0])
		default:
			return fmt.Errorf("config file %s: unknown keys %s", file, strings.Join(unknown, ", "))
		}
		for _, k := range keys {
			f := fs.Lookup(k)
			if set[k] {
				continue
			}
			if err := setFlag(f, values[k]); err != nil {
				return fmt.Errorf("config file %s: key %q: %w", file, k, err)
			}
		}
	} else if fileRequired || !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("config file: %w", err)
	}

	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "APPLIANCE_") {
			continue
		}
		key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "APPLIANCE_")), "_", "-")
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			if key == "config" {
				continue
			}
			return fmt.Errorf("environment: unknown variable %s", name)
		}
		if set[key] {
			continue
		}
		if err := f.Value.Set(value); err != nil {
			return fmt.Errorf("environment: %s=%q: %w", name, value, err)
		}
	}
	return nil
}

func setFlag(f *pflag.Flag, v any) error {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.Replace(parts)
		}
		return f.Value.Set(strings.Join(parts, ","))
	case map[string]any:
		return fmt.Errorf("expected a value, got a map")
	case nil:
		return fmt.Errorf("expected a value, got nothing")
	case float64:
		// YAML numbers arrive as float64; integers must stay integers.
		if x == float64(int64(x)) {
			return f.Value.Set(fmt.Sprint(int64(x)))
		}
		return f.Value.Set(fmt.Sprint(x))
	default:
		return f.Value.Set(fmt.Sprint(x))
	}
}

// Validate checks values that each parse fine alone but not together.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		errs = append(errs, fmt.Errorf("data-dir: %q must be an absolute path", c.DataDir))
	}
	if c.AdminKubeconfig == "" {
		errs = append(errs, errors.New("admin-kubeconfig: must not be empty"))
	}
	for name, p := range map[string]int{"https-port": c.HTTPSPort + 1, "etcd-client-port": c.EtcdClientPort, "etcd-peer-port": c.EtcdPeerPort} {
		if name == "https-port" {
			p-- // 0 picks a free port
		}
		if p < 1 && !(name == "https-port" && p == 0) || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port (1-65535)", name, p))
		}
	}
	if c.EtcdClientPort == c.EtcdPeerPort {
		errs = append(errs, fmt.Errorf("etcd-peer-port: must differ from etcd-client-port (%d)", c.EtcdClientPort))
	}
	if c.NodeName == "" {
		errs = append(errs, errors.New("node-name: must not be empty"))
	}
	if c.ClusterCIDR.Overlaps(c.ServiceCIDR) {
		errs = append(errs, fmt.Errorf("service-cidr: %s overlaps cluster-cidr %s", c.ServiceCIDR, c.ClusterCIDR))
	}
	if !c.ServiceCIDR.Contains(c.ClusterDNS) {
		errs = append(errs, fmt.Errorf("cluster-dns: %s is not in service-cidr %s", c.ClusterDNS, c.ServiceCIDR))
	}
	if c.NodeMonitorGracePeriod < time.Second {
		errs = append(errs, fmt.Errorf("node-monitor-grace-period: %s is shorter than 1s", c.NodeMonitorGracePeriod))
	}
	if c.SimulateNodes < 0 {
		errs = append(errs, fmt.Errorf("simulate-nodes: %d must not be negative", c.SimulateNodes))
	}
	if c.CompactionInterval < 0 {
		errs = append(errs, errors.New("etcd-compaction-interval: must not be negative"))
	}
	for _, name := range c.Controllers {
		if n := strings.TrimPrefix(name, "-"); n != "*" && !slices.Contains(ControllerNames, n) {
			errs = append(errs, fmt.Errorf("controllers: unknown controller %q (known: %s)", name, strings.Join(ControllerNames, ", ")))
		}
	}
	if c.KubeletPort < 0 || c.KubeletPort > 65535 {
		errs = append(errs, fmt.Errorf("kubelet-port: %d is not a port (1-65535)", c.KubeletPort))
	}
	for name, dir := range map[string]string{"kubelet-dir": c.KubeletDir, "pod-logs-dir": c.PodLogsDir, "run-dir": c.RunDir} {
		if !c.DisableAgent && (dir == "" || !filepath.IsAbs(dir)) {
			errs = append(errs, fmt.Errorf("%s: %q must be an absolute path", name, dir))
		}
	}
	if c.ResolvConf != "" && !filepath.IsAbs(c.ResolvConf) {
		errs = append(errs, fmt.Errorf("resolv-conf: %q must be an absolute path", c.ResolvConf))
	}
	if _, err := kubelet.ParseThresholds(c.EvictionHard); err != nil {
		errs = append(errs, fmt.Errorf("eviction-hard: %w", err))
	}
	for name, v := range map[string]int{"image-gc-high-threshold": c.ImageGCHighThreshold, "image-gc-low-threshold": c.ImageGCLowThreshold} {
		if v < 0 || v > 100 {
			errs = append(errs, fmt.Errorf("%s: %d is not a percentage (0-100)", name, v))
		}
	}
	if c.ImageGCLowThreshold >= c.ImageGCHighThreshold {
		errs = append(errs, fmt.Errorf("image-gc-low-threshold: %d must be less than image-gc-high-threshold (%d)", c.ImageGCLowThreshold, c.ImageGCHighThreshold))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// KubernetesServiceIP is the first address of the service CIDR: the
// "kubernetes" service, and a SAN of the API server's certificate.
func (c *Config) KubernetesServiceIP() net.IP {
	return net.IP(c.ServiceCIDR.Masked().Addr().Next().AsSlice())
}

type prefixValue struct{ p *netip.Prefix }

func (v prefixValue) String() string {
	if v.p == nil || !v.p.IsValid() {
		return ""
	}
	return v.p.String()
}
func (v prefixValue) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR", s)
	}
	*v.p = p.Masked()
	return nil
}
func (v prefixValue) Type() string { return "cidr" }

type addrValue struct{ a *netip.Addr }

func (v addrValue) String() string {
	if v.a == nil || !v.a.IsValid() {
		return ""
	}
	return v.a.String()
}
func (v addrValue) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", s)
	}
	*v.a = a
	return nil
}
func (v addrValue) Type() string { return "ip" }

// advertiseAddress is where other machines reach the API server: the configured
// address, else the first node IP, else loopback.
func (c *Config) advertiseAddress() net.IP {
	if c.AdvertiseAddress != nil && !c.AdvertiseAddress.IsUnspecified() {
		return c.AdvertiseAddress
	}
	if c.BindAddress != nil && !c.BindAddress.IsUnspecified() && !c.BindAddress.IsLoopback() {
		return c.BindAddress
	}
	if ips := NodeIPs(); len(ips) > 0 {
		return ips[0]
	}
	return net.ParseIP("127.0.0.1")
}

// nodeIP is the node's InternalIP: the configured one, else the first node
// IP, else loopback.
func (c *Config) nodeIP() net.IP {
	if c.NodeIP != nil && !c.NodeIP.IsUnspecified() {
		return c.NodeIP
	}
	if ips := NodeIPs(); len(ips) > 0 {
		return ips[0]
	}
	return net.ParseIP("127.0.0.1")
}

// ControllerNames are the controller loops `appliance server` can run.
var ControllerNames = []string{
	"namespace", "garbage-collector", "serviceaccount", "node-ipam", "node-lifecycle",
	"replicaset", "deployment", "daemonset", "statefulset", "job", "cronjob",
	"endpointslice", "endpoints", "cluster-dns", "service-lb",
}

// ControllerEnabled reports whether the loop called name runs.
func (c *Config) ControllerEnabled(name string) bool {
	if name == "cluster-dns" && c.DisableClusterDNS {
		return false
	}
	on := false
	for _, x := range c.Controllers {
		switch x {
		case "*":
			on = true
		case name:
			on = true
		case "-" + name, "-*":
			return false
		}
	}
	return on
}
