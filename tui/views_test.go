package tui

import (
	"strings"
	"testing"

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
