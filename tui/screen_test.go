package tui

import (
	"image/color"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// TestResize: a terminal resized mid-session gets a screen of its new size
// in every view, whose layout follows (the wide pods columns come and go).
func TestResize(t *testing.T) {
	for _, v := range viewKeys {
		t.Run(v.name, func(t *testing.T) {
			m := newFixtureModel(160, 48, &fakeBackend{logs: map[string]string{"app": strings.Repeat("a long log line that is wider than eighty columns for sure, isn't it? ", 3) + "\n"}})
			keys(m, v.keys...)
			for _, size := range [][2]int{{80, 24}, {160, 48}, {100, 30}, {80, 24}} {
				m.Update(windowSize(size[0], size[1]))
				assertSize(t, ansi.Strip(m.Render()), size[0], size[1])
			}
		})
	}
	m := newFixtureModel(160, 48, nil)
	keys(m, "4")
	if !strings.Contains(m.Render(), "RESTARTS") {
		t.Fatal("no wide columns at 160")
	}
	m.Update(windowSize(80, 24))
	if out := m.Render(); strings.Contains(out, "RESTARTS") || !strings.Contains(out, "RST") {
		t.Fatalf("still the wide columns at 80:\n%s", out)
	}
}

// TestProgramResize: the running program redraws at the size the terminal
// reports.
func TestProgramResize(t *testing.T) {
	tm, r := startProgram(t, &fakeBackend{})
	tm.Type("4")
	waitScreen(t, r, "web-7d9f-a1")
	for _, size := range [][2]int{{160, 48}, {80, 24}} {
		fits := func(s string) bool {
			lines := splitLines(s)
			if len(lines) != size[1] {
				return false
			}
			wide := 0
			for _, l := range lines {
				wide = max(wide, ansi.StringWidth(l))
			}
			return wide <= size[0] && (size[0] < 120) != strings.Contains(s, "RESTARTS")
		}
		// Bubble Tea sends its start-up size from a goroutine (go
		// p.Send(resizeMsg)), which can land after the test's resize and undo
		// it; so the test reports the size again each second until the
		// screen follows.
		deadline := time.Now().Add(10 * time.Second)
		for shown := false; !shown; {
			tm.Send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			for until := time.Now().Add(time.Second); !shown && time.Now().Before(until); {
				if shown = fits(r.screen()); !shown {
					time.Sleep(10 * time.Millisecond) // polling interval
				}
			}
			if !shown && time.Now().After(deadline) {
				t.Fatalf("screen never showed %dx%d:\n%s", size[0], size[1], r.screen())
			}
		}
	}
}

// colourSGR matches SGR sequences that set a foreground or background
// colour (30–38, 40–48, 90–97, 100–107, and 39/49 that reset one).
var colourSGR = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m`)

// TestNoColor: with NO_COLOR the screen has no colour at all in any view
// (bold, faint and reverse keep the cursor and headers visible, as the
// NO_COLOR convention allows); without it, it has colours.
func TestNoColor(t *testing.T) {
	for _, v := range viewKeys {
		t.Run(v.name, func(t *testing.T) {
			for _, noColor := range []bool{true, false} {
				m := New(Options{Backend: &fakeBackend{logs: map[string]string{"app": "hello\n"}}, Server: "https://10.0.0.2:6443", Now: fixedNow, NoColor: noColor, Retry: time.Millisecond})
				m.Update(windowSize(80, 24))
				m.Update(BatchMsg{Changes: fixture()})
				m.Update(HealthMsg{APIServer: "ok", Etcd: "ok", At: t0})
				keys(m, v.keys...)
				out := m.Render()
				got := colourSGR.FindAllString(out, -1)
				if noColor && len(got) > 0 {
					t.Errorf("NO_COLOR screen has colour codes %q:\n%s", got[:min(len(got), 5)], out)
				}
				if !noColor && len(got) == 0 {
					t.Errorf("colour screen has no colour:\n%q", out)
				}
			}
		})
	}
}

// TestBackgroundRestyles: told the terminal's background is light, the
// console draws with the light palette (dark text on light), and back.
func TestBackgroundRestyles(t *testing.T) {
	m := New(Options{Backend: &fakeBackend{}, Server: "https://10.0.0.2:6443", Now: fixedNow})
	m.Update(windowSize(80, 24))
	m.Update(BatchMsg{Changes: fixture()})
	m.Update(HealthMsg{APIServer: "ok", Etcd: "ok", At: t0})
	keys(m, "4")
	// The Running status: #5FD787 on dark, #1E7D3A on light.
	darkOK, lightOK := "38;2;95;215;135", "38;2;30;125;58"
	m.Update(tea.BackgroundColorMsg{Color: color.White})
	light := m.Render()
	if !strings.Contains(light, lightOK) || strings.Contains(light, darkOK) {
		t.Fatalf("light background: not the light palette:\n%q", light)
	}
	m.Update(tea.BackgroundColorMsg{Color: color.Black})
	dark := m.Render()
	if !strings.Contains(dark, darkOK) || strings.Contains(dark, lightOK) {
		t.Fatalf("dark background: not the dark palette:\n%q", dark)
	}
	if ansi.Strip(light) != ansi.Strip(dark) {
		t.Fatal("the background changed the text, not only its colours")
	}

	nc := newFixtureModel(80, 24, nil)
	keys(nc, "4")
	before := nc.Render()
	nc.Update(tea.BackgroundColorMsg{Color: color.White})
	if after := nc.Render(); after != before {
		t.Fatal("a light background brought colour into a NO_COLOR console")
	}
}

// TestNoColorEnv: NO_COLOR set to anything but "" turns colour off.
func TestNoColorEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"unset", map[string]string{"TERM": "xterm-256color"}, false},
		{"set to 1", map[string]string{"NO_COLOR": "1"}, true},
		{"set to anything", map[string]string{"NO_COLOR": "please"}, true},
		{"set but empty", map[string]string{"NO_COLOR": ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if got := NoColor(lookup); got != tt.want {
				t.Errorf("NoColor = %v, want %v", got, tt.want)
			}
		})
	}
}

// The console leaves the mouse to the terminal (text can be selected) in
// every view, and takes the alternate screen so the shell's is kept.
func TestMouseOffAltScreen(t *testing.T) {
	for _, v := range viewKeys {
		m := newFixtureModel(80, 24, goldenBackend())
		keys(m, v.keys...)
		if view := m.View(); view.MouseMode != tea.MouseModeNone || !view.AltScreen {
			t.Errorf("%s: mouse mode %v, alt screen %v; want no mouse, alt screen", v.name, view.MouseMode, view.AltScreen)
		}
	}
}
