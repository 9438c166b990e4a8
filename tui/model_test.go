package tui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod still on its way shows a running total even when the console's
// clock (ticking once a second) is behind the stages it watched.
func TestFlowTotalWhileOnItsWay(t *testing.T) {
	p := Pod{Created: t0, Phase: "Pending", Node: "n", ScheduledAt: t0.Add(400 * time.Millisecond)}
	if f := FlowOf(&p, nil, t0.Add(100*time.Millisecond)); f.Total != 400*time.Millisecond {
		t.Errorf("total %v with the clock behind the scheduling, want 400ms", f.Total)
	}
	if f := FlowOf(&p, nil, t0.Add(2*time.Second)); f.Total != 2*time.Second {
		t.Errorf("total %v, want 2s (until now)", f.Total)
	}
}

func TestFlowOf(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name       string
		pod        Pod
		ev         *podEvents
		wantStates string // one letter per stage from sched: d done, t todo, s stuck, f failed
		wantReason string
		wantTook   map[Stage]time.Duration
	}{
		{"just stored", Pod{Created: at(0), Phase: "Pending"}, nil, "tttttt", "", nil},
		{"insufficient cpu", Pod{Created: at(0), Phase: "Pending", Unschedulable: "0/2 nodes are available: 2 Insufficient cpu."}, nil,
			"sttttt", "0/2 nodes are available: 2 Insufficient cpu.", nil},
		{"failed scheduling from the event only", Pod{Created: at(0), Phase: "Pending"}, &podEvents{FailedSched: "0/1 nodes: untolerated taint"}, "sttttt", "0/1 nodes: untolerated taint", nil},
		{"image pull back-off", Pod{Created: at(0), Phase: "Pending", Node: "n", ScheduledAt: at(1), SandboxAt: at(2), WaitingReason: "ImagePullBackOff", WaitingMessage: "Back-off pulling image"}, nil,
			"ddsttt", "ImagePullBackOff: Back-off pulling image", map[Stage]time.Duration{StageScheduled: time.Second, StageSandbox: time.Second}},
		{"all the way to ready", Pod{Created: at(0), Phase: "Running", Node: "n", ScheduledAt: at(1), SandboxAt: at(3), StartedAt: at(8), ReadyAt: at(9)}, &podEvents{PulledAt: at(7)},
			"dddddd", "", map[Stage]time.Duration{StageScheduled: time.Second, StageSandbox: 2 * time.Second, StagePulled: 4 * time.Second, StageStarted: time.Second, StageReady: time.Second}},
		{"crash loop stuck before ready", Pod{Created: at(0), Phase: "Running", Node: "n", ScheduledAt: at(1), SandboxAt: at(2), WaitingReason: "CrashLoopBackOff"}, nil,
			"dddddt"[:0] + "ddddds", "CrashLoopBackOff", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FlowOf(&tt.pod, tt.ev, at(60))
			var got strings.Builder
			for s := StageScheduled; s < numStages; s++ {
				got.WriteByte("dtsf"[map[StageState]int{Done: 0, Todo: 1, Stuck: 2, Failed: 3}[f.Stages[s].State]])
			}
			if got.String() != tt.wantStates {
				t.Errorf("stages %s, want %s", got.String(), tt.wantStates)
			}
			if f.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q", f.Reason, tt.wantReason)
			}
			for s, d := range tt.wantTook {
				if !f.Stages[s].Known || f.Stages[s].Took != d {
					t.Errorf("%s took %v (known %v), want %v", stageNames[s], f.Stages[s].Took, f.Stages[s].Known, d)
				}
			}
		})
	}
}

