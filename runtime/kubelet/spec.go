package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/appliance/appliance/runtime/network"
	"github.com/appliance/appliance/volumes"
)

// shimGroupAnnotation groups containers into one runc shim (containerd's
// runc v2 shim reads it from the spec when it starts).
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// containerSpec turns a pod's container into OCI spec options: the image's
// config overridden by command/args/env/workingDir, the sandbox's namespaces,
// volumes and the pod's /etc files, cgroup limits and the security context.
func (k *Kubelet) containerSpec(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *record, img containerd.Image, vols map[string]string, cgroup string) ([]oci.SpecOpts, error) {
	env, err := k.containerEnv(k.withPodIPs(pod, sb.labels[labelPodIP]), c)
	if err != nil {
		return nil, &configError{err}
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case len(c.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, c.Command...), c.Args...)...))
	case len(c.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, c.Args))
	}
	opts = append(opts, oci.WithEnv(env))
	if c.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(c.WorkingDir))
	}
	if c.TTY {
		opts = append(opts, oci.WithTTY)
	}
	// One shim per pod, as CRI runs them: the runc shim serves every container
	// whose spec names the same group, so a container joins its sandbox's shim
	// instead of starting a shim process of its own (less work per start, one
	// process fewer per container).
	opts = append(opts, oci.WithAnnotations(map[string]string{shimGroupAnnotation: sb.id}))

	pid := sb.pid
	if pod.Spec.HostNetwork {
		opts = append(opts, k.nodeNetwork())
	} else {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.labels[labelNetNS]}))
	}
	if pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	} else {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: fmt.Sprintf("/proc/%d/ns/ipc", pid)}))
	}
	if pod.Spec.HostNetwork {
		// Never set a hostname here: it would rename the machine.
		opts = append(opts, oci.WithHostNamespace(specs.UTSNamespace), withoutHostname)
	} else {
		hostname, _ := podHostname(pod)
		opts = append(opts, oci.WithHostname(hostname),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: fmt.Sprintf("/proc/%d/ns/uts", pid)}))
	}
	switch {
	case pod.Spec.HostPID:
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pid)}))
	}

	mounts, err := k.vols.Mounts(pod, c, vols)
	if err != nil {
		return nil, &configError{err}
	}
	etc, err := k.etcMounts(pod, c, sb)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, etc...)
	opts = append(opts, oci.WithMounts(mounts))

	opts = append(opts, oci.WithCgroup(cgroup))
	opts = append(opts, resourceOpts(c)...)
	opts = append(opts, withOOMScoreAdj(oomScoreAdj(pod, c, memTotal())))
	sec, err := securityOpts(ctx, pod, c, img)
	if err != nil {
		return nil, &configError{err}
	}
	opts = append(opts, sec...)
	return opts, nil
}

// etcMounts are the pod's /etc/hosts, /etc/resolv.conf and /etc/hostname, and
// the container's termination-log file, as the kubelet provides them.
func (k *Kubelet) etcMounts(pod *corev1.Pod, c *corev1.Container, sb *record) ([]specs.Mount, error) {
	dir := filepath.Join(k.cfg.PodsDir, "pods", string(pod.UID))
	var ms []specs.Mount
	for _, f := range []string{"etc-hosts", "resolv.conf", "hostname"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("pod file %s: %w", f, err)
		}
	}
	ms = append(ms,
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(dir, "etc-hosts"), Options: []string{"rbind", "rw"}},
		specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(dir, "resolv.conf"), Options: []string{"rbind", "rw"}},
		specs.Mount{Destination: "/etc/hostname", Type: "bind", Source: filepath.Join(dir, "hostname"), Options: []string{"rbind", "rw"}},
	)
	path := c.TerminationMessagePath
	if path == "" {
		path = corev1.TerminationMessagePathDefault
	}
	tdir := filepath.Join(dir, "containers", c.Name)
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return nil, err
	}
	tfile := filepath.Join(tdir, "termination-log")
	f, err := os.OpenFile(tfile, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	f.Close()
	ms = append(ms, specs.Mount{Destination: path, Type: "bind", Source: tfile, Options: []string{"rbind", "rw"}})
	return ms, nil
}

