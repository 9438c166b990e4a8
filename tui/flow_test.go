package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// TestFlowRetention: a row stays for flowWindow after its pod settled
// (Ready, Succeeded, Failed or deleted), counted from then; pods still on
// their way or stuck stay while they are.
func TestFlowRetention(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	day := 24 * time.Hour
	running := func(name string, created time.Duration) *Pod {
		return &Pod{Namespace: "d", Name: name, UID: "uid-" + name, Node: "n", Phase: "Running", Status: "Running", Created: at(created),
			ScheduledAt: at(created), SandboxAt: at(created), StartedAt: at(created)}
	}
	readyLongAgo := running("ready-long-ago", -3*day)
	readyLongAgo.ReadyAt = at(-3 * day)
	readyRecently := running("ready-recently", -2*time.Minute)
	readyRecently.ReadyAt = at(-time.Minute)
	finishedNow := running("ran-for-days", -3*day)
	finishedNow.Phase, finishedNow.Status, finishedNow.FinishedAt = "Succeeded", "Completed", at(-time.Minute)
	failedOld := running("failed-old", -time.Hour)
	failedOld.Phase, failedOld.Status, failedOld.FinishedAt = "Failed", "Error", at(-11*time.Minute)
	failedRecently := running("failed-recently", -time.Hour)
	failedRecently.Phase, failedRecently.Status, failedRecently.FinishedAt = "Failed", "Error", at(-time.Minute)
	evicted := running("evicted", -day) // Failed with no container finishedAt: timed from when the console saw it
	evicted.Phase, evicted.Status = "Failed", "Evicted"
	crashing := running("crash-looping", -3*day)
	crashing.StartedAt, crashing.WaitingReason, crashing.Status = time.Time{}, "CrashLoopBackOff", "CrashLoopBackOff"
	pending := &Pod{Namespace: "d", Name: "unschedulable", UID: "uid-u", Phase: "Pending", Status: "Pending", Created: at(-day), Unschedulable: "0/1 nodes are available"}
	deleted := running("deleted", -3*day)
	deleted.ReadyAt = at(-3 * day)

	s := NewStore()
	var ch []Change
	for _, p := range []*Pod{readyLongAgo, readyRecently, finishedNow, failedOld, failedRecently, evicted, crashing, pending, deleted} {
		ch = append(ch, Change{Kind: KindPod, Key: p.Key(), Obj: p})
	}
	s.Apply(ch, t0)
	s.Apply([]Change{{Kind: KindPod, Key: deleted.Key(), Deleted: true}}, t0)

	rows := func(now time.Time) map[string]bool {
		s.Prune(now)
		out := map[string]bool{}
		for _, it := range s.Flows("", "", now, flowWindow) {
			name := it.Pod.Name
			if it.Gone {
				name += " (deleted)"
			}
			out[name] = true
		}
		return out
	}
	tests := []struct {
		name  string
		now   time.Time
		shown []string
		gone  []string
	}{
		{"now", t0,
			[]string{"ready-recently", "ran-for-days", "failed-recently", "evicted", "crash-looping", "unschedulable", "deleted (deleted)"},
			[]string{"ready-long-ago", "failed-old"}},
		{"nine minutes on", at(9 * time.Minute),
			[]string{"ready-recently", "ran-for-days", "failed-recently", "evicted", "crash-looping", "unschedulable", "deleted (deleted)"},
			[]string{"ready-long-ago", "failed-old"}},
		{"past the window", at(flowWindow + 2*time.Minute),
			[]string{"crash-looping", "unschedulable"},
			[]string{"ready-recently", "ran-for-days", "failed-recently", "evicted", "deleted (deleted)", "ready-long-ago", "failed-old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rows(tt.now)
			for _, n := range tt.shown {
				if !got[n] {
					t.Errorf("%s not in the flow; rows %v", n, got)
				}
			}
			for _, n := range tt.gone {
				if got[n] {
					t.Errorf("%s still in the flow", n)
				}
			}
		})
	}
	if len(s.Gone) != 0 {
		t.Errorf("Prune kept %d deleted pods past the window", len(s.Gone))
	}
}

// TestFlowViewDeletedAndFailed: the flow view marks a deleted pod's row
// "(deleted)" and keeps it for the window after the deletion; a Failed pod's
// row says why it failed, and leaves the window after it failed.
func TestFlowViewDeletedAndFailed(t *testing.T) {
	now := t0
	m := New(Options{Backend: &fakeBackend{}, Now: func() time.Time { return now }, NoColor: true})
	m.Update(windowSize(160, 48))
	m.Update(BatchMsg{Changes: fixture()})
	failed := &Pod{Namespace: "shop", Name: "job-x1", UID: "uid-job-x1", Node: "node-a", Phase: "Failed", Status: "Error", Total: 1, Containers: []string{"main"},
		Created: t0.Add(-40 * time.Second), ScheduledAt: t0.Add(-39 * time.Second), SandboxAt: t0.Add(-38 * time.Second), FinishedAt: t0.Add(-30 * time.Second)}
	m.Update(BatchMsg{Changes: []Change{
		{Kind: KindPod, Key: "shop/web-7d9f-a1", Deleted: true, At: t0},
		{Kind: KindPod, Key: failed.Key(), Obj: failed, At: t0},
	}})
	keys(m, "2")
	row := func(name string) string {
		for _, l := range splitLines(ansi.Strip(m.Render())) {
			if strings.Contains(l, name) {
				return l
			}
		}
		return ""
	}
	if r := row("web-7d9f-a1"); !strings.Contains(r, "web-7d9f-a1 (deleted)") {
		t.Fatalf("no deleted row:\n%s", m.Render())
	}
	if r := row("job-x1"); !strings.Contains(r, "✗ Error") {
		t.Fatalf("failed row %q does not say why:\n%s", r, m.Render())
	}
	tick := func(d time.Duration) {
		now = t0.Add(d)
		m.Update(clockMsg(now))
	}
	tick(5 * time.Minute)
	if row("web-7d9f-a1 (deleted)") == "" || row("job-x1") == "" {
		t.Fatalf("rows gone within the window:\n%s", m.Render())
	}
	tick(flowWindow + time.Minute)
	if r := row("web-7d9f-a1"); r != "" {
		t.Fatalf("deleted row kept past the window: %q", r)
	}
	if r := row("job-x1"); r != "" {
		t.Fatalf("failed row kept past the window: %q", r)
	}
	if row("worker-9") == "" {
		t.Fatalf("the crash-looping pod left the flow while still stuck:\n%s", m.Render())
	}
}
