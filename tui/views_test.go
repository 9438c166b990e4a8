package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/charmbracelet/x/ansi"
)

// column returns the screen column where word starts in the first line of
// out that contains all of anchors, or -1.
func columnOf(out, word string, anchors ...string) int {
	for _, l := range splitLines(out) {
		ok := true
		for _, a := range anchors {
			ok = ok && strings.Contains(l, a)
		}
		if ok {
			if i := strings.Index(l, word); i >= 0 {
				return ansi.StringWidth(l[:i])
			}
		}
	}
	return -1
}

// TestIngressColumns: Ingresses have kubectl's columns of their own (CLASS,
// HOSTS, ADDRESS, PORTS, AGE), not the Services' (class under CLUSTER-IP,
// hosts under PORTS).
func TestIngressColumns(t *testing.T) {
	for _, w := range []int{80, 160} {
		m := newFixtureModel(w, 24, nil)
		keys(m, "5")
		out := ansi.Strip(m.Render())
		for _, c := range []struct{ title, value string }{
			{"CLASS", "traefik"}, {"HOSTS", "shop.home.lan"}, {"ADDRESS", "192.168.1.20"}, {"PORTS", "80, 443"}, {"AGE", "24h"},
		} {
			head := columnOf(out, c.title, "CLASS", "HOSTS")
			cell := columnOf(out, c.value, "traefik")
			if head < 0 || head != cell {
				t.Errorf("%d wide: %s at column %d, %q at %d:\n%s", w, c.title, head, c.value, cell, out)
			}
		}
		if strings.Contains(out, "Ingress ") {
			t.Errorf("%d wide: an Ingress still listed as a Service type:\n%s", w, out)
		}
	}
}

// TestServicesCursorCrossesToIngresses: the cursor goes down from the last
// Service into the Ingresses and back up; d describes what it is on, and
// :ing starts on the Ingresses.
func TestServicesCursorCrossesToIngresses(t *testing.T) {
	m := newFixtureModel(80, 24, nil)
	keys(m, "5")
	sel := func() string { r, _ := m.selected(); return r.String() }
	if got := sel(); got != "service default/kubernetes" {
		t.Fatalf("first selection %q", got)
	}
	keys(m, "down", "down")
	if got := sel(); got != "ingress shop/web" {
		t.Fatalf("down past the last service selected %q", got)
	}
	keys(m, "up")
	if got := sel(); got != "service shop/web" {
		t.Fatalf("up from the first ingress selected %q", got)
	}
	keys(m, "G", "d")
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "Describe ingress shop/web") || !strings.Contains(out, "Kind:         Ingress") {
		t.Fatalf("G then d did not describe the ingress:\n%s", out)
	}
	keys(m, "esc", "g")
	if got := sel(); got != "service default/kubernetes" {
		t.Fatalf("g selected %q", got)
	}
	keys(m, ":", "i", "n", "g", "enter")
	if got := sel(); m.view != viewServices || got != "ingress shop/web" {
		t.Fatalf(":ing: view %s, selected %q", viewNames[m.view], got)
	}
}

