package tui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// maxLogLines bounds the log buffer: the oldest lines go first.
const maxLogLines = 10000

// logMsg is a chunk of a log stream, tagged with the stream it belongs to so
// a stream the user left behind is ignored.
type logMsg struct {
	id    int
	lines []string
	err   error
	eof   bool
}

// logReopenMsg retries a stream that failed (container not started yet,
// node unreachable).
type logReopenMsg struct{ id int }

// logStream is a running log request: a goroutine reads lines into ch.
type logStream struct {
	id     int
	ch     chan logMsg
	cancel context.CancelFunc
}

// openLogs starts reading a container's log (or all of them, merged); chunks
// arrive through readCmd.
func openLogs(b Backend, id int, req LogRequest) (*logStream, tea.Cmd) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &logStream{id: id, ch: make(chan logMsg, 64), cancel: cancel}
	if len(req.All) == 0 {
		go func() {
			defer close(s.ch)
			s.pump(ctx, b, req, "")
		}()
		return s, s.readCmd()
	}
	var wg sync.WaitGroup
	for _, c := range req.All {
		one := req
		one.Container, one.All = c, nil
		// A workload's sources are pod/container.
		if pod, ctr, ok := strings.Cut(c, "/"); ok {
			one.Pod, one.Container = pod, ctr
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pump(ctx, b, one, "["+c+"] ")
		}()
	}
	go func() { wg.Wait(); close(s.ch) }()
	return s, s.readCmd()
}