func TestConvertPod(t *testing.T) {
	ts := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1", CreationTimestamp: ts(0)},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.5",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts(1)},
				{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: ts(2)},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ts(5)},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(4)}}}},
		},
	}
	got := ConvertPod(p)
	want := fmt.Sprint("Running 1/1 2 250 67108864 ", t0.Add(time.Second), " ", t0.Add(2*time.Second), " ", t0.Add(4*time.Second), " ", t0.Add(5*time.Second))
	if s := fmt.Sprint(got.Status, " ", got.Ready, "/", got.Total, " ", got.Restarts, " ", got.CPUMilli, " ", got.MemBytes, " ", got.ScheduledAt, " ", got.SandboxAt, " ", got.StartedAt, " ", got.ReadyAt); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}
	p.Status.ContainerStatuses[0].Ready = false
	got = ConvertPod(p)
	if got.Status != "CrashLoopBackOff" || got.WaitingReason != "CrashLoopBackOff" || !got.StartedAt.IsZero() {
		t.Errorf("crash loop: status %q waiting %q started %v", got.Status, got.WaitingReason, got.StartedAt)
	}
}

func TestCommandsAndFilter(t *testing.T) {
	m := newFixtureModel(80, 24, nil)
	typeKeys(m, ":", "deploy", "enter")
	if m.view != viewWorkloads || m.kind != "Deployment" || len(m.workloads.rows) != 1 {
		t.Fatalf(":deploy: view %v kind %q rows %d", m.view, m.kind, len(m.workloads.rows))
	}
	typeKeys(m, ":", "po", "enter", "/", "crash")
	if m.view != viewPods || len(m.pods.rows) != 1 || !strings.Contains(m.Render(), "worker-9") || strings.Contains(m.Render(), "web-7d9f-a1") {
		t.Fatalf("/crash in pods: %d rows\n%s", len(m.pods.rows), m.Render())
	}
	typeKeys(m, "esc")
	if len(m.pods.rows) != 6 {
		t.Fatalf("esc cleared the filter: %d rows", len(m.pods.rows))
	}
	typeKeys(m, ":", "bogus", "enter")
	if !strings.Contains(m.Render(), `unknown resource "bogus"`) || m.view != viewPods {
		t.Fatalf("unknown resource not reported:\n%s", m.Render())
	}
	typeKeys(m, ":", "ns default", "enter")
	if m.ns != "default" || len(m.pods.rows) != 0 || !strings.Contains(m.Render(), "ns:default") {
		t.Fatalf(":ns default: ns %q, %d pods", m.ns, len(m.pods.rows))
	}
	typeKeys(m, "esc")
	if m.view != viewWorkloads {
		t.Fatalf("esc went back to %v, want workloads", viewNames[m.view])
	}
}

func TestReadonlyRefusesChanges(t *testing.T) {
	b := &fakeBackend{}
	m := New(Options{Backend: b, Now: fixedNow, NoColor: true, Readonly: true})
	m.Update(windowSize(80, 24))
	m.Update(BatchMsg{Changes: fixture()})
	typeKeys(m, "4", "ctrl+d")
	if m.confirm != nil || strings.Contains(m.Render(), "Delete") {
		t.Fatal("read-only console asked to delete")
	}
	typeKeys(m, "?")
	if out := m.Render(); strings.Contains(out, "delete") || strings.Contains(out, "scale") || !strings.Contains(out, "read-only") {
		t.Fatalf("read-only help shows changing keys:\n%s", out)
	}
}

func TestUnreachableSaysSo(t *testing.T) {
	m := newFixtureModel(80, 24, nil)
	m.Update(HealthMsg{Err: "API server unreachable: dial tcp 10.0.0.2:6443: connect: connection refused"})
	if out := m.Render(); !strings.Contains(out, "unreachable") || !strings.Contains(out, "retrying") {
		t.Fatalf("no unreachable notice:\n%s", out)
	}
	m.Update(HealthMsg{Err: "credentials refused: Unauthorized"})
	if out := m.Render(); !strings.Contains(out, "credentials refused") {
		t.Fatalf("no credentials notice:\n%s", out)
	}
}

