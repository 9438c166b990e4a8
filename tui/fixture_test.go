package tui

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// t0 is the fixed clock of the model tests.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// fakeBackend records what the console asked and answers from fixed data.
type fakeBackend struct {
	mu       sync.Mutex
	deleted  []ObjRef
	scaled   map[string]int32
	scales   int // Scale calls, whatever the count
	restarts []ObjRef
	shells   []string // "pod ns/name container"
	logReqs  []LogRequest
	logs     map[string]string // container -> log text
	logErr   error
	// logErrFor answers a request with an error when it returns one.
	logErrFor func(LogRequest) error
	pipe      *io.PipeWriter // when set, logs stream through it
	pipeR     *io.PipeReader
	// text replaces the Describe and YAML answers when set.
	text string
}

func (f *fakeBackend) Describe(_ context.Context, ref ObjRef) (string, error) {
	if f.text != "" {
		return f.text, nil
	}
	return fmt.Sprintf("Name:         %s\nNamespace:    %s\nKind:         %s\nStatus:       Running\n", ref.Name, ref.Namespace, ref.Kind), nil
}
func (f *fakeBackend) YAML(_ context.Context, ref ObjRef) (string, error) {
	if f.text != "" {
		return f.text, nil
	}
	return fmt.Sprintf("apiVersion: v1\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n", ref.Kind, ref.Name, ref.Namespace), nil
}
func (f *fakeBackend) Delete(_ context.Context, ref ObjRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, ref)
	return nil
}
func (f *fakeBackend) Deleted() []ObjRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ObjRef(nil), f.deleted...)
}
func (f *fakeBackend) Scale(_ context.Context, ref ObjRef, n int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scaled == nil {
		f.scaled = map[string]int32{}
	}
	f.scaled[ref.String()] = n
	f.scales++
	return nil
}
func (f *fakeBackend) Restart(_ context.Context, ref ObjRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, ref)
	return nil
}
func (f *fakeBackend) Logs(_ context.Context, req LogRequest) (io.ReadCloser, error) {
	f.mu.Lock()
	f.logReqs = append(f.logReqs, req)
	f.mu.Unlock()
	if f.logErr != nil {
		return nil, f.logErr
	}
	if f.logErrFor != nil {
		if err := f.logErrFor(req); err != nil {
			return nil, err
		}
	}
	if f.pipeR != nil {
		return f.pipeR, nil
	}
	return io.NopCloser(strings.NewReader(f.logs[req.Container])), nil
}

// LogRequests is every log request so far.
func (f *fakeBackend) LogRequests() []LogRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LogRequest(nil), f.logReqs...)
}

func (f *fakeBackend) Shell(ref ObjRef, container string) *exec.Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shells = append(f.shells, ref.String()+" "+container)
	return exec.Command("true")
}