// TestNodesView: :no, :node and :nodes open the Nodes view (they opened the
// Overview), / filters it, d and enter describe a node, y shows its YAML, l
// and ctrl-d say why they do nothing, and e shows the node's events.
func TestNodesView(t *testing.T) {
	for _, word := range []string{"no", "node", "nodes"} {
		m := newFixtureModel(80, 24, nil)
		typeKeys(m, ":", word, "enter")
		out := ansi.Strip(m.Render())
		if m.view != viewNodes || !strings.Contains(out, " Nodes ") || !strings.Contains(out, "node-a") || !strings.Contains(out, "node-b") {
			t.Fatalf(":%s: view %s:\n%s", word, viewNames[m.view], out)
		}
	}
	b := &fakeBackend{}
	m := newFixtureModel(80, 24, b)
	typeKeys(m, ":", "no", "enter")
	for _, c := range []struct{ title, value string }{
		{"STATUS", "Ready"}, {"CPU", "0.8/4"}, {"MEMORY", "384M/8.0G"}, {"PODS", "3/110"}, {"AGE", "30d"},
	} {
		head := columnOf(ansi.Strip(m.Render()), c.title, "NAME", "STATUS")
		cell := columnOf(ansi.Strip(m.Render()), c.value, "node-b")
		if head < 0 || head != cell {
			t.Errorf("%s at column %d, %q at %d:\n%s", c.title, head, c.value, cell, ansi.Strip(m.Render()))
		}
	}
	typeKeys(m, "/", "b")
	out := ansi.Strip(m.Render())
	if len(m.nodes.rows) != 1 || !strings.Contains(out, "node-b") || strings.Contains(out, "node-a") || !strings.Contains(out, "Nodes /b") {
		t.Fatalf("/b: %d rows:\n%s", len(m.nodes.rows), out)
	}
	typeKeys(m, "enter")
	if r, _ := m.selected(); r != (ObjRef{Kind: "Node", Name: "node-b"}) {
		t.Fatalf("selected %+v", r)
	}
	keys(m, "d")
	if out := ansi.Strip(m.Render()); m.view != viewText || !strings.Contains(out, "Describe node/node-b") || !strings.Contains(out, "Kind:         Node") {
		t.Fatalf("d did not describe the node:\n%s", out)
	}
	keys(m, "esc", "y")
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "YAML node/node-b") || !strings.Contains(out, "kind: Node") {
		t.Fatalf("y did not show the node's YAML:\n%s", out)
	}
	keys(m, "esc", "enter")
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "Describe node/node-b") {
		t.Fatalf("enter did not describe the node:\n%s", out)
	}
	keys(m, "esc", "ctrl+d")
	if f := footer(m); m.confirm != nil || !strings.Contains(f, "deleting nodes is not offered in the console") {
		t.Fatalf("ctrl-d on a node: confirm %v, footer %q", m.confirm, f)
	}
	keys(m, "y")
	if len(b.Deleted()) != 0 {
		t.Fatalf("a node was deleted: %v", b.Deleted())
	}
	m.Update(BatchMsg{Changes: []Change{{Kind: KindEvent, Key: "default/n1", Obj: &Event{Namespace: "default", Name: "n1", Type: "Warning",
		Reason: "NodeNotReady", Message: "Node node-b status is now: NodeNotReady", ObjKind: "Node", ObjName: "node-b", Count: 1, Last: t0.Add(-3 * time.Second)}}}})
	keys(m, "esc", ":", "n", "s", " ", "s", "h", "o", "p", "enter", ":", "n", "o", "enter", "e")
	if out := ansi.Strip(m.Render()); m.view != viewEvents || !strings.Contains(out, "NodeNotReady") {
		t.Fatalf("e on a node in ns shop did not show its events (in default):\n%s", out)
	}
}

// TestNodeStatus: a cordoned node says SchedulingDisabled after its Ready
// condition, as kubectl does.
func TestNodeStatus(t *testing.T) {
	m := newFixtureModel(80, 24, nil)
	m.Update(BatchMsg{Changes: []Change{
		{Kind: KindNode, Key: "node-c", Obj: &Node{Name: "node-c", Ready: "NotReady", Unschedulable: true, CPUMilli: 2000, MemBytes: 4 << 30, MaxPods: 110}},
		{Kind: KindNode, Key: "node-d", Obj: &Node{Name: "node-d", Ready: "Ready", Unschedulable: true, CPUMilli: 2000, MemBytes: 4 << 30, MaxPods: 110}},
	}})
	typeKeys(m, ":", "no", "enter")
	out := ansi.Strip(m.Render())
	status := map[string]string{}
	for _, l := range splitLines(out) {
		if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[0], "node-") {
			status[f[0]] = f[1]
		}
	}
	for node, want := range map[string]string{"node-a": "Ready", "node-c": "NotReady,SchedulingDisabled", "node-d": "Ready,SchedulingDisabled"} {
		if status[node] != want {
			t.Errorf("%s: STATUS %q, want %q:\n%s", node, status[node], want, out)
		}
	}
	st := NewStyles(true, false)
	for v, want := range map[string]lipgloss.Style{"Ready": st.OK, "NotReady": st.Bad, "NotReady,SchedulingDisabled": st.Bad,
		"Ready,SchedulingDisabled": st.Warn, "Unknown": st.Warn} {
		if got := st.nodeStatus(v); got.Render("x") != want.Render("x") {
			t.Errorf("%s drawn %q, want %q", v, got.Render("x"), want.Render("x"))
		}
	}
}

// TestOverviewPointsAtNodes: the Overview cuts a long node list with a line
// that points at :no, which lists them all.
func TestOverviewPointsAtNodes(t *testing.T) {
	m := newFixtureModel(80, 24, nil)
	var ch []Change
	for i := range 30 {
		n := fmt.Sprintf("worker-%02d", i)
		ch = append(ch, Change{Kind: KindNode, Key: n, Obj: &Node{Name: n, Ready: "Ready", CPUMilli: 4000, MemBytes: 8 << 30, MaxPods: 110}})
	}
	m.Update(BatchMsg{Changes: ch})
	keys(m, "1")
	out := ansi.Strip(m.Render())
	if !strings.Contains(out, "more nodes (:no to list them all)") || strings.Contains(out, "not yet") {
		t.Fatalf("no pointer at :no:\n%s", out)
	}
	typeKeys(m, ":", "no", "enter")
	if m.view != viewNodes || len(m.nodes.rows) != 32 {
		t.Fatalf(":no: view %s, %d rows", viewNames[m.view], len(m.nodes.rows))
	}
}