func TestLogsFollowAndScroll(t *testing.T) {
	m := newFixtureModel(80, 24, &fakeBackend{logErr: errors.New("unused")})
	typeKeys(m, "4") // api-5c-x is first
	m.logs.containers = []string{"app"}
	m.go_(viewLogs)
	m.logSeq++
	m.logs.reset(LogRequest{Namespace: "shop", Pod: "web-7d9f-a1", Container: "app"})
	m.logs.stream = &logStream{id: m.logSeq, ch: make(chan logMsg), cancel: func() {}}
	feed := func(from, to int) {
		var lines []string
		for i := from; i < to; i++ {
			lines = append(lines, fmt.Sprintf("line %04d", i))
		}
		m.Update(logMsg{id: m.logSeq, lines: lines})
	}
	feed(0, 100)
	out := m.Render()
	if !strings.Contains(out, "line 0099") || !strings.Contains(out, "follow:on") {
		t.Fatalf("following does not show the newest line:\n%s", out)
	}
	typeKeys(m, "up", "up", "up")
	feed(100, 110)
	out = m.Render()
	if !strings.Contains(out, "follow:off") || strings.Contains(out, "line 0109") || !strings.Contains(out, "line 0096") {
		t.Fatalf("scrolling up did not stop following:\n%s", out)
	}
	typeKeys(m, "G")
	out = m.Render()
	if !strings.Contains(out, "follow:on") || !strings.Contains(out, "line 0109") {
		t.Fatalf("G did not resume following:\n%s", out)
	}
	typeKeys(m, "/", "0042", "enter")
	out = ansi.Strip(m.Render())
	if !strings.Contains(out, "line 0042") || strings.Contains(out, "line 0109") {
		t.Fatalf("filter /0042:\n%s", out)
	}
	// The buffer is bounded: the oldest lines go.
	feed(1000, 1000+maxLogLines+500)
	if len(m.logs.lines) != maxLogLines || m.logs.lines[0] != fmt.Sprintf("line %04d", 1500) {
		t.Fatalf("buffer: %d lines, first %q", len(m.logs.lines), m.logs.lines[0])
	}
}

func TestLogsExplainEmptiness(t *testing.T) {
	m := newFixtureModel(80, 24, &fakeBackend{logErr: errors.New(`container "app" in pod "api-5c-x" is waiting to start: trying and failing to pull image`)})
	typeKeys(m, "4", "l") // api-5c-x, ImagePullBackOff
	if m.view != viewLogs {
		t.Fatalf("l did not open logs")
	}
	msg := m.logs.stream.readCmd()()
	m.Update(msg)
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "Container app is waiting (ImagePullBackOff)") {
		t.Fatalf("no reason for the empty log:\n%s", out)
	}
	m2 := newFixtureModel(80, 24, &fakeBackend{logErr: errors.New("error dialing backend: dial tcp 10.0.0.9:10250: connect: no route to host")})
	typeKeys(m2, "4", "down", "down", "l") // web-7d9f-a1, running
	m2.Update(m2.logs.stream.readCmd()())
	if out := ansi.Strip(m2.Render()); !strings.Contains(out, "cannot be reached") {
		t.Fatalf("unreachable node not explained:\n%s", out)
	}
}

// recorder wraps the model in a program and keeps the last frame it drew,
// so flows assert whole screens rather than the renderer's incremental
// output.
type recorder struct {
	m    *Model
	mu   sync.Mutex
	last string
}

func (r *recorder) Init() tea.Cmd { return r.m.Init() }
func (r *recorder) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := r.m.Update(msg)
	return r, cmd
}
func (r *recorder) View() tea.View {
	v := r.m.View()
	r.mu.Lock()
	r.last = ansi.Strip(v.Content)
	r.mu.Unlock()
	return v
}
func (r *recorder) screen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// waitScreen waits until the drawn frame contains all of want.
func waitScreen(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := r.screen()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %q; last frame:\n%s", want, s)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func startProgram(t *testing.T, b Backend) (*teatest.TestModel, *recorder) {
	m := New(Options{Backend: b, Server: "https://10.0.0.2:6443", Now: fixedNow, NoColor: true})
	r := &recorder{m: m}
	tm := teatest.NewTestModel(t, r, teatest.WithInitialTermSize(100, 30))
	tm.Send(BatchMsg{Changes: fixture()})
	t.Cleanup(func() { _ = tm.Quit() })
	return tm, r
}

