package simulate

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIPPool(t *testing.T) {
	tests := []struct {
		name  string
		cidr  string
		block int
		first string
		count int
	}{
		{name: "fallback block 0", block: 0, first: "10.42.0.2", count: 125},
		{name: "fallback block 3", block: 3, first: "10.42.1.130", count: 125},
		{name: "podCIDR from node IPAM", cidr: "10.42.7.0/24", block: 0, first: "10.42.7.2", count: 253},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIPPool()
			if tt.cidr != "" {
				p.setCIDR(tt.cidr)
			}
			seen := map[netip.Addr]bool{}
			for i := range tt.count {
				ip, err := p.allocate(fmt.Sprint("pod-", i), blockPrefix(tt.block))
				if err != nil {
					t.Fatalf("allocation %d: %v", i, err)
				}
				if i == 0 && ip.String() != tt.first {
					t.Errorf("first IP %s, want %s", ip, tt.first)
				}
				if seen[ip] {
					t.Fatalf("%s handed out twice", ip)
				}
				seen[ip] = true
			}
			if _, err := p.allocate("one-too-many", blockPrefix(tt.block)); err == nil {
				t.Error("pool should be full")
			}
			again, _ := p.allocate("pod-0", blockPrefix(tt.block))
			if again.String() != tt.first {
				t.Errorf("same pod got a new address %s", again)
			}
			p.release("pod-5")
			if _, err := p.allocate("new", blockPrefix(tt.block)); err != nil {
				t.Errorf("released address not reused: %v", err)
			}
		})
	}
}

func TestBlocksAreShared(t *testing.T) {
	a, b := takeBlock(), takeBlock()
	if a == b || a < 0 || b < 0 {
		t.Fatalf("blocks %d and %d", a, b)
	}
	n := &simNode{block: a}
	n.releaseBlock()
	if c := takeBlock(); c != a {
		t.Errorf("released block %d not reused (got %d)", a, c)
	} else {
		(&simNode{block: c}).releaseBlock()
	}
	(&simNode{block: b}).releaseBlock()
}

func TestPodStatuses(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "setup", Image: "busybox"}, {Name: "proxy", Image: "envoy:v1", RestartPolicy: &always}},
			Containers:     []corev1.Container{{Name: "app", Image: "registry.local:5000/team/app@sha256:" + digest("x")}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
	at := time.Unix(1000, 0)
	st := runningStatus(pod, "172.30.0.1", "10.42.0.2", at)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"phase", st.Phase, corev1.PodRunning},
		{"pod IP", st.PodIP, "10.42.0.2"},
		{"host IP", st.HostIPs[0].IP, "172.30.0.1"},
		{"QoS class kept", st.QOSClass, corev1.PodQOSBestEffort},
		{"init container completed", st.InitContainerStatuses[0].State.Terminated.Reason, "Completed"},
		{"sidecar running", st.InitContainerStatuses[1].State.Running != nil, true},
		{"image normalized", st.InitContainerStatuses[0].Image, "docker.io/library/busybox:latest"},
		{"app running and ready", st.ContainerStatuses[0].Ready && st.ContainerStatuses[0].State.Running != nil, true},
		{"digest image kept", st.ContainerStatuses[0].Image, pod.Spec.Containers[0].Image},
		{"conditions", conditionSummary(st), "PodScheduled=True PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True"},
	}
	pod.Status = st
	done := finishedStatus(pod, 0, at.Add(time.Second))
	tests = append(tests, []struct {
		name string
		got  any
		want any
	}{
		{"succeeded", done.Phase, corev1.PodSucceeded},
		{"exit 0 Completed", fmt.Sprintf("%d %s", done.ContainerStatuses[0].State.Terminated.ExitCode, done.ContainerStatuses[0].State.Terminated.Reason), "0 Completed"},
		{"not ready after completion", conditionSummary(done), "PodScheduled=True PodReadyToStartContainers=False Initialized=True Ready=False ContainersReady=False"},
		{"started at kept", done.ContainerStatuses[0].State.Terminated.StartedAt.Time.Equal(at), true},
	}...)
	failed := finishedStatus(pod, 3, at.Add(time.Second))
	restarted := restartedStatus(pod, 3, at.Add(time.Second))
	tests = append(tests, []struct {
		name string
		got  any
		want any
	}{
		{"failed", fmt.Sprint(failed.Phase, " ", failed.ContainerStatuses[0].State.Terminated.Reason), "Failed Error"},
		{"restart counted", restarted.ContainerStatuses[0].RestartCount, int32(1)},
		{"last state kept", restarted.ContainerStatuses[0].LastTerminationState.Terminated.ExitCode, int32(3)},
		{"running again", restarted.ContainerStatuses[0].State.Running != nil && restarted.Phase == corev1.PodRunning, true},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func conditionSummary(st corev1.PodStatus) string {
	s := ""
	for i, c := range st.Conditions {
		if i > 0 {
			s += " "
		}
		s += string(c.Type) + "=" + string(c.Status)
	}
	return s
}

func TestJobLike(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"plain pod", corev1.Pod{}, false},
		{"restartPolicy Never", corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}, true},
		{"restartPolicy OnFailure", corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure}}, true},
		{"owned by a Job", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "j"}}}}, true},
		{"owned by a ReplicaSet", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "r"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jobLike(&tt.pod); got != tt.want {
				t.Errorf("jobLike = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"no REST", Config{Nodes: 1}, true},
		{"no nodes", Config{REST: nil, Nodes: 0}, true},
		{"upper-case prefix", Config{Nodes: 1, NamePrefix: "Sim-"}, true},
		{"negative delay", Config{Nodes: 1, StartDelay: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	gate := corev1.PodConditionType("example.com/lb-ready")
	base := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	at := time.Unix(1000, 0)
	tests := []struct {
		name        string
		mutate      func(p *corev1.Pod)
		wantReady   string
		wantChanged bool
	}{
		{name: "ready", wantReady: "True"},
		{name: "annotation flipped to not ready", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationReady: "false"}
		}, wantReady: "False ContainersNotReady", wantChanged: true},
		{name: "readiness gate without its condition", mutate: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		}, wantReady: "False ReadinessGatesNotReady", wantChanged: true},
		{name: "readiness gate met", mutate: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: gate, Status: corev1.ConditionTrue})
		}, wantReady: "True"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := base.DeepCopy()
			pod.Status = runningStatus(pod, "172.30.0.1", "10.42.0.2", at) // started ready, no gates
			if tt.mutate != nil {
				tt.mutate(pod)
			}
			st, changed := readiness(pod, at.Add(time.Second))
			c := findCondition(&st, corev1.PodReady)
			got := string(c.Status)
			if c.Reason != "" {
				got += " " + c.Reason
			}
			if got != tt.wantReady || changed != tt.wantChanged {
				t.Errorf("Ready %q changed %v, want %q %v", got, changed, tt.wantReady, tt.wantChanged)
			}
		})
	}
}
