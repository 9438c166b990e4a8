package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// footer is the bottom line of the screen: prompts, confirmations and the
// result of the last action.
func footer(m *Model) string {
	lines := splitLines(ansi.Strip(m.Render()))
	return lines[len(lines)-1]
}

func (f *fakeBackend) calls() (shells []string, scales int, restarts []ObjRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.shells...), f.scales, append([]ObjRef(nil), f.restarts...)
}

// TestShell: s opens a shell in the pod's first container when it runs,
// and says why not otherwise.
func TestShell(t *testing.T) {
	tests := []struct {
		name      string
		keys      []string
		wantShell string // "" for none
		wantSays  string
	}{
		{"running pod", []string{"4", "down", "down", "s"}, "pod shop/web-7d9f-a1 app", "shell in pod shop/web-7d9f-a1 app"},
		{"pending pod", []string{"4", "s"}, "", "shop/api-5c-x is not running (ImagePullBackOff)"},
		{"crash-looping container", []string{"4", "G", "s"}, "", "container app of pod shop/worker-9 is not running (CrashLoopBackOff)"},
		{"a workload", []string{"3", "s"}, "", "a shell opens in a pod"},
		{"from a running pod's logs", []string{"4", "down", "down", "l", "s"}, "pod shop/web-7d9f-a1 app", "shell in pod shop/web-7d9f-a1 app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{}
			m := newFixtureModel(120, 30, b)
			keys(m, tt.keys[:len(tt.keys)-1]...)
			_, cmd := m.Update(press("s"))
			shells, _, _ := b.calls()
			switch {
			case tt.wantShell == "" && (len(shells) > 0 || cmd != nil):
				t.Errorf("opened a shell: %v", shells)
			case tt.wantShell != "" && (len(shells) != 1 || shells[0] != tt.wantShell || cmd == nil):
				t.Errorf("shells %v, want [%s]", shells, tt.wantShell)
			}
			if f := footer(m); !strings.Contains(f, tt.wantSays) {
				t.Errorf("footer %q, want %q", f, tt.wantSays)
			}
		})
	}
}

// TestProgramShell: the console suspends for the shell and comes back with
// the footer saying it closed.
func TestProgramShell(t *testing.T) {
	b := &fakeBackend{}
	tm, r := startProgram(t, b)
	tm.Type("4")
	waitScreen(t, r, "web-7d9f-a1")
	tm.Type("jjs")
	waitScreen(t, r, "shell closed")
	if shells, _, _ := b.calls(); len(shells) != 1 || shells[0] != "pod shop/web-7d9f-a1 app" {
		t.Fatalf("shells %v", shells)
	}
}

// TestScale: S asks for the count with the current one filled in; the
// backend gets the number typed; anything but a whole number 0 or more is
// refused with a message and no call.
func TestScale(t *testing.T) {
	b := &fakeBackend{}
	m := newFixtureModel(80, 24, b)
	keys(m, "3") // deploy shop/web first
	keys(m, "S")
	if f := footer(m); !strings.Contains(f, "Scale deployment shop/web to: 3") {
		t.Fatalf("no prompt with the current count: %q", f)
	}
	keys(m, "backspace", "5", "enter")
	if got := b.scaled["deployment shop/web"]; got != 5 || b.scales != 1 {
		t.Fatalf("scaled to %d (%d calls), want 5", got, b.scales)
	}
	if f := footer(m); !strings.Contains(f, "scaled deployment shop/web to 5") {
		t.Fatalf("footer %q", f)
	}
	for _, bad := range []string{"abc", "-1", "2.5", "99999999999", ""} {
		keys(m, "S", "backspace")
		for _, r := range bad {
			keys(m, string(r))
		}
		keys(m, "enter")
		if _, n, _ := b.calls(); n != 1 {
			t.Fatalf("%q reached the backend", bad)
		}
		if f := footer(m); !strings.Contains(f, fmt.Sprintf("%q is not a replica count", bad)) {
			t.Fatalf("%q: footer %q", bad, f)
		}
	}
	keys(m, "esc", "G", "S") // the CronJob
	if m.inputKind != 0 || !strings.Contains(footer(m), "only Deployments, StatefulSets and ReplicaSets scale") {
		t.Fatalf("scaling a CronJob: input %q footer %q", m.inputKind, footer(m))
	}
}