func TestProgramNavigation(t *testing.T) {
	tm, r := startProgram(t, &fakeBackend{})
	waitScreen(t, r, "Insufficient cpu")
	tm.Type(":deploy")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitScreen(t, r, "Pods of deployment shop/web")
	tm.Type("5")
	waitScreen(t, r, "LoadBalancer", "shop.home.lan")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func TestProgramDeleteAsksFirst(t *testing.T) {
	b := &fakeBackend{}
	tm, r := startProgram(t, b)
	tm.Type("4")
	waitScreen(t, r, "ImagePullBackOff")
	tm.Send(tea.KeyPressMsg{Code: 'd', Mod: tea.ModCtrl})
	waitScreen(t, r, "Delete pod shop/api-5c-x? y/n")
	tm.Type("n")
	waitScreen(t, r, "delete cancelled")
	if len(b.Deleted()) != 0 {
		t.Fatal("deleted after n")
	}
	tm.Send(tea.KeyPressMsg{Code: 'd', Mod: tea.ModCtrl})
	tm.Type("y")
	waitScreen(t, r, "deleted pod shop/api-5c-x")
	if d := b.Deleted(); len(d) != 1 || d[0] != (ObjRef{Kind: "Pod", Namespace: "shop", Name: "api-5c-x"}) {
		t.Fatalf("deleted %v", d)
	}
}

func TestProgramLogsFollow(t *testing.T) {
	pr, w := io.Pipe()
	b := &fakeBackend{pipeR: pr}
	tm, r := startProgram(t, b)
	tm.Type("4")
	waitScreen(t, r, "web-7d9f-a1")
	tm.Type("jjl") // web-7d9f-a1
	waitScreen(t, r, "No log from app yet; following.")
	var buf bytes.Buffer
	for i := range 60 {
		fmt.Fprintf(&buf, "request %03d ok\n", i)
	}
	go func() { _, _ = w.Write(buf.Bytes()) }()
	waitScreen(t, r, "request 059 ok", "follow:on")
	tm.Type("kkkkk")
	waitScreen(t, r, "follow:off")
	go func() { _, _ = io.WriteString(w, "request 060 late\n") }()
	tm.Type("G")
	waitScreen(t, r, "request 060 late", "follow:on")
	_ = w.Close()
}

// TestFlowTimesWhatItWatched: API timestamps have whole seconds; stages the
// console saw happen are timed by when it saw them.
func TestFlowTimesWhatItWatched(t *testing.T) {
	s := NewStore()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := &Pod{Namespace: "d", Name: "w", UID: "u", Created: t0, Phase: "Pending"}
	s.Apply([]Change{{Kind: KindPod, Key: "d/w", Obj: p, At: ms(40)}}, ms(40))
	p2 := *p
	p2.Node, p2.ScheduledAt = "n", t0
	s.Apply([]Change{{Kind: KindPod, Key: "d/w", Obj: &p2, At: ms(290)}}, ms(290))
	p3 := p2
	p3.Phase, p3.SandboxAt, p3.StartedAt, p3.ReadyAt = "Running", t0.Add(time.Second), t0.Add(time.Second), t0.Add(time.Second)
	s.Apply([]Change{{Kind: KindPod, Key: "d/w", Obj: &p3, At: ms(1790)}}, ms(1790))
	items := s.Flows("", "", ms(2000), flowWindow)
	if len(items) != 1 {
		t.Fatalf("%d flows", len(items))
	}
	f := s.Flow(items[0], ms(2000))
	if got := f.Stages[StageScheduled].Took; got != 250*time.Millisecond {
		t.Errorf("scheduled took %v, want 250ms", got)
	}
	if got := f.Stages[StageSandbox].Took; got != 1500*time.Millisecond {
		t.Errorf("network took %v, want 1.5s", got)
	}
	if f.Total != 1750*time.Millisecond {
		t.Errorf("total %v, want 1.75s", f.Total)
	}
}

// TestLogsAllContainers: c cycles the containers, then all of them merged with
// a [container] prefix on each line, as kubectl logs --all-containers --prefix.
func TestLogsAllContainers(t *testing.T) {
	b := &fakeBackend{logs: map[string]string{"app": "a1\na2\n", "sidecar": "s1\n"}}
	m := newFixtureModel(120, 30, b)
	m.logs.containers = []string{"app", "sidecar"}
	m.go_(viewLogs)
	run := func(cmd tea.Cmd) {
		for i := 0; cmd != nil && i < 100; i++ {
			msg := cmd()
			if msg == nil {
				return
			}
			_, cmd = m.Update(msg)
		}
	}
	run(m.openLogs(LogRequest{Namespace: "shop", Pod: "web-7d9f-a1", Container: "app"}))
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "a2") || strings.Contains(out, "s1") {
		t.Fatalf("app's log:\n%s", out)
	}
	_, cmd := m.Update(press("c"))
	run(cmd)
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "s1") || strings.Contains(out, "a2") {
		t.Fatalf("sidecar's log:\n%s", out)
	}
	_, cmd = m.Update(press("c"))
	run(cmd)
	out := ansi.Strip(m.Render())
	for _, want := range []string{"all containers", "[app] a1", "[app] a2", "[sidecar] s1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("all containers: no %q in\n%s", want, out)
		}
	}
	_, cmd = m.Update(press("c"))
	run(cmd)
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "a1") || strings.Contains(out, "[sidecar] s1") {
		t.Fatalf("back to app:\n%s", out)
	}
}

