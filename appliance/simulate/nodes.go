package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// leaseDurationSeconds is a kubelet's node lease duration (40 s); renewals come
// every quarter of it.
const leaseDurationSeconds = 40

// simNode is one hollow node.
type simNode struct {
	name  string
	index int

	mu    sync.Mutex
	uid   types.UID
	node  *corev1.Node
	lease *coordinationv1.Lease
	block int // fallback pod IP block, -1 when none
	ips   *ipPool
}

func (s *Simulator) nodeObject(n *simNode) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:      n.name,
		corev1.LabelOSStable:      "linux",
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": runtime.GOARCH,
		SimulatedLabel:            "true",
	}
	for k, v := range s.cfg.Labels {
		labels[k] = v
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: append([]corev1.Taint(nil), s.cfg.Taints...)},
	}
	node.Status = s.nodeStatus(n, nil)
	return node
}

// nodeStatus is what a healthy kubelet reports: capacity, allocatable, the
// four conditions with the kubelet's reasons, addresses and node info.
func (s *Simulator) nodeStatus(n *simNode, old *corev1.NodeStatus) corev1.NodeStatus {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: st, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		if old != nil {
			for _, o := range old.Conditions {
				if o.Type == t && o.Status == st {
					c.LastTransitionTime = o.LastTransitionTime
				}
			}
		}
		return c
	}
	sum := sha256.Sum256([]byte(s.cfg.NamePrefix + n.name))
	id := hex.EncodeToString(sum[:16])
	return corev1.NodeStatus{
		Capacity:    s.cfg.Capacity.DeepCopy(),
		Allocatable: s.cfg.Capacity.DeepCopy(),
		Phase:       "",
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: nodeIP(n.index).String()},
			{Type: corev1.NodeHostName, Address: n.name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               id,
			SystemUUID:              id,
			BootID:                  id,
			KernelVersion:           "simulated",
			OSImage:                 "Appliance simulated node",
			ContainerRuntimeVersion: "simulated://1.0.0",
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

// nodeIP is a simulated node's InternalIP, 172.30.0.0/16 by index.
func nodeIP(index int) netip.Addr {
	i := index + 1
	return netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i)})
}

// parallel runs f for every node, a few at a time.
func (s *Simulator) parallel(nodes []*simNode, f func(*simNode)) {
	const width = 16
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for _, n := range nodes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(n)
		}()
	}
	wg.Wait()
}

func (s *Simulator) all() []*simNode {
	out := make([]*simNode, 0, len(s.names))
	for _, name := range s.names {
		out = append(out, s.nodes[name])
	}
	return out
}

