// Package logs finds and reads container log files. Containers' stdout and
// stderr are written by the log driver (runtime/logs/driver, run by
// containerd's shim) in the CRI log format, one file per container start:
//
//	/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart count>.log
//
// as the kubelet lays them out. Read serves `kubectl logs`: tail, since,
// timestamps, limit-bytes and follow, with the kubelet's semantics.
package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultRoot is where the kubelet keeps pod logs.
const DefaultRoot = "/var/log/pods"

// PodLogDir is the directory of a pod's logs: <root>/<namespace>_<name>_<uid>.
// An empty root means DefaultRoot.
func PodLogDir(root, namespace, name string, uid types.UID) string {
	if root == "" {
		root = DefaultRoot
	}
	return filepath.Join(root, namespace+"_"+name+"_"+string(uid))
}

// Path is the log file of one start of a container:
// <podLogDir>/<container>/<restartCount>.log.
func Path(podLogDir, container string, restartCount int) string {
	return filepath.Join(podLogDir, container, strconv.Itoa(restartCount)+".log")
}

// ReadOptions are kubectl logs' options (v1.PodLogOptions, resolved).
type ReadOptions struct {
	// Follow keeps streaming new records until the context ends or the
	// container has exited and the file is drained.
	Follow bool
	// TailLines, if set, starts this many lines before the end of the file.
	TailLines *int64
	// LimitBytes, if set, stops after this many bytes of output.
	LimitBytes *int64
	// Since skips records older than this time (zero: none skipped).
	Since time.Time
	// Timestamps prefixes each line with the record's RFC3339Nano time.
	Timestamps bool
}

// pollInterval bounds how long a follower waits when no file event comes
// (missed events, the container's state).
const pollInterval = 250 * time.Millisecond

// errLimit ends a read once LimitBytes have been written.
var errLimit = errors.New("log limit reached")