// TestWorkloadLogs: l on a workload with several pods shows every container of
// every pod, merged, each line prefixed [pod/container].
func TestWorkloadLogs(t *testing.T) {
	b := &fakeBackend{logs: map[string]string{"app": "hello\n"}}
	m := newFixtureModel(120, 30, b)
	var w *Workload
	for _, cand := range m.store.Workloads {
		if len(m.store.PodsOf(cand)) > 1 {
			w = cand
			break
		}
	}
	if w == nil {
		t.Fatal("the fixture has no workload with several pods")
	}
	pods := m.store.PodsOf(w)
	cmd := m.openLogsFor(ObjRef{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name})
	for i := 0; cmd != nil && i < 100; i++ {
		msg := cmd()
		if msg == nil {
			break
		}
		_, cmd = m.Update(msg)
	}
	out := ansi.Strip(m.Render())
	for _, p := range pods[:2] {
		if want := "[" + p.Name + "/" + p.Containers[0] + "]"; !strings.Contains(out, want) {
			t.Fatalf("no lines of %s in the workload's logs:\n%s", want, out)
		}
	}
}

// TestProgramFilter: / narrows the pods list as you type; esc clears it.
func TestProgramFilter(t *testing.T) {
	tm, r := startProgram(t, &fakeBackend{})
	tm.Type("4")
	waitScreen(t, r, "api-5c-x", "web-7d9f-a1")
	tm.Type("/web")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitScreenFunc(t, r, "only web pods", func(sc string) bool {
		return strings.Contains(sc, "web-7d9f-a1") && !strings.Contains(sc, "api-5c-x")
	})
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	waitScreen(t, r, "api-5c-x", "web-7d9f-a1")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func waitScreenFunc(t *testing.T, r *recorder, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := r.screen()
		if cond(sc) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %s:\n%s", what, sc)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
