package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

func windowSize(w, h int) tea.Msg { return tea.WindowSizeMsg{Width: w, Height: h} }

func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+d":
		return tea.KeyPressMsg{Code: 'd', Mod: tea.ModCtrl}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

func typeKeys(m *Model, keys ...string) {
	for _, k := range keys {
		if len([]rune(k)) > 1 && k != "enter" && k != "esc" && k != "up" && k != "down" && k != "ctrl+d" && k != "backspace" {
			for _, r := range k {
				m.Update(press(string(r)))
			}
			continue
		}
		m.Update(press(k))
	}
}

// goldenLog is the log of the fixture's web pods: a server starting, then
// requests, one line wider than 80 columns.
func goldenLog() string {
	var b strings.Builder
	b.WriteString("2026/05/01 11:59:06 [notice] 1#1: using the \"epoll\" event method\n")
	b.WriteString("2026/05/01 11:59:06 [notice] 1#1: nginx/1.27.0 start worker processes\n")
	for i := range 30 {
		fmt.Fprintf(&b, "10.42.0.%d - - [01/May/2026:11:59:%02d +0000] \"GET /api/cart/%d HTTP/1.1\" 200 %d \"-\" \"shop-frontend/2.3\"\n", 10+i%5, 10+i, 1000+i, 512+i*7)
	}
	b.WriteString("2026/05/01 11:59:45 [warn] 1#1: *31 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream\n")
	return b.String()
}

// goldenBackend answers logs for the running web pods and says the
// ImagePullBackOff pod's container is waiting.
func goldenBackend() *fakeBackend {
	return &fakeBackend{logs: map[string]string{"app": goldenLog()}, logErrFor: func(req LogRequest) error {
		if req.Pod == "api-5c-x" {
			return fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", req.Container, req.Pod)
		}
		return nil
	}}
}

// viewKeys are the keys that open each view from the start (golden,
// resize and colour tests go through all of them).
var viewKeys = []struct {
	name string
	keys []string
}{
	{"overview", []string{"1"}},
	{"flow", []string{"2"}},
	{"workloads", []string{"3"}},
	{"pods", []string{"4"}},
	{"services", []string{"5"}},
	{"events", []string{"6"}},
	{"nodes", []string{":", "n", "o", "enter"}},
	{"events-of-pod", []string{"4", "down", "e"}},
	{"logs", []string{"4", "down", "down", "l"}},
	{"logs-wrapped-filtered", []string{"4", "down", "down", "l", "w", "/", "u", "p", "s", "t", "r", "e", "a", "m", "enter"}},
	{"logs-waiting", []string{"4", "l"}},
	{"describe", []string{"4", "d"}},
	{"yaml", []string{"4", "y"}},
	{"help", []string{"2", "?"}},
	{"delete-confirm", []string{"4", "ctrl+d"}},
}

// TestGoldenViews snapshots every view at 80x24 and 160x48 with the fixed
// clock and data; `go test ./tui -run Golden -update` rewrites them after a
// deliberate change (review the diff).
func TestGoldenViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, v := range viewKeys {
			t.Run(fmt.Sprintf("%s-%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				m := newFixtureModel(size[0], size[1], goldenBackend())
				// keys runs the commands the keys return (Describe, YAML and
				// logs load in them) as the program would.
				keys(m, v.keys...)
				out := ansi.Strip(m.Render())
				assertSize(t, out, size[0], size[1])
				golden.RequireEqual(t, out)
			})
		}
	}
}

func assertSize(t *testing.T, out string, w, h int) {
	t.Helper()
	lines := splitLines(out)
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Errorf("line %d is %d wide, more than %d: %q", i+1, ansi.StringWidth(l), w, l)
		}
	}
}