// TestRolloutRestart: r restarts a Deployment (or StatefulSet, DaemonSet)
// and says so; on anything else it says it cannot.
func TestRolloutRestart(t *testing.T) {
	b := &fakeBackend{}
	m := newFixtureModel(80, 24, b)
	keys(m, "3", "r")
	if _, _, rs := b.calls(); len(rs) != 1 || rs[0] != (ObjRef{Kind: "Deployment", Namespace: "shop", Name: "web"}) {
		t.Fatalf("restarts %v", rs)
	}
	if f := footer(m); !strings.Contains(f, "rollout restart of deployment shop/web started") {
		t.Fatalf("footer %q", f)
	}
	keys(m, "G", "r") // the Job
	if _, _, rs := b.calls(); len(rs) != 1 {
		t.Fatalf("restarted a Job: %v", rs)
	}
	if f := footer(m); !strings.Contains(f, "only Deployments, StatefulSets and DaemonSets restart") {
		t.Fatalf("footer %q", f)
	}
}

// TestEventsOfOneObject: e lists only the selected object's events, says
// whose in the title, and esc goes back to where it was.
func TestEventsOfOneObject(t *testing.T) {
	m := newFixtureModel(120, 30, nil)
	keys(m, "4", "down", "e") // big-0
	out := ansi.Strip(m.Render())
	if m.view != viewEvents || !strings.Contains(out, "Events · pod shop/big-0") {
		t.Fatalf("e did not open big-0's events:\n%s", out)
	}
	if !strings.Contains(out, "FailedScheduling") || strings.Contains(out, "BackOff") || strings.Contains(out, "Pulled") {
		t.Fatalf("events of another object shown:\n%s", out)
	}
	keys(m, "esc")
	if r, _ := m.selected(); m.view != viewPods || r.Name != "big-0" {
		t.Fatalf("esc went to %s, %v", viewNames[m.view], r)
	}
	keys(m, "6")
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "BackOff") {
		t.Fatalf("the events view still shows one object's:\n%s", out)
	}
}

// TestLogKeys: w wraps long lines, t asks for timestamps, p for the previous
// container, f turns following off and on.
func TestLogKeys(t *testing.T) {
	long := strings.Repeat("x", 150) + " ENDMARK"
	var log strings.Builder
	for i := range 40 {
		fmt.Fprintf(&log, "line %02d\n", i)
	}
	log.WriteString(long + "\n")
	b := &fakeBackend{logs: map[string]string{"app": log.String()}}
	m := newFixtureModel(80, 24, b)
	keys(m, "4", "down", "down", "l")
	screen := func() string { return ansi.Strip(m.Render()) }
	last := func() LogRequest { r := b.LogRequests(); return r[len(r)-1] }

	t.Run("w wraps", func(t *testing.T) {
		if s := screen(); strings.Contains(s, "ENDMARK") || !strings.Contains(s, "wrap:off") {
			t.Fatalf("long line not cut before w:\n%s", s)
		}
		keys(m, "w")
		if s := screen(); !strings.Contains(s, "ENDMARK") || !strings.Contains(s, "wrap:on") {
			t.Fatalf("w did not wrap:\n%s", s)
		}
		keys(m, "w")
		if s := screen(); strings.Contains(s, "ENDMARK") {
			t.Fatalf("second w did not unwrap:\n%s", s)
		}
	})
	t.Run("t timestamps", func(t *testing.T) {
		keys(m, "t")
		if !last().Timestamps || !strings.Contains(screen(), "ts:on") {
			t.Fatalf("t: request %+v\n%s", last(), screen())
		}
		keys(m, "t")
		if last().Timestamps || !strings.Contains(screen(), "ts:off") {
			t.Fatalf("second t: request %+v", last())
		}
	})
	t.Run("f follow", func(t *testing.T) {
		keys(m, "f")
		if s := screen(); !strings.Contains(s, "follow:off") {
			t.Fatalf("f did not stop following:\n%s", s)
		}
		m.Update(logMsg{id: m.logs.stream.id, lines: []string{"newest line"}})
		if s := screen(); strings.Contains(s, "newest line") {
			t.Fatalf("not following, yet the new line scrolled in:\n%s", s)
		}
		keys(m, "f")
		if s := screen(); !strings.Contains(s, "follow:on") || !strings.Contains(s, "newest line") {
			t.Fatalf("f did not resume following:\n%s", s)
		}
	})
	t.Run("p previous", func(t *testing.T) {
		keys(m, "p")
		if !last().Previous || !strings.Contains(screen(), "(previous)") {
			t.Fatalf("p: request %+v\n%s", last(), screen())
		}
		keys(m, "p")
		if last().Previous || strings.Contains(screen(), "(previous)") {
			t.Fatalf("second p: request %+v", last())
		}
	})
}

