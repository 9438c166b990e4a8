package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the console answers to; help.KeyMap renders it in the
// footer and in the `?` overlay. Read-only mode disables the bindings that
// change the cluster, so they are neither shown nor acted on.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom  key.Binding
	Enter, Back, Command, Filter, Help, Quit key.Binding
	Views                                    key.Binding
	Logs, Describe, YAML, Events             key.Binding
	Shell, Delete, Scale, Restart            key.Binding
	Follow, Wrap, Timestamps, Previous       key.Binding
	Container                                key.Binding
	Yes, No                                  key.Binding
}

// DefaultKeyMap is the console's keys, k9s-like.
func DefaultKeyMap(readonly bool) KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	km := KeyMap{
		Up:         b([]string{"up", "k"}, "↑/k", "up"),
		Down:       b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:     b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown:   b([]string{"pgdown", "ctrl+f", "space"}, "pgdn", "page down"),
		Top:        b([]string{"home", "g"}, "g", "top"),
		Bottom:     b([]string{"end", "G"}, "G", "bottom"),
		Enter:      b([]string{"enter"}, "enter", "open"),
		Back:       b([]string{"esc"}, "esc", "back"),
		Command:    b([]string{":"}, ":", "jump to kind"),
		Filter:     b([]string{"/"}, "/", "filter"),
		Help:       b([]string{"?"}, "?", "help"),
		Quit:       b([]string{"q", "ctrl+c"}, "q", "quit"),
		Views:      b([]string{"1", "2", "3", "4", "5", "6"}, "1-6", "views"),
		Logs:       b([]string{"l"}, "l", "logs"),
		Describe:   b([]string{"d"}, "d", "describe"),
		YAML:       b([]string{"y"}, "y", "yaml"),
		Events:     b([]string{"e"}, "e", "events"),
		Shell:      b([]string{"s"}, "s", "shell"),
		Delete:     b([]string{"ctrl+d"}, "ctrl-d", "delete"),
		Scale:      b([]string{"S"}, "S", "scale"),
		Restart:    b([]string{"r"}, "r", "rollout restart"),
		Follow:     b([]string{"f"}, "f", "follow"),
		Wrap:       b([]string{"w"}, "w", "wrap"),
		Timestamps: b([]string{"t"}, "t", "timestamps"),
		Previous:   b([]string{"p"}, "p", "previous container"),
		Container:  b([]string{"c"}, "c", "next container"),
		Yes:        b([]string{"y", "Y"}, "y", "yes"),
		No:         b([]string{"n", "N", "esc"}, "n", "no"),
	}
	if readonly {
		for _, k := range []*key.Binding{&km.Shell, &km.Delete, &km.Scale, &km.Restart} {
			k.SetEnabled(false)
		}
	}
	return km
}

// ShortHelp is the footer.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Command, k.Filter, k.Help, k.Back, k.Quit}
}

// FullHelp is every key, grouped: moving, the console, actions on the
// selection, the logs view.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.Back},
		{k.Command, k.Filter, k.Views, k.Help, k.Quit},
		{k.Logs, k.Describe, k.YAML, k.Events, k.Shell, k.Delete, k.Scale, k.Restart},
		{k.Follow, k.Wrap, k.Timestamps, k.Previous, k.Container},
	}
}

// HelpFor is the `?` overlay of a view: here are the keys that act in it,
// the view's own first, then moving and the console's; other is the keys
// that act in other views.
func (k KeyMap) HelpFor(v viewID) (here, other [][]key.Binding) {
	var own []key.Binding
	switch v {
	case viewFlow, viewPods:
		own = []key.Binding{k.Logs, k.Describe, k.YAML, k.Events, k.Shell, k.Delete}
	case viewWorkloads:
		own = []key.Binding{k.Logs, k.Describe, k.YAML, k.Events, k.Delete, k.Scale, k.Restart}
	case viewServices:
		own = []key.Binding{k.Describe, k.YAML, k.Events, k.Delete}
	case viewEvents:
		own = []key.Binding{k.Describe, k.YAML}
	case viewNodes:
		own = []key.Binding{k.Describe, k.YAML, k.Events}
	case viewLogs:
		own = []key.Binding{k.Follow, k.Wrap, k.Timestamps, k.Previous, k.Container, k.Shell}
	}
	if len(own) > 0 {
		here = append(here, own)
	}
	nav := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.Back}
	if v == viewLogs || v == viewText {
		nav = []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Back}
	}
	general := []key.Binding{k.Command, k.Filter, k.Views, k.Help, k.Quit}
	if v == viewOverview {
		// Nothing to move through or select there.
		here = append(here, general)
		other = append(other, nav)
	} else {
		here = append(here, nav, general)
	}
	shown := map[string]bool{}
	for _, g := range append(append([][]key.Binding(nil), here...), other...) {
		for _, b := range g {
			shown[b.Help().Key] = true
		}
	}
	for _, g := range [][]key.Binding{
		{k.Enter, k.Logs, k.Describe, k.YAML, k.Events, k.Shell, k.Delete, k.Scale, k.Restart},
		{k.Follow, k.Wrap, k.Timestamps, k.Previous, k.Container},
	} {
		var rest []key.Binding
		for _, b := range g {
			if !shown[b.Help().Key] {
				rest = append(rest, b)
			}
		}
		if len(rest) > 0 {
			other = append(other, rest)
		}
	}
	return here, other
}