// Read writes the records of the log file at path to stdout and stderr
// (which may be the same writer). With Follow it keeps reading as the file
// grows and when it is rotated, until ctx is done or stillRunning (nil
// means always running) reports the container gone and the file is drained.
func Read(ctx context.Context, path string, opts ReadOptions, stdout, stderr io.Writer, stillRunning func() bool) error {
	if opts.TailLines != nil && *opts.TailLines < 0 {
		return fmt.Errorf("read log %s: tail lines %d must not be negative", path, *opts.TailLines)
	}
	if opts.LimitBytes != nil && *opts.LimitBytes <= 0 {
		return fmt.Errorf("read log %s: limit bytes %d must be positive", path, *opts.LimitBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer func() { f.Close() }()

	if opts.TailLines != nil {
		start, err := tailStart(f, *opts.TailLines)
		if err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
	}

	w := &writer{opts: opts, stdout: stdout, stderr: stderr, remain: -1, lineStart: map[string]bool{"stdout": true, "stderr": true}}
	if opts.LimitBytes != nil {
		w.remain = *opts.LimitBytes
	}

	var watcher *fsnotify.Watcher
	if opts.Follow {
		// Events on the directory wake the follower at once; the poll
		// interval is the fallback when inotify is unavailable.
		if watcher, err = fsnotify.NewWatcher(); err == nil {
			if werr := watcher.Add(filepath.Dir(path)); werr != nil {
				watcher.Close()
				watcher = nil
			}
		} else {
			watcher = nil
		}
		if watcher != nil {
			defer watcher.Close()
		}
	}

	r := bufio.NewReaderSize(f, 64<<10)
	var pending []byte
	exited := false
	for {
		chunk, err := r.ReadSlice('\n')
		pending = append(pending, chunk...)
		if err == nil {
			if werr := w.record(pending); werr != nil {
				if errors.Is(werr, errLimit) {
					return nil
				}
				return fmt.Errorf("read log %s: %w", path, werr)
			}
			pending = pending[:0]
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		// At the end of the file.
		if !opts.Follow {
			if len(pending) > 0 {
				if werr := w.record(pending); werr != nil && !errors.Is(werr, errLimit) {
					return fmt.Errorf("read log %s: %w", path, werr)
				}
			}
			return nil
		}
		// Rotated? The old file is drained, go on with the new one.
		if nf, ok := reopened(f, path); ok {
			f.Close()
			f = nf
			r.Reset(f)
			pending = pending[:0]
			continue
		}
		if exited {
			return nil
		}
		if stillRunning != nil && !stillRunning() {
			// One more pass: the driver may have written the last
			// records after the container exited.
			exited = true
			continue
		}
		if err := wait(ctx, watcher); err != nil {
			return nil // the client went away
		}
	}
}

// reopened returns the file now at path if it is not the one open.
func reopened(f *os.File, path string) (*os.File, bool) {
	cur, err := f.Stat()
	if err != nil {
		return nil, false
	}
	st, err := os.Stat(path)
	if err != nil || os.SameFile(cur, st) {
		return nil, false
	}
	nf, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	return nf, true
}

// wait returns when the log directory changes, the poll interval passes or
// ctx ends (an error).
func wait(ctx context.Context, watcher *fsnotify.Watcher) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	var events <-chan fsnotify.Event
	if watcher != nil {
		events = watcher.Events
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-events:
	case <-t.C:
	}
	return nil
}

// writer turns CRI records into kubectl logs output.
type writer struct {
	opts           ReadOptions
	stdout, stderr io.Writer
	remain         int64 // -1: no limit
	lineStart      map[string]bool
	buf            []byte
}

// Record is one parsed line of a CRI log file.
type Record struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Partial bool
	Content []byte // without the newline
}

// ParseRecord parses "<time> <stream> <tag> <content>\n" (the newline may be
// missing). Tags may carry ':'-separated extensions after F or P.
func ParseRecord(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	var rec Record
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return rec, fmt.Errorf("log record %.80q: no timestamp", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return rec, fmt.Errorf("log record %.80q: timestamp: %w", line, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return rec, fmt.Errorf("log record %.80q: stream must be stdout or stderr", line)
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		// "<time> <stream> F" with nothing after is an empty line.
		tag, content = rest, nil
	}
	tag, _, _ = bytes.Cut(tag, []byte(":"))
	switch string(tag) {
	case "F":
	case "P":
		rec.Partial = true
	default:
		return rec, fmt.Errorf("log record %.80q: tag %q must be F or P", line, tag)
	}
	rec.Time, rec.Stream, rec.Content = t, string(stream), content
	return rec, nil
}

func (w *writer) record(line []byte) error {
	rec, err := ParseRecord(line)
	if err != nil {
		return nil // as the kubelet does, skip what cannot be parsed
	}
	if !w.opts.Since.IsZero() && rec.Time.Before(w.opts.Since) {
		return nil
	}
	out := w.stdout
	if rec.Stream == "stderr" {
		out = w.stderr
	}
	b := w.buf[:0]
	if w.opts.Timestamps && w.lineStart[rec.Stream] {
		b = rec.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, rec.Content...)
	if !rec.Partial {
		b = append(b, '\n')
	}
	w.lineStart[rec.Stream] = !rec.Partial
	w.buf = b
	limited := false
	if w.remain >= 0 && int64(len(b)) >= w.remain {
		b, limited = b[:w.remain], true
	}
	if len(b) > 0 {
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("write %s: %w", rec.Stream, err)
		}
	}
	if w.remain >= 0 {
		w.remain -= int64(len(b))
	}
	if limited {
		return errLimit
	}
	return nil
}

// tailStart is the offset of the n-th line from the end of f.
func tailStart(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n == 0 {
		return size, nil
	}
	const block = 8 << 10
	buf := make([]byte, block)
	var seen int64
	end := size
	skipLast := true // the file's final newline ends the last line
	for end > 0 {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast && start+int64(i) == size-1 {
				skipLast = false
				continue
			}
			seen++
			if seen == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