// register creates the nodes (or takes over existing ones of the same name, as
// a restarted kubelet does) and their Leases.
func (s *Simulator) register(ctx context.Context) error {
	var mu sync.Mutex
	var errs []error
	s.parallel(s.all(), func(n *simNode) {
		if err := s.registerNode(ctx, n); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("register node %s: %w", n.name, err))
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (s *Simulator) registerNode(ctx context.Context, n *simNode) error {
	n.block = takeBlock()
	want := s.nodeObject(n)
	node, err := s.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err == nil {
			for k, v := range want.Labels {
				if node.Labels == nil {
					node.Labels = map[string]string{}
				}
				node.Labels[k] = v
			}
			node.Spec.Taints = want.Spec.Taints
			node, err = s.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return err
	}
	if node.Spec.PodCIDR != "" {
		n.ips.setCIDR(node.Spec.PodCIDR)
	}
	n.mu.Lock()
	n.uid, n.node = node.UID, node
	n.mu.Unlock()
	// A kubelet posts its status after registering. The API server keeps the
	// status given on create, so a new node needs no second write.
	if readyCondition(node) == nil {
		if err := s.postStatus(ctx, n); err != nil {
			return err
		}
	}
	return s.renewLease(ctx, n)
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// onNode follows changes others make to our nodes: the pod CIDR node IPAM
// assigns becomes the node's pod IP range.
func (s *Simulator) onNode(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	n := s.nodes[node.Name]
	if n == nil {
		return
	}
	n.mu.Lock()
	if node.UID == n.uid {
		n.node = node
	}
	n.mu.Unlock()
	if node.Spec.PodCIDR != "" {
		n.ips.setCIDR(node.Spec.PodCIDR)
	}
}

// postStatus writes the node's Ready status, retrying on conflicts with a
// fresh copy.
func (s *Simulator) postStatus(ctx context.Context, n *simNode) error {
	n.mu.Lock()
	node := n.node
	n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := node.DeepCopy()
		fresh.Status = s.nodeStatus(n, &node.Status)
		if node.Spec.PodCIDR != "" {
			n.ips.setCIDR(node.Spec.PodCIDR)
		}
		updated, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		if err == nil {
			n.mu.Lock()
			n.node = updated
			n.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 3 {
			return err
		}
		if node, err = s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

// renewLease creates or renews the node's Lease in kube-node-lease, owned by
// the Node so that it goes with it, as the kubelet's lease controller does.
func (s *Simulator) renewLease(ctx context.Context, n *simNode) error {
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	n.mu.Lock()
	lease, uid := n.lease, n.uid
	n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		var err error
		if lease == nil {
			dur := int32(leaseDurationSeconds)
			lease, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{
					Name: n.name, Namespace: corev1.NamespaceNodeLease,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: uid}},
				},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &n.name, LeaseDurationSeconds: &dur, RenewTime: &now},
			}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				lease, err = leases.Get(ctx, n.name, metav1.GetOptions{})
				if err == nil {
					lease, err = s.updateLease(ctx, lease, n, uid, now)
				}
			}
		} else {
			lease, err = s.updateLease(ctx, lease, n, uid, now)
		}
		if err == nil {
			n.mu.Lock()
			n.lease = lease
			n.mu.Unlock()
			return nil
		}
		if attempt >= 2 || !(apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
			return err
		}
		// Someone else changed or removed it: start from what is there.
		lease, err = leases.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease = nil
		} else if err != nil {
			return err
		}
	}
}

func (s *Simulator) updateLease(ctx context.Context, lease *coordinationv1.Lease, n *simNode, uid types.UID, now metav1.MicroTime) (*coordinationv1.Lease, error) {
	l := lease.DeepCopy()
	dur := int32(leaseDurationSeconds)
	l.Spec.HolderIdentity = &n.name
	l.Spec.LeaseDurationSeconds = &dur
	l.Spec.RenewTime = &now
	l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: uid}}
	return s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
}

// heartbeat renews every Lease once per LeaseInterval, in one batch, and posts
// node status once per StatusInterval.
func (s *Simulator) heartbeat(ctx context.Context) {
	leaseTick := time.NewTicker(s.cfg.LeaseInterval)
	defer leaseTick.Stop()
	statusTick := time.NewTicker(s.cfg.StatusInterval)
	defer statusTick.Stop()
	for {
		var f func(context.Context, *simNode) error
		what := ""
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C:
			f, what = s.renewLease, "lease"
		case <-statusTick.C:
			f, what = s.postStatus, "node status"
		}
		var live []*simNode
		for _, n := range s.all() {
			if !s.isFrozen(n.name) {
				live = append(live, n)
			}
		}
		failed := 0
		var last error
		var mu sync.Mutex
		s.parallel(live, func(n *simNode) {
			if err := f(ctx, n); err != nil && ctx.Err() == nil {
				mu.Lock()
				failed, last = failed+1, err
				mu.Unlock()
			}
		})
		if failed > 0 {
			s.log.Warn(what+" renewal failed", "nodes", failed, "err", last)
		}
	}
}

// unregister deletes the Leases and the nodes.
func (s *Simulator) unregister(ctx context.Context) {
	s.parallel(s.all(), func(n *simNode) {
		err := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, n.name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			s.log.Warn("delete lease", "node", n.name, "err", err)
		}
		n.mu.Lock()
		uid := n.uid
		n.mu.Unlock()
		if uid == "" {
			return // never registered
		}
		// Only the node this simulator registered, not a newer one of the name.
		err = s.client.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			s.log.Warn("delete node", "node", n.name, "err", err)
		}
	})
}