// TestNoPreviousContainer: asking for the previous instance of a container
// that never restarted says so once, and stops asking.
func TestNoPreviousContainer(t *testing.T) {
	noPrev := func(req LogRequest) error {
		if req.Previous {
			return fmt.Errorf(`previous terminated container %q in pod %q not found`, req.Container, req.Pod)
		}
		return nil
	}
	b := &fakeBackend{logs: map[string]string{"app": "hello\n"}, logErrFor: noPrev}
	m := newFixtureModel(80, 24, b)
	keys(m, "4", "down", "down", "l")
	_, cmd := m.Update(press("p"))
	seen := drain(m, cmd)
	if s := ansi.Strip(m.Render()); !strings.Contains(s, "No previous container: app has not restarted") {
		t.Fatalf("no message:\n%s", s)
	}
	for _, msg := range seen {
		if _, ok := msg.(logReopenMsg); ok {
			t.Fatal("the console asks again for a previous container that does not exist")
		}
	}

	t.Run("several containers", func(t *testing.T) {
		m := newFixtureModel(80, 24, b)
		m.go_(viewLogs)
		drain(m, m.openLogs(LogRequest{Namespace: "shop", Pod: "web-7d9f-a1", All: []string{"app", "sidecar"}, Previous: true}))
		if s := ansi.Strip(m.Render()); !strings.Contains(s, "none of these containers has restarted") {
			t.Fatalf("no message:\n%s", s)
		}
	})
}

// singlePodWorkload adds StatefulSet shop/db's one pod, with two containers.
func singlePodWorkload(m *Model) {
	p := &Pod{Namespace: "shop", Name: "db-0", UID: "uid-db-0", Node: "node-a", Phase: "Running", Status: "Running", Ready: 2, Total: 2,
		Created: t0.Add(-time.Hour), OwnerKind: "StatefulSet", OwnerName: "db", Containers: []string{"postgres", "metrics"}}
	m.Update(BatchMsg{Changes: []Change{{Kind: KindPod, Key: p.Key(), Obj: p}}})
}

// TestSinglePodWorkloadLogs: l on a workload with one pod shows all its
// containers merged, like a workload with several, and c cycles them.
func TestSinglePodWorkloadLogs(t *testing.T) {
	b := &fakeBackend{logs: map[string]string{"postgres": "ready to accept connections\n", "metrics": "serving on :9187\n"}}
	m := newFixtureModel(120, 30, b)
	singlePodWorkload(m)
	keys(m, ":", "s", "t", "s", "enter", "l")
	s := ansi.Strip(m.Render())
	for _, want := range []string{"statefulset shop/db", "all containers", "[postgres] ready to accept connections", "[metrics] serving on :9187"} {
		if !strings.Contains(s, want) {
			t.Fatalf("no %q:\n%s", want, s)
		}
	}
	keys(m, "c")
	if s := ansi.Strip(m.Render()); !strings.Contains(s, "[postgres]") || !strings.Contains(s, "ready to accept") || strings.Contains(s, "serving on") {
		t.Fatalf("c did not pick the first container:\n%s", s)
	}
}

// TestLogsOfWhatHasNone: l on a Service, an Ingress or an Event says why
// nothing opens.
func TestLogsOfWhatHasNone(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"5"}, "services route traffic to pods but have no log"},
		{[]string{"5", "G"}, "ingresses route traffic to pods but have no log"},
		{[]string{"6"}, "events have no log"},
		{[]string{":", "n", "o", "enter"}, "nodes have no log"},
	} {
		m := newFixtureModel(120, 30, nil)
		keys(m, tc.keys...)
		keys(m, "l")
		if f := footer(m); m.view == viewLogs || !strings.Contains(f, tc.want) {
			t.Errorf("l after %v: view %s, footer %q", tc.keys, viewNames[m.view], f)
		}
	}
}

