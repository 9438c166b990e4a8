package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// mark is a style that brackets what it renders, so tests see the matches.
type mark struct{}

func (mark) Render(s ...string) string { return "[" + strings.Join(s, "") + "]" }

// TestHighlightRuneAware: case-insensitive matches are found in s itself, so
// runes whose lower case has another byte length ('Ⱥ' 2 bytes, 'ⱥ' 3) neither
// shift the marks nor slice past the end of the line.
func TestHighlightRuneAware(t *testing.T) {
	tests := []struct{ name, s, term, want string }{
		{"ascii", "GET /Health ok", "health", "GET /[Health] ok"},
		{"several", "abcABCabc", "bc", "a[bc]A[BC]a[bc]"},
		{"longer lower case before the match", "ȺȺȺȺ x", "x", "ȺȺȺȺ [x]"},
		{"the changing rune is the match", "aȺb ⱥ", "ⱥ", "a[Ⱥ]b [ⱥ]"},
		{"match at the very end", "ȺȺȺȺȺȺȺȺ end", "END", "ȺȺȺȺȺȺȺȺ [end]"},
		{"no match", "ȺȺȺ", "zz", "ȺȺȺ"},
		{"term longer than line", "Ⱥ", "ȺȺ", "Ⱥ"},
		{"empty term", "Ⱥ", "", "Ⱥ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := highlight(tt.s, tt.term, mark{}); got != tt.want {
				t.Errorf("highlight(%q, %q) = %q, want %q", tt.s, tt.term, got, tt.want)
			}
		})
	}
}

// TestSearchWithWideLowerCaseRunes: the log filter and the Describe/YAML
// search draw lines full of 'Ⱥ' with their matches marked, without a panic.
func TestSearchWithWideLowerCaseRunes(t *testing.T) {
	line := strings.Repeat("Ⱥ", 12) + " status=ok"
	b := &fakeBackend{logs: map[string]string{"app": line + "\nother line\n"}, text: "name: x\nnote: " + line + "\n"}

	t.Run("log filter", func(t *testing.T) {
		m := newFixtureModel(80, 24, b)
		keys(m, "4", "down", "down", "l") // web-7d9f-a1
		keys(m, "/", "o", "k", "enter")
		out := ansi.Strip(m.Render())
		if !strings.Contains(out, line) || strings.Contains(out, "other line") {
			t.Fatalf("log filter /ok:\n%s", out)
		}
	})
	t.Run("YAML search", func(t *testing.T) {
		m := newFixtureModel(80, 24, b)
		keys(m, "4", "y")
		keys(m, "/", "o", "k")
		if out := ansi.Strip(m.Render()); !strings.Contains(out, line) {
			t.Fatalf("YAML search /ok:\n%s", out)
		}
	})
}
