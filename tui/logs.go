package tui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
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
	// srcErr is, for a merged stream, the sources that could not be opened
	// (nil: the source opened after all), by source name.
	srcErr map[string]error
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
// arrive through readCmd. A single stream that fails is reopened by the
// model; each source of a merged one retries on its own every retry, so one
// waiting container does not restart the others.
func openLogs(b Backend, id int, req LogRequest, retry time.Duration) (*logStream, tea.Cmd) {
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
			s.pumpRetrying(ctx, b, one, c, retry)
		}()
	}
	go func() { wg.Wait(); close(s.ch) }()
	return s, s.readCmd()
}

// send hands m to the model unless the stream was left.
func (s *logStream) send(ctx context.Context, m logMsg) bool {
	select {
	case s.ch <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

// pumpRetrying is one source of a merged stream: it opens the source until
// it opens (reporting why not, as srcErr), then reads it to its end. There
// is no point retrying a previous container that does not exist.
func (s *logStream) pumpRetrying(ctx context.Context, b Backend, req LogRequest, src string, retry time.Duration) {
	last := "" // the last error reported: a retry that fails the same way stays quiet
	for {
		rc, err := b.Logs(ctx, req)
		if err == nil {
			if last != "" && !s.send(ctx, logMsg{id: s.id, srcErr: map[string]error{src: nil}}) {
				rc.Close()
				return
			}
			s.read(ctx, rc, "["+src+"] ", true)
			return
		}
		if err.Error() != last {
			last = err.Error()
			if !s.send(ctx, logMsg{id: s.id, srcErr: map[string]error{src: err}}) {
				return
			}
		}
		if noPrevious(req, err) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// pump reads a single container's log into the stream's channel.
func (s *logStream) pump(ctx context.Context, b Backend, req LogRequest, prefix string) {
	rc, err := b.Logs(ctx, req)
	if err != nil {
		s.send(ctx, logMsg{id: s.id, err: err})
		return
	}
	s.read(ctx, rc, prefix, false)
}

// read reads rc into the stream's channel, each line with prefix, and
// closes it. The end of one source of a merged stream is not the end of
// the stream.
func (s *logStream) read(ctx context.Context, rc io.ReadCloser, prefix string, merged bool) {
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
			if len(batch) > 0 || err != nil && !merged {
				m := logMsg{id: s.id, lines: batch}
				if err == io.EOF {
					m.eof = true
				} else if err != nil {
					m.err = err
				}
				if merged {
					m.eof, m.err = false, nil
				}
				if !s.send(ctx, m) {
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

// noPrevious reports the API server's answer to a request for the previous
// instance of a container that never restarted ("previous terminated
// container "app" in pod "x" not found"): asking again will not help.
func noPrevious(req LogRequest, err error) bool {
	msg := err.Error()
	return req.Previous && strings.Contains(msg, "previous terminated container") && strings.Contains(msg, "not found")
}

func (s *logStream) readCmd() tea.Cmd {
	return func() tea.Msg {
		m, ok := <-s.ch
		if !ok {
			// Every source of a merged stream ended. (A single stream's
			// end came as its last message, and nothing reads after it.)
			return logMsg{id: s.id, eof: true}
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
				for src, err := range more.srcErr {
					if m.srcErr == nil {
						m.srcErr = map[string]error{}
					}
					m.srcErr[src] = err
				}
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
	req LogRequest
	// what names the logs' owner in the title: a pod (ns/name) or a
	// workload (deployment ns/name).
	what       string
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
	// srcErr is why sources of a merged stream have no log (yet).
	srcErr map[string]error
	stream *logStream
}

func (v *logView) SetSize(w, h int) { v.width, v.height = w, h }

func (v *logView) reset(req LogRequest) {
	v.req = req
	v.lines, v.dropped, v.err, v.eof, v.top, v.srcErr = nil, 0, nil, false, 0, nil
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
	what := v.what
	if what == "" {
		what = v.req.Namespace + "/" + v.req.Pod
	}
	title := fmt.Sprintf("Logs %s [%s]", what, shown)
	if v.req.Previous {
		title += " (previous)"
	}
	info := strings.Join([]string{flag("follow", v.follow), flag("wrap", v.wrap), flag("ts", v.req.Timestamps)}, " ")
	if v.filter != "" {
		info += " " + st.Accent.Render("/"+v.filter)
	}
	if n := len(v.srcErr); n > 0 && len(v.lines) > 0 {
		info = st.Warn.Render(fmt.Sprintf("%d/%d without log", n, len(v.req.All))) + " " + info
	}
	b.WriteString(st.Header.Render(fit(title, max(v.width-ansi.StringWidth(info)-1, 10))) + " " + info)
	lines := v.shown()
	h := v.body()
	var out []string
	switch {
	case len(lines) == 0:
		// Said in full, wrapped to the width: it is the whole screen.
		msg, style := v.emptyMessage(st, waiting)
		out = []string{""}
		for _, l := range wrapWords(msg, max(v.width-2, 10)) {
			out = append(out, "  "+style.Render(l))
		}
	case v.follow:
		// The newest lines, filled from the bottom up: a wrapped line
		// takes several rows.
		for i := len(lines) - 1; i >= 0 && len(out) < h; i-- {
			out = append(v.rows(lines[i]), out...)
		}
		if len(out) > h {
			out = out[len(out)-h:]
		}
	default:
		for i := v.top; i < len(lines) && len(out) < h; i++ {
			out = append(out, v.rows(lines[i])...)
		}
		if len(out) > h {
			out = out[:h]
		}
	}
	if len(lines) > 0 && v.filter != "" {
		for i := range out {
			out[i] = highlight(out[i], v.filter, st.Match)
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

// rows is how a log line is drawn: cut to the width, or wrapped at word
// boundaries (a word longer than the width is broken).
func (v *logView) rows(l string) []string {
	l = ansi.Strip(l)
	if !v.wrap {
		return []string{ansi.Truncate(l, v.width, "…")}
	}
	return strings.Split(ansi.Wrap(l, max(v.width, 1), ""), "\n")
}

// emptyMessage says why there is nothing to show, instead of a blank screen.
func (v *logView) emptyMessage(st Styles, waiting string) (string, lipgloss.Style) {
	c := v.req.Container
	if len(v.req.All) > 0 {
		c = "these containers"
	}
	switch {
	case v.err != nil && noPrevious(v.req, v.err):
		return fmt.Sprintf("No previous container: %s has not restarted, so there is no earlier log. Press p for the current log.", c), st.Warn
	case len(v.srcErr) > 0 && len(v.lines) == 0:
		srcs := make([]string, 0, len(v.srcErr))
		allNoPrev := true
		for src, err := range v.srcErr {
			srcs = append(srcs, src)
			allNoPrev = allNoPrev && noPrevious(v.req, err)
		}
		if allNoPrev && v.eof {
			return "No previous container: none of these containers has restarted. Press p for the current logs.", st.Warn
		}
		sort.Strings(srcs)
		return fmt.Sprintf("No log yet from %d of %d containers: [%s] %v. Retrying…", len(srcs), len(v.req.All), srcs[0], v.srcErr[srcs[0]]), st.Warn
	case v.err != nil && waiting != "":
		return fmt.Sprintf("Container %s is waiting (%s); its log appears once it starts. Retrying…", c, waiting), st.Warn
	case v.err != nil && isUnreachable(v.err):
		return fmt.Sprintf("The node running this pod cannot be reached: %v. Retrying…", v.err), st.Bad
	case v.err != nil:
		return fmt.Sprintf("No log: %v. Retrying…", v.err), st.Bad
	case waiting != "":
		return fmt.Sprintf("Container %s is waiting (%s); its log appears once it starts.", c, waiting), st.Warn
	case v.filter != "" && len(v.lines) > 0:
		return fmt.Sprintf("No line of %d matches /%s.", len(v.lines), v.filter), st.Muted
	case v.eof:
		return fmt.Sprintf("Container %s wrote no log.", c), st.Muted
	default:
		return fmt.Sprintf("No log from %s yet; following.", c), st.Muted
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