// fixture is a small cluster in the middle of things: a Deployment rolling
// out, a pod stuck on Insufficient cpu, one in ImagePullBackOff, one in
// CrashLoopBackOff, two nodes, services and warnings.
func fixture() []Change {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var ch []Change
	add := func(kind, key string, obj any) { ch = append(ch, Change{Kind: kind, Key: key, Obj: obj}) }
	for i, n := range []string{"node-a", "node-b"} {
		add(KindNode, n, &Node{Name: n, Ready: "Ready", CPUMilli: 4000, MemBytes: 8 << 30, MaxPods: 110,
			InternalIP: fmt.Sprintf("192.168.1.%d", 11+i), Created: at(-30 * 86400)})
		add(KindLease, "kube-node-lease/"+n, &Lease{Namespace: "kube-node-lease", Name: n, Holder: n, Renewed: at(-5), Duration: 40 * time.Second})
	}
	add(KindLease, "kube-system/kube-scheduler", &Lease{Namespace: "kube-system", Name: "kube-scheduler", Holder: "node-a", Renewed: at(-2), Duration: 15 * time.Second})
	add(KindLease, "kube-system/kube-controller-manager", &Lease{Namespace: "kube-system", Name: "kube-controller-manager", Holder: "node-a", Renewed: at(-40), Duration: 15 * time.Second})
	for _, ns := range []string{"default", "kube-system", "shop"} {
		add(KindNamespace, ns, nil)
	}
	dep := &Workload{Kind: "Deployment", Namespace: "shop", Name: "web", Desired: 3, Ready: 2, Updated: 3, Available: 2, Created: at(-90)}
	rs := &Workload{Kind: "ReplicaSet", Namespace: "shop", Name: "web-7d9f", Desired: 3, Ready: 2, OwnerKind: "Deployment", OwnerName: "web", Created: at(-90)}
	add("Deployment", dep.Key(), dep)
	add("ReplicaSet", rs.Key(), rs)
	add("StatefulSet", "StatefulSet/shop/db", &Workload{Kind: "StatefulSet", Namespace: "shop", Name: "db", Desired: 1, Ready: 1, Created: at(-3600)})
	add("DaemonSet", "DaemonSet/kube-system/kube-proxy", &Workload{Kind: "DaemonSet", Namespace: "kube-system", Name: "kube-proxy", Desired: 2, Ready: 2, Updated: 2, Available: 2, Created: at(-86400)})
	add("Job", "Job/shop/migrate", &Workload{Kind: "Job", Namespace: "shop", Name: "migrate", Desired: 1, Ready: 1, Available: 1, Note: "Complete", Created: at(-600)})
	add("CronJob", "CronJob/default/backup", &Workload{Kind: "CronJob", Namespace: "default", Name: "backup", Desired: 1, Note: "0 3 * * *", Created: at(-7200)})
	pod := func(name, node string, created, sched, sandbox, started, ready int, status string) *Pod {
		p := &Pod{Namespace: "shop", Name: name, UID: "uid-" + name, Node: node, Phase: "Running", Status: status,
			Total: 1, Created: at(created), OwnerKind: "ReplicaSet", OwnerName: "web-7d9f", Containers: []string{"app"},
			CPUMilli: 250, MemBytes: 128 << 20}
		if node != "" {
			p.IP = "10.42.0." + fmt.Sprint(len(name))
		}
		set := func(t *time.Time, s int) {
			if s != 0 {
				*t = at(s)
			}
		}
		set(&p.ScheduledAt, sched)
		set(&p.SandboxAt, sandbox)
		set(&p.StartedAt, started)
		set(&p.ReadyAt, ready)
		if ready != 0 {
			p.Ready = 1
		}
		return p
	}
	pods := []*Pod{
		pod("web-7d9f-a1", "node-a", -60, -59, -58, -55, -54, "Running"),
		pod("web-7d9f-b2", "node-b", -60, -59, -57, -52, -51, "Running"),
		pod("web-7d9f-c3", "node-a", -12, -11, -10, -2, 0, "Running"),
	}
	pending := pod("big-0", "", -30, 0, 0, 0, 0, "Pending")
	pending.Phase, pending.OwnerKind, pending.CPUMilli = "Pending", "", 1000000
	pending.Unschedulable = "0/2 nodes are available: 2 Insufficient cpu."
	pull := pod("api-5c-x", "node-b", -20, -19, -18, 0, 0, "ImagePullBackOff")
	pull.Phase, pull.WaitingReason, pull.WaitingMessage = "Pending", "ImagePullBackOff", `Back-off pulling image "nope:1"`
	pull.ContainerWaiting = map[string]string{"app": "ImagePullBackOff"}
	crash := pod("worker-9", "node-b", -300, -299, -298, 0, 0, "CrashLoopBackOff")
	crash.Restarts, crash.WaitingReason = 5, "CrashLoopBackOff"
	crash.WaitingMessage = "back-off 2m40s restarting failed container=app"
	crash.ContainerWaiting = map[string]string{"app": "CrashLoopBackOff"}
	pods = append(pods, pending, pull, crash)
	for _, p := range pods {
		add(KindPod, p.Key(), p)
	}
	add(KindEvent, "shop/ev1", &Event{Namespace: "shop", Name: "ev1", Type: "Warning", Reason: "FailedScheduling", Message: "0/2 nodes are available: 2 Insufficient cpu.", ObjKind: "Pod", ObjName: "big-0", ObjUID: "uid-big-0", Count: 3, Last: at(-10)})
	add(KindEvent, "shop/ev2", &Event{Namespace: "shop", Name: "ev2", Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container app", ObjKind: "Pod", ObjName: "worker-9", ObjUID: "uid-worker-9", Count: 7, Last: at(-20)})
	add(KindEvent, "shop/ev3", &Event{Namespace: "shop", Name: "ev3", Type: "Normal", Reason: "Pulled", Message: "Successfully pulled image", ObjKind: "Pod", ObjName: "web-7d9f-c3", ObjUID: "uid-web-7d9f-c3", Count: 1, Last: at(-6)})
	add(KindService, "shop/web", &Service{Namespace: "shop", Name: "web", Type: "LoadBalancer", ClusterIP: "10.43.12.7", ExternalIPs: []string{"192.168.1.20"}, Ports: "80:31380/TCP"})
	add(KindService, "default/kubernetes", &Service{Namespace: "default", Name: "kubernetes", Type: "ClusterIP", ClusterIP: "10.43.0.1", Ports: "443/TCP"})
	add(KindEndpointSlice, "shop/web-abc", &EndpointSlice{Namespace: "shop", Name: "web-abc", Service: "web", Ready: 2})
	add(KindIngress, "shop/web", &Ingress{Namespace: "shop", Name: "web", Class: "traefik", Hosts: "shop.home.lan", Address: "192.168.1.20", Ports: "80, 443", Created: at(-86400)})
	return ch
}

// newFixtureModel is a model with the fixture applied, at w x h.
func newFixtureModel(w, h int, b Backend) *Model {
	if b == nil {
		b = &fakeBackend{}
	}
	m := New(Options{Backend: b, Server: "https://10.0.0.2:6443", Now: fixedNow, NoColor: true, Retry: time.Millisecond})
	m.Update(windowSize(w, h))
	m.Update(BatchMsg{Changes: fixture()})
	m.Update(HealthMsg{APIServer: "ok", Etcd: "ok", At: t0})
	return m
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

// drain runs cmd and the commands its messages lead to, as the program
// would, until none is left. It stops at the retry and clock ticks (a test's
// Retry is a millisecond) instead of following them forever, and returns the
// messages it delivered.
func drain(m *Model, cmd tea.Cmd) []tea.Msg {
	var seen []tea.Msg
	queue := []tea.Cmd{cmd}
	for steps := 0; len(queue) > 0 && steps < 1000; steps++ {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := c()
		switch msg := msg.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		case logReopenMsg, healthTickMsg, clockMsg:
			seen = append(seen, msg)
			continue
		}
		seen = append(seen, msg)
		_, next := m.Update(msg)
		queue = append(queue, next)
	}
	return seen
}

// keys presses keys and drains the commands they return.
func keys(m *Model, ks ...string) {
	for _, k := range ks {
		_, cmd := m.Update(press(k))
		drain(m, cmd)
	}
}