// pump reads one container's log into the stream's channel, each line with
// prefix.
func (s *logStream) pump(ctx context.Context, b Backend, req LogRequest, prefix string) {
	id := s.id
	rc, err := b.Logs(ctx, req)
	if err != nil {
		select {
		case s.ch <- logMsg{id: id, err: err}:
		case <-ctx.Done():
		}
		return
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	batch := make([]string, 0, 256)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			batch = append(batch, prefix+strings.TrimRight(line, "\r\n"))
		}
		// Hand over what is buffered when the reader would block, so a
		// slow stream still shows each line at once.
		if err != nil || r.Buffered() == 0 || len(batch) >= 1000 {
			if len(batch) > 0 || err != nil {
				m := logMsg{id: id, lines: batch}
				if err == io.EOF {
					// One container ending is not the end of a merged stream.
					m.eof = prefix == ""
				} else if err != nil {
					m.err = err
				}
				select {
				case s.ch <- m:
				case <-ctx.Done():
					return
				}
				batch = make([]string, 0, 256)
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *logStream) readCmd() tea.Cmd {
	return func() tea.Msg {
		m, ok := <-s.ch
		if !ok {
			return nil
		}
		// Coalesce what else is ready into one message.
		for len(m.lines) < 5000 && m.err == nil && !m.eof {
			select {
			case more, ok := <-s.ch:
				if !ok {
					return m
				}
				m.lines = append(m.lines, more.lines...)
				m.err, m.eof = more.err, more.eof
				continue
			default:
			}
			break
		}
		return m
	}
}

// logView shows one container's log. Follow keeps the newest line in view; it
// turns off when the user scrolls up and back on at the bottom.
type logView struct {
	req        LogRequest
	containers []string
	lines      []string
	dropped    int
	follow     bool
	wrap       bool
	filter     string
	top        int // first shown line (index into the filtered lines) when not following
	width      int
	height     int
	err        error
	eof        bool
	stream     *logStream
}

func (v *logView) SetSize(w, h int) { v.width, v.height = w, h }

func (v *logView) reset(req LogRequest) {
	v.req = req
	v.lines, v.dropped, v.err, v.eof, v.top = nil, 0, nil, false, 0
	v.follow = true
}

// append adds lines, dropping the oldest beyond maxLogLines.
func (v *logView) append(lines []string) {
	v.lines = append(v.lines, lines...)
	if over := len(v.lines) - maxLogLines; over > 0 {
		// Copy so the dropped lines' memory is released.
		kept := make([]string, maxLogLines, maxLogLines+1024)
		copy(kept, v.lines[over:])
		v.lines = kept
		v.dropped += over
		if !v.follow {
			v.top = max(v.top-over, 0)
		}
	}
}

func (v *logView) shown() []string {
	if v.filter == "" {
		return v.lines
	}
	f := strings.ToLower(v.filter)
	var out []string
	for _, l := range v.lines {
		if strings.Contains(strings.ToLower(l), f) {
			out = append(out, l)
		}
	}
	return out
}

func (v *logView) body() int { return max(v.height-1, 1) }

// bottomTop is the first line shown when following.
func (v *logView) bottomTop(n int) int { return max(n-v.body(), 0) }

// scroll moves by n lines; scrolling up stops following, reaching the bottom
// resumes it.
func (v *logView) scroll(n int) {
	total := len(v.shown())
	if v.follow {
		v.top = v.bottomTop(total)
	}
	v.top += n
	if v.top < 0 {
		v.top = 0
	}
	if n < 0 && total > v.body() {
		v.follow = false
	}
	if v.top >= v.bottomTop(total) {
		v.top = v.bottomTop(total)
		v.follow = true
	}
}

func (v *logView) View(st Styles, waiting string) string {
	var b strings.Builder
	flag := func(name string, on bool) string {
		if on {
			return st.OK.Render(name + ":on")
		}
		return st.Muted.Render(name + ":off")
	}
	shown := v.req.Container
	if len(v.req.All) > 0 {
		shown = "all containers"
	}
	title := fmt.Sprintf("Logs %s/%s [%s]", v.req.Namespace, v.req.Pod, shown)
	if v.req.Previous {
		title += " (previous)"
	}
	info := strings.Join([]string{flag("follow", v.follow), flag("wrap", v.wrap), flag("ts", v.req.Timestamps)}, " ")
	if v.filter != "" {
		info += " " + st.Accent.Render("/"+v.filter)
	}
	b.WriteString(st.Header.Render(fit(title, max(v.width-ansi.StringWidth(info)-1, 10))) + " " + info)
	lines := v.shown()
	h := v.body()
	var out []string
	switch {
	case len(lines) == 0:
		out = []string{"", "  " + v.emptyMessage(st, waiting)}
	default:
		top := v.top
		if v.follow {
			top = v.bottomTop(len(lines))
		}
		for i := top; i < len(lines) && len(out) < h; i++ {
			l := ansi.Strip(lines[i])
			if v.wrap {
				for _, w := range strings.Split(ansi.Hardwrap(l, max(v.width, 1), true), "\n") {
					out = append(out, w)
				}
			} else {
				out = append(out, ansi.Truncate(l, v.width, "…"))
			}
		}
		if v.wrap && v.follow && len(out) > h {
			out = out[len(out)-h:]
		}
		if len(out) > h {
			out = out[:h]
		}
		if v.filter != "" {
			for i := range out {
				out[i] = highlight(out[i], v.filter, st.Match)
			}
		}
	}
	for i := 0; i < h; i++ {
		b.WriteByte('\n')
		if i < len(out) {
			b.WriteString(out[i])
		}
	}
	return b.String()
}

// emptyMessage says why there is nothing to show, instead of a blank screen.
func (v *logView) emptyMessage(st Styles, waiting string) string {
	c := v.req.Container
	switch {
	case v.err != nil && waiting != "":
		return st.Warn.Render(fmt.Sprintf("Container %s is waiting (%s); its log appears once it starts. Retrying…", c, waiting))
	case v.err != nil && isUnreachable(v.err):
		return st.Bad.Render(fmt.Sprintf("The node running this pod cannot be reached: %v. Retrying…", v.err))
	case v.err != nil:
		return st.Bad.Render(fmt.Sprintf("No log: %v. Retrying…", v.err))
	case waiting != "":
		return st.Warn.Render(fmt.Sprintf("Container %s is waiting (%s); its log appears once it starts.", c, waiting))
	case v.filter != "" && len(v.lines) > 0:
		return st.Muted.Render(fmt.Sprintf("No line of %d matches /%s.", len(v.lines), v.filter))
	case v.eof:
		return st.Muted.Render(fmt.Sprintf("Container %s wrote no log.", c))
	default:
		return st.Muted.Render(fmt.Sprintf("No log from %s yet; following.", c))
	}
}

func isUnreachable(err error) bool {
	s := err.Error()
	for _, w := range []string{"dial tcp", "connection refused", "no route to host", "i/o timeout", "unreachable", "EOF"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// highlight marks the occurrences of term in plain text s, ignoring case as
// strings.EqualFold does. It compares rune windows of s itself rather than
// searching a lower-cased copy: lower-casing can change a rune's byte length
// ('Ⱥ' is 2 bytes, 'ⱥ' 3), so offsets found in the copy do not fit s.
func highlight(s, term string, style interface{ Render(...string) string }) string {
	if term == "" {
		return s
	}
	n := utf8.RuneCountInString(term)
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		// j is the end of the window of n runes starting at i.
		j, k := i, 0
		for k < n && j < len(s) {
			_, size := utf8.DecodeRuneInString(s[j:])
			j += size
			k++
		}
		if k < n {
			break // fewer than n runes left
		}
		if strings.EqualFold(s[i:j], term) {
			b.WriteString(s[last:i])
			b.WriteString(style.Render(s[i:j]))
			last, i = j, j
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	b.WriteString(s[last:])
	return b.String()
}
