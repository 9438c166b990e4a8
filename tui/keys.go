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

// FullHelp is the `?` overlay.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.Back},
		{k.Command, k.Filter, k.Views, k.Help, k.Quit},
		{k.Logs, k.Describe, k.YAML, k.Events, k.Shell, k.Delete, k.Scale, k.Restart},
		{k.Follow, k.Wrap, k.Timestamps, k.Previous, k.Container},
	}
}
