package kubelet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// KubeletVersion is what the node reports in nodeInfo.kubeletVersion.
var KubeletVersion = "v1.37.2"

const (
	leaseDuration  = 40 * time.Second
	leaseRenew     = 10 * time.Second
	statusInterval = time.Minute
)

// registerNode creates the Node, or updates the one a previous run left, with
// this machine's capacity, addresses and system info.
func (k *Kubelet) registerNode(ctx context.Context) error {
	want := k.nodeObject()
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := k.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cur, gerr := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
			if gerr != nil {
				k.log.Warn("get node", "err", gerr)
				return false, nil
			}
			cur.Labels = mergeMap(cur.Labels, want.Labels)
			if cur, err = k.client.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				k.log.Warn("update node", "err", err)
				return false, nil
			}
			cur.Status = k.nodeStatus(cur)
			n, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
		if err != nil {
			k.log.Warn("register node", "err", err)
			return false, nil
		}
		k.setNode(n)
		return true, nil
	})
}

func mergeMap(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func (k *Kubelet) setNode(n *corev1.Node) {
	k.mu.Lock()
	k.node = n.DeepCopy()
	k.mu.Unlock()
}

func (k *Kubelet) getNode() *corev1.Node {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.node == nil {
		return nil
	}
	return k.node.DeepCopy()
}

func (k *Kubelet) nodeObject() *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: k.cfg.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:   k.cfg.NodeName,
				corev1.LabelOSStable:   goruntime.GOOS,
				corev1.LabelArchStable: goruntime.GOARCH,
			},
		},
	}
	n.Status = k.nodeStatus(n)
	return n
}

// nodeStatus computes the Node's status: capacity, addresses, conditions and
// system info. Condition transition times are kept when nothing changed.
func (k *Kubelet) nodeStatus(cur *corev1.Node) corev1.NodeStatus {
	now := metav1.Now()
	host, _ := os.Hostname()
	st := corev1.NodeStatus{
		Capacity:    k.capacity(),
		Allocatable: k.allocatable(),
		Phase:       corev1.NodeRunning,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP.String()},
			{Type: corev1.NodeHostName, Address: host},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.port())}},
		Images:          cur.Status.Images,
	}
	version, rtErr := k.runtimeVersion()
	if rtErr != nil {
		// Keep the version last reported rather than blank it.
		version = cur.Status.NodeInfo.ContainerRuntimeVersion
	}
	st.NodeInfo = k.nodeInfo(version)
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if rtErr != nil {
		// As the kubelet says it, so that `kubectl describe node` reads the
		// same; the node lifecycle controller then taints the node not-ready.
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "KubeletNotReady", "container runtime is down"
	}
	mem, disk, pid := k.pressure()
	conds := []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, mem, "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory", "kubelet has insufficient memory available", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, disk, "KubeletHasDiskPressure", "KubeletHasNoDiskPressure", "kubelet has disk pressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, pid, "KubeletHasInsufficientPID", "KubeletHasSufficientPID", "kubelet has insufficient PID available", "kubelet has sufficient PID available"),
		ready,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, old := range cur.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	st.Conditions = conds
	return st
}

func cond(t corev1.NodeConditionType, on bool, reasonOn, reasonOff, msgOn, msgOff string) corev1.NodeCondition {
	if on {
		return corev1.NodeCondition{Type: t, Status: corev1.ConditionTrue, Reason: reasonOn, Message: msgOn}
	}
	return corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: reasonOff, Message: msgOff}
}

func (k *Kubelet) port() int {
	if k.srv == nil {
		return k.cfg.Port
	}
	_, p, err := net.SplitHostPort(k.srv.Addr())
	if err != nil {
		return k.cfg.Port
	}
	n, _ := strconv.Atoi(p)
	return n
}

// runtimeVersion asks containerd for its version: the runtime health check
// behind the Ready condition. A runtime that does not answer within 3 s is down.
func (k *Kubelet) runtimeVersion() (string, error) {
	if k.rt == nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(k.ctx, 3*time.Second)
	defer cancel()
	return k.rt.Version(ctx)
}

func (k *Kubelet) nodeInfo(runtimeVersion string) corev1.NodeSystemInfo {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	info := corev1.NodeSystemInfo{
		KernelVersion:    utsString(u.Release[:]),
		OSImage:          osImage(),
		OperatingSystem:  goruntime.GOOS,
		Architecture:     goruntime.GOARCH,
		KubeletVersion:   KubeletVersion,
		KubeProxyVersion: KubeletVersion,

		ContainerRuntimeVersion: runtimeVersion,
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		info.MachineID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/sys/class/dmi/id/product_uuid"); err == nil {
		info.SystemUUID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		info.BootID = strings.TrimSpace(string(b))
	}
	return info
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func numCPU() int { return goruntime.NumCPU() }

func memTotal() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func diskTotal(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * st.Bsize
}

// waitPodCIDR waits for the node IPAM controller to give the node a podCIDR.
func (k *Kubelet) waitPodCIDR(ctx context.Context) (*net.IPNet, error) {
	var cidr *net.IPNet
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, k.cfg.PodCIDRTimeout, true, func(ctx context.Context) (bool, error) {
		n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false, nil
		}
		_, c, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil {
			return false, fmt.Errorf("node podCIDR %q: %w", n.Spec.PodCIDR, err)
		}
		k.setNode(n)
		cidr = c
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("kubelet: node %s got no podCIDR (is the node-ipam controller running?): %w", k.cfg.NodeName, err)
	}
	return cidr, nil
}

// leaseLoop renews the node's Lease in kube-node-lease every 10 s.
func (k *Kubelet) leaseLoop(ctx context.Context) {
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("renew lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node := k.getNode()
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: corev1.NamespaceNodeLease}}
		if node != nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To(k.cfg.NodeName), LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)), RenewTime: &now}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity = ptr.To(k.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration / time.Second))
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// statusLoop posts node status when it changes (checked every 10 s) and at
// least once a minute.
func (k *Kubelet) statusLoop(ctx context.Context) {
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			k.log.Warn("get node", "err", err)
			continue
		}
		st := k.nodeStatus(cur)
		if nodeStatusEqual(cur.Status, st) && time.Since(last) < statusInterval {
			k.setNode(cur)
			continue
		}
		patch, err := json.Marshal(map[string]any{"status": st})
		if err != nil {
			continue
		}
		n, err := k.client.CoreV1().Nodes().Patch(ctx, k.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil {
			k.log.Warn("update node status", "err", err)
			continue
		}
		last = time.Now()
		k.setNode(n)
	}
}

// nodeStatusEqual compares what matters, ignoring heartbeat times.
func nodeStatusEqual(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}