// writePodFiles writes the pod's /etc/hosts, resolv.conf and hostname.
func (k *Kubelet) writePodFiles(pod *corev1.Pod, podIP string) error {
	dir := filepath.Join(k.cfg.PodsDir, "pods", string(pod.UID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	hostname, _ := podHostname(pod)
	// The node's resolver configuration, as the kubelet's --resolv-conf: on a
	// systemd-resolved host, resolved's upstream servers rather than its stub
	// 127.0.0.53, which a pod's own network namespace cannot reach. Every
	// policy that uses the host's DNS (Default, and ClusterFirst with
	// hostNetwork) gets this file, as every pod gets --resolv-conf.
	hostResolv, _, _ := network.HostResolvConf(network.HostResolvConfPath, network.ResolvedResolvConfPath)
	var hosts, resolv []byte
	if pod.Spec.HostNetwork {
		hosts, _ = os.ReadFile("/etc/hosts")
		resolv = hostResolv
		if pod.Spec.DNSPolicy == corev1.DNSClusterFirstWithHostNet || pod.Spec.DNSPolicy == corev1.DNSNone {
			r, err := network.ResolvConf(pod, k.cfg.ClusterDNS, k.cfg.ClusterDomain, resolv)
			if err != nil {
				return err
			}
			resolv = r
		}
		hostname, _ = os.Hostname()
	} else {
		hosts = network.HostsFileInDomain(pod, net.ParseIP(podIP), k.cfg.ClusterDomain)
		r, err := network.ResolvConf(pod, k.cfg.ClusterDNS, k.cfg.ClusterDomain, hostResolv)
		if err != nil {
			return err
		}
		resolv = r
	}
	for name, data := range map[string][]byte{"etc-hosts": hosts, "resolv.conf": resolv, "hostname": []byte(hostname + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func podHostname(pod *corev1.Pod) (string, error) {
	h, _, err := network.PodHostnameAndDomain(pod, "cluster.local")
	if err != nil || h == "" {
		h = pod.Name
		if len(h) > 63 {
			h = strings.TrimRight(h[:63], "-.")
		}
	}
	return h, err
}

// resourceOpts: requests.cpu as cpu shares, limits.cpu as a CFS quota, and
// limits.memory as the memory limit, as the kubelet computes them.
func resourceOpts(c *corev1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	var milli int64
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		milli = q.MilliValue()
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		milli = q.MilliValue()
	}
	opts = append(opts, oci.WithCPUShares(milliCPUToShares(milli)))
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		opts = append(opts, oci.WithCPUCFS(milliCPUToQuota(q.MilliValue()), quotaPeriod))
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		opts = append(opts, oci.WithMemoryLimit(uint64(q.Value())))
	}
	return opts
}

// qosCgroup is the pod's cgroup parent: /kubepods for Guaranteed pods,
// /kubepods/burstable and /kubepods/besteffort for the others, pod<uid> below.
func qosCgroup(pod *corev1.Pod) string {
	base := "/kubepods"
	switch pod.Status.QOSClass {
	case corev1.PodQOSBurstable:
		base += "/burstable"
	case corev1.PodQOSBestEffort:
		base += "/besteffort"
	case corev1.PodQOSGuaranteed:
	default:
		base += "/besteffort"
	}
	return filepath.Join(base, "pod"+string(pod.UID))
}

func securityOpts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, img containerd.Image) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	psc := pod.Spec.SecurityContext
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	uid, gid := sc.RunAsUser, sc.RunAsGroup
	nonRoot := sc.RunAsNonRoot
	if psc != nil {
		if uid == nil {
			uid = psc.RunAsUser
		}
		if gid == nil {
			gid = psc.RunAsGroup
		}
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
	}
	switch {
	case uid != nil && gid != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*uid), uint32(*gid)))
	case uid != nil:
		opts = append(opts, oci.WithUserID(uint32(*uid)))
	}
	if nonRoot != nil && *nonRoot {
		if uid != nil && *uid == 0 {
			return nil, fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
		}
		if uid == nil {
			cfg, err := img.Spec(ctx)
			if err == nil {
				u := cfg.Config.User
				if u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
					return nil, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
				}
			}
		}
	}
	if psc != nil && len(psc.SupplementalGroups) > 0 {
		groups := make([]uint32, 0, len(psc.SupplementalGroups))
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		opts = append(opts, oci.WithAppendAdditionalGroups(), withGroups(groups))
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	privileged := sc.Privileged != nil && *sc.Privileged
	if privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		if sc.Capabilities != nil {
			if len(sc.Capabilities.Add) > 0 {
				opts = append(opts, oci.WithAddedCapabilities(capNames(sc.Capabilities.Add)))
			}
			if len(sc.Capabilities.Drop) > 0 {
				opts = append(opts, oci.WithDroppedCapabilities(capNames(sc.Capabilities.Drop)))
			}
		}
		if seccompDefault(pod, c) {
			opts = append(opts, seccomp.WithDefaultProfile())
		}
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if psc != nil && len(psc.Sysctls) > 0 {
		m := map[string]string{}
		for _, s := range psc.Sysctls {
			m[s.Name] = s.Value
		}
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			if s.Linux.Sysctl == nil {
				s.Linux.Sysctl = map[string]string{}
			}
			for k, v := range m {
				s.Linux.Sysctl[k] = v
			}
			return nil
		})
	}
	return opts, nil
}

func withGroups(groups []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, groups...)
		return nil
	}
}

