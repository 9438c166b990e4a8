package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestHelpFits: ? in every view lists every key in full, without a column
// cut to "…", at 80x24 and 160x48, and starts with the keys of the view it
// was asked in.
func TestHelpFits(t *testing.T) {
	views := []struct {
		name  string
		keys  []string
		first string // the first key listed
	}{
		{"overview", []string{"1"}, ":"},
		{"flow", []string{"2"}, "l"},
		{"workloads", []string{"3"}, "l"},
		{"pods", []string{"4"}, "l"},
		{"services", []string{"5"}, "d"},
		{"events", []string{"6"}, "d"},
		{"nodes", []string{":", "n", "o", "enter"}, "d"},
		{"logs", []string{"4", "down", "down", "l"}, "f"},
		{"describe", []string{"4", "d"}, "↑/k"},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, v := range views {
			m := newFixtureModel(size[0], size[1], &fakeBackend{logs: map[string]string{"app": "hello\n"}})
			keys(m, v.keys...)
			keys(m, "?")
			out := ansi.Strip(m.Render())
			assertSize(t, out, size[0], size[1])
			lines := splitLines(out)
			body := strings.Join(lines[2:len(lines)-1], "\n")
			if strings.Contains(body, "…") {
				t.Errorf("%s %dx%d: help cut short:\n%s", v.name, size[0], size[1], out)
			}
			for _, g := range m.keys.FullHelp() {
				for _, b := range g {
					if !strings.Contains(body, b.Help().Key) || !strings.Contains(body, b.Help().Desc) {
						t.Errorf("%s %dx%d: help lacks %s %s:\n%s", v.name, size[0], size[1], b.Help().Key, b.Help().Desc, out)
					}
				}
			}
			// The first line of keys follows the hint's blank line.
			i := 3
			for i < len(lines) && lines[i] != "" {
				i++
			}
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], v.first+" ") {
				t.Errorf("%s %dx%d: help does not start with %q:\n%s", v.name, size[0], size[1], v.first, out)
			}
		}
	}
}
