package tui

import (
	"fmt"
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

// TestGoldenViews snapshots every view at 80x24 and 160x48 with the fixed
// clock and data; `go test ./tui -run Golden -update` rewrites them after a
// deliberate change (review the diff).
func TestGoldenViews(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"overview", []string{"1"}},
		{"flow", []string{"2"}},
		{"workloads", []string{"3"}},
		{"pods", []string{"4"}},
		{"services", []string{"5"}},
		{"events", []string{"6"}},
		{"describe", []string{"4", "d"}},
		{"yaml", []string{"4", "y"}},
		{"help", []string{"2", "?"}},
		{"delete-confirm", []string{"4", "ctrl+d"}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s-%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				m := newFixtureModel(size[0], size[1], nil)
				typeKeys(m, v.keys...)
				// Describe and YAML load in a command; run it as the program would.
				if m.view == viewText {
					m.Update(runCmd(m, v.keys[len(v.keys)-1]))
				}
				out := ansi.Strip(m.Render())
				assertSize(t, out, size[0], size[1])
				golden.RequireEqual(t, out)
			})
		}
	}
}

// runCmd re-issues the last key and runs the command it returns once.
func runCmd(m *Model, k string) tea.Msg {
	m.back()
	_, cmd := m.Update(press(k))
	if cmd == nil {
		return nil
	}
	return cmd()
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
