package tui

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Styles are the console's semantic styles: every view colours through them,
// so dark and light terminals and NO_COLOR are handled here once. Meaning never
// rests on colour alone: states also carry a symbol (✓ ✗ …) or a word.
type Styles struct {
	NoColor bool

	Title    lipgloss.Style // the header bar
	Tab      lipgloss.Style
	TabOn    lipgloss.Style
	Header   lipgloss.Style // table column titles
	Selected lipgloss.Style // the row under the cursor
	Muted    lipgloss.Style
	OK       lipgloss.Style // healthy, Running, Ready, done
	Warn     lipgloss.Style // pending, in progress, stuck
	Bad      lipgloss.Style // failed, unreachable, warnings
	Accent   lipgloss.Style
	Match    lipgloss.Style // search matches
	Dialog   lipgloss.Style
}

// NewStyles picks colours for a dark or light background; noColor (NO_COLOR
// set) keeps only bold, faint and reverse.
func NewStyles(dark, noColor bool) Styles {
	s := lipgloss.NewStyle
	if noColor {
		return Styles{
			NoColor: true,
			Title:   s().Bold(true).Reverse(true), Tab: s(), TabOn: s().Bold(true).Underline(true),
			Header: s().Bold(true), Selected: s().Reverse(true), Muted: s().Faint(true),
			OK: s(), Warn: s().Bold(true), Bad: s().Bold(true), Accent: s().Bold(true),
			Match: s().Reverse(true), Dialog: s().Border(lipgloss.NormalBorder()).Padding(0, 1),
		}
	}
	pick := func(d, l string) color.Color {
		if dark {
			return lipgloss.Color(d)
		}
		return lipgloss.Color(l)
	}
	fg := pick("#E6E6E6", "#1F1F1F")
	return Styles{
		Title:    s().Bold(true).Foreground(pick("#FFFFFF", "#FFFFFF")).Background(pick("#5A4FCF", "#5A4FCF")),
		Tab:      s().Foreground(pick("#9A9A9A", "#666666")),
		TabOn:    s().Bold(true).Foreground(pick("#B8B0FF", "#3B2FB0")).Underline(true),
		Header:   s().Bold(true).Foreground(pick("#B8B0FF", "#3B2FB0")),
		Selected: s().Foreground(fg).Background(pick("#3A3560", "#D8D4FF")),
		Muted:    s().Foreground(pick("#808080", "#767676")),
		OK:       s().Foreground(pick("#5FD787", "#1E7D3A")),
		Warn:     s().Foreground(pick("#FFD75F", "#8A6100")),
		Bad:      s().Bold(true).Foreground(pick("#FF5F5F", "#B00020")),
		Accent:   s().Foreground(pick("#87AFFF", "#0B4FB3")),
		Match:    s().Foreground(pick("#000000", "#000000")).Background(pick("#FFD75F", "#FFD75F")),
		Dialog:   s().Border(lipgloss.RoundedBorder()).BorderForeground(pick("#FF5F5F", "#B00020")).Padding(0, 1),
	}
}

// status colours a pod or node status word.
func (s Styles) status(word string) lipgloss.Style {
	switch word {
	case "Running", "Ready", "Succeeded", "Completed", "Complete", "ok", "Active":
		return s.OK
	case "Pending", "ContainerCreating", "PodInitializing", "Terminating", "Unknown", "not ready":
		return s.Warn
	case "":
		return s.Muted
	}
	if len(word) > 5 && word[:5] == "Init:" {
		return s.Warn
	}
	return s.Bad
}
