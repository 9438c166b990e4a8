package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// column is a table column: a fixed width, or Flex to share what is left.
type column struct {
	Title string
	Width int
	Flex  bool
}

// row is one table line; Key names the object it shows.
type row struct {
	Key   string
	Cells []string
	fill  func() []string // computes Cells when first drawn
}

// table is a scrolling list of rows with a cursor. It renders only the rows
// that fit, so 5,000 pods cost what 20 do.
type table struct {
	cols          []column
	rows          []row
	cursor, top   int
	width, height int
	// cellStyle colours a cell (status columns); nil or a zero style for none.
	cellStyle func(col int, val string) (lipgloss.Style, bool)
	empty     string
	// blurred hides the cursor: another table of the view has the focus.
	blurred bool
}

func (t *table) SetSize(w, h int) {
	t.width, t.height = w, h
	t.clamp()
}

// SetRows replaces the rows, keeping the cursor on the same object if it is
// still there.
func (t *table) SetRows(rows []row) {
	var key string
	if t.cursor < len(t.rows) {
		key = t.rows[t.cursor].Key
	}
	t.rows = rows
	if key != "" && (t.cursor >= len(rows) || rows[t.cursor].Key != key) {
		for i := range rows {
			if rows[i].Key == key {
				t.cursor = i
				break
			}
		}
	}
	t.clamp()
}

// Selected is the key of the row under the cursor ("" if none).
func (t *table) Selected() string {
	if t.cursor < len(t.rows) {
		return t.rows[t.cursor].Key
	}
	return ""
}

func (t *table) Move(n int) {
	t.cursor += n
	t.clamp()
}

func (t *table) visible() int { return max(t.height-1, 1) }

func (t *table) clamp() {
	if t.cursor >= len(t.rows) {
		t.cursor = len(t.rows) - 1
	}
	if t.cursor < 0 {
		t.cursor = 0
	}
	if t.cursor < t.top {
		t.top = t.cursor
	}
	if t.cursor >= t.top+t.visible() {
		t.top = t.cursor - t.visible() + 1
	}
	if t.top > max(len(t.rows)-t.visible(), 0) {
		t.top = max(len(t.rows)-t.visible(), 0)
	}
}

// widths gives each column its width: fixed ones as asked (shrunk if the
// terminal is narrow), flexible ones share the rest.
func (t *table) widths() []int {
	w := make([]int, len(t.cols))
	for i, c := range t.cols {
		w[i] = c.Width // a flexible column's minimum
	}
	// Too narrow: drop columns from the right.
	for len(w) > 1 && sum(w)+len(w)-1 > t.width {
		w = w[:len(w)-1]
	}
	flex := 0
	for i := range w {
		if t.cols[i].Flex {
			flex++
		}
	}
	if rest := t.width - (sum(w) + len(w) - 1); rest > 0 && flex > 0 {
		for i := range w {
			if t.cols[i].Flex {
				w[i] += rest / flex
			}
		}
	}
	return w
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// fit truncates or pads s to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

func (t *table) View(st Styles) string {
	var b strings.Builder
	w := t.widths()
	for i := range w {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(st.Header.Render(fit(t.cols[i].Title, w[i])))
	}
	lines := 1
	if len(t.rows) == 0 && t.empty != "" {
		b.WriteString("\n" + st.Muted.Render(fit(t.empty, t.width)))
		lines++
	}
	for r := t.top; r < len(t.rows) && r < t.top+t.visible(); r++ {
		b.WriteByte('\n')
		lines++
		if t.rows[r].Cells == nil && t.rows[r].fill != nil {
			t.rows[r].Cells = t.rows[r].fill()
		}
		cells := t.rows[r].Cells
		if r == t.cursor && !t.blurred {
			var line strings.Builder
			for i := range w {
				if i > 0 {
					line.WriteByte(' ')
				}
				line.WriteString(fit(cell(cells, i), w[i]))
			}
			b.WriteString(st.Selected.Render(fit(line.String(), t.width)))
			continue
		}
		for i := range w {
			if i > 0 {
				b.WriteByte(' ')
			}
			v := fit(cell(cells, i), w[i])
			if t.cellStyle != nil {
				if s, ok := t.cellStyle(i, cell(cells, i)); ok {
					v = s.Render(v)
				}
			}
			b.WriteString(v)
		}
	}
	for ; lines < t.height; lines++ {
		b.WriteByte('\n')
	}
	return b.String()
}

func cell(cells []string, i int) string {
	if i < len(cells) {
		return cells[i]
	}
	return ""
}