func seccompDefault(pod *corev1.Pod, c *corev1.Container) bool {
	var p *corev1.SeccompProfile
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		p = c.SecurityContext.SeccompProfile
	} else if pod.Spec.SecurityContext != nil {
		p = pod.Spec.SecurityContext.SeccompProfile
	}
	return p != nil && p.Type == corev1.SeccompProfileTypeRuntimeDefault
}

func capNames(cs []corev1.Capability) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		n := strings.ToUpper(string(c))
		if n == "ALL" {
			out = append(out, "ALL")
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		out = append(out, n)
	}
	return out
}

// withPodIPs returns the pod with status.podIP(s) and status.hostIP(s) filled
// in when they are not yet: the first containers start before the status that
// reports the sandbox's IP is written, and their env from fieldRef
// status.podIP must still hold it (the kubelet passes the sandbox's IPs to
// its env expansion the same way).
func (k *Kubelet) withPodIPs(pod *corev1.Pod, podIP string) *corev1.Pod {
	hostIP := ""
	if k.cfg.NodeIP != nil {
		hostIP = k.cfg.NodeIP.String()
	}
	if (pod.Status.PodIP != "" || podIP == "") && (pod.Status.HostIP != "" || hostIP == "") {
		return pod
	}
	p := *pod
	p.Status = *pod.Status.DeepCopy()
	if p.Status.PodIP == "" && podIP != "" {
		p.Status.PodIP = podIP
		p.Status.PodIPs = []corev1.PodIP{{IP: podIP}}
	}
	if p.Status.HostIP == "" && hostIP != "" {
		p.Status.HostIP = hostIP
		p.Status.HostIPs = []corev1.HostIP{{IP: hostIP}}
	}
	return &p
}

// containerEnv is the container's environment in Kubernetes' order: service
// links, then envFrom, then env (later entries win), with $(VAR) expanded.
func (k *Kubelet) containerEnv(pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(name, val string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = val
	}
	for name, val := range k.serviceEnv(pod) {
		set(name, val)
	}
	sort.Strings(order)
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := k.sources.ConfigMap(pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			keys := sortedKeys(cm.Data)
			for _, key := range keys {
				set(from.Prefix+key, cm.Data[key])
			}
		case from.SecretRef != nil:
			s, err := k.sources.Secret(pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			keys := make([]string, 0, len(s.Data))
			for key := range s.Data {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			for _, key := range keys {
				set(from.Prefix+key, string(s.Data[key]))
			}
		}
	}
	node := k.getNode()
	var alloc corev1.ResourceList
	if node != nil {
		alloc = node.Status.Allocatable
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, volumes.ExpandVars(e.Value, vars))
			continue
		}
		v, ok, err := k.envValueFrom(pod, c, e.ValueFrom, alloc)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, name := range order {
		out = append(out, name+"="+vars[name])
	}
	return out, nil
}

func (k *Kubelet) envValueFrom(pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, alloc corev1.ResourceList) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := volumes.FieldPath(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		name := from.ResourceFieldRef.ContainerName
		if name == "" {
			name = c.Name
		}
		v, err := volumes.ResourceField(pod, name, from.ResourceFieldRef, alloc)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := k.sources.ConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := k.sources.Secret(pod.Namespace, ref.Name)
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	}
	return "", false, nil
}

// serviceEnv is the Docker-links style environment of the services in the pod's
// namespace (and always the kubernetes service), as the kubelet sets it.
func (k *Kubelet) serviceEnv(pod *corev1.Pod) map[string]string {
	out := map[string]string{}
	add := func(s *corev1.Service) {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			return
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		p := s.Spec.Ports[0]
		out[name+"_SERVICE_HOST"] = s.Spec.ClusterIP
		out[name+"_SERVICE_PORT"] = fmt.Sprint(p.Port)
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = fmt.Sprint(p.Port)
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(proto))
			out[prefix] = fmt.Sprintf("%s://%s:%d", proto, s.Spec.ClusterIP, p.Port)
			out[prefix+"_PROTO"] = proto
			out[prefix+"_PORT"] = fmt.Sprint(p.Port)
			out[prefix+"_ADDR"] = s.Spec.ClusterIP
		}
		out[name+"_PORT"] = fmt.Sprintf("%s://%s:%d", strings.ToLower(string(p.Protocol)), s.Spec.ClusterIP, p.Port)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		if svcs, err := k.sources.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
			for _, s := range svcs {
				add(s)
			}
		}
	}
	if s, err := k.sources.services.Services(corev1.NamespaceDefault).Get("kubernetes"); err == nil {
		add(s)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func withoutHostname(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Hostname = ""
	return nil
}

// nodeNetwork puts a hostNetwork pod in the node's network namespace: the
// host's, or the one the pod network is built in (NodeNetNS, --agent-netns),
// where the node's service rules and cluster DNS are.
func (k *Kubelet) nodeNetwork() oci.SpecOpts {
	if k.cfg.NodeNetNS == "" {
		return oci.WithHostNamespace(specs.NetworkNamespace)
	}
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: k.cfg.NodeNetNS})
}