// TestMergedLogsOneSourceWaiting: in a workload's logs, a pod whose
// container has not started is retried on its own; the others' lines stay
// and are not read again.
func TestMergedLogsOneSourceWaiting(t *testing.T) {
	waiting := errors.New(`container "app" in pod "web-7d9f-c3" is waiting to start: ContainerCreating`)
	b := &fakeBackend{logs: map[string]string{"app": "hello\n"}, logErrFor: func(req LogRequest) error {
		if req.Pod == "web-7d9f-c3" {
			return waiting
		}
		return nil
	}}
	m := newFixtureModel(120, 30, b)
	keys(m, "3") // deploy shop/web
	n := len(m.store.PodsOf(m.store.Workloads["Deployment/shop/web"]))
	_, cmd := m.Update(press("l"))
	next := make(chan tea.Msg, 1)
	deadline := time.After(5 * time.Second)
	for !strings.Contains(ansi.Strip(m.Render()), fmt.Sprintf("1/%d without log", n)) || strings.Count(ansi.Strip(m.Render()), "hello") < n-1 {
		go func() { next <- cmd() }()
		select {
		case msg := <-next:
			_, cmd = m.Update(msg)
		case <-deadline:
			t.Fatalf("never showed two pods' lines and one waiting:\n%s", ansi.Strip(m.Render()))
		}
		if cmd == nil {
			t.Fatalf("the stream stopped:\n%s", ansi.Strip(m.Render()))
		}
	}
	// Wait until the waiting pod was asked again, then check the others
	// were not.
	for asked := 0; ; {
		asked = 0
		for _, r := range b.LogRequests() {
			if r.Pod == "web-7d9f-c3" {
				asked++
			}
		}
		if asked >= 3 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the waiting pod was asked %d times", asked)
		case <-time.After(time.Millisecond): // polling interval
		}
	}
	count := 0
	for _, r := range b.LogRequests() {
		if r.Pod == "web-7d9f-a1" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("web-7d9f-a1's log was requested %d times; a waiting neighbour restarted it", count)
	}
	m.logs.stream.cancel()
}

// TestReadonlyRefusesEveryChange: with --readonly, s, S, r and ctrl-d do
// nothing to the cluster and say why, and help does not offer them.
func TestReadonlyRefusesEveryChange(t *testing.T) {
	b := &fakeBackend{logs: map[string]string{"app": "hello\n"}}
	m := New(Options{Backend: b, Now: fixedNow, NoColor: true, Readonly: true, Retry: time.Millisecond})
	m.Update(windowSize(80, 24))
	m.Update(BatchMsg{Changes: fixture()})
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"4", "down", "down", "s"}, "shell is turned off"},
		{[]string{"l", "s"}, "shell is turned off"},
		{[]string{"esc", "ctrl+d"}, "delete is turned off"},
		{[]string{"3", "S"}, "scale is turned off"},
		{[]string{"r"}, "rollout restart is turned off"},
	} {
		keys(m, tc.keys...)
		if f := footer(m); !strings.Contains(f, "read-only console: "+tc.want) {
			t.Errorf("%v: footer %q", tc.keys, f)
		}
		if m.confirm != nil || m.inputKind != 0 {
			t.Errorf("%v: asks for a confirmation or a count", tc.keys)
		}
	}
	shells, scales, restarts := b.calls()
	if len(shells)+scales+len(restarts)+len(b.Deleted()) != 0 {
		t.Fatalf("read-only console changed things: shells %v, %d scales, restarts %v, deleted %v", shells, scales, restarts, b.Deleted())
	}
	for _, v := range []string{"3", "4"} {
		keys(m, v, "?")
		out := ansi.Strip(m.Render())
		for _, word := range []string{"shell", "scale", "rollout restart", "delete"} {
			if strings.Contains(out, word) {
				t.Errorf("read-only help in view %s offers %q:\n%s", v, word, out)
			}
		}
		keys(m, "?")
	}
}
