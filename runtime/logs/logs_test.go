package logs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/runtime/logs/driver"
)

// syncBuffer is a buffer a follower writes to while the test reads it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want, or fails after a deadline.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("output never contained %q; got %q", want, s.String())
		}
	}
}

func newLog(t *testing.T, maxSize int64) (string, *driver.Writer) {
	t.Helper()
	dir := logs.PodLogDir(t.TempDir(), "default", "web", "uid-1")
	path := logs.Path(dir, "app", 0)
	w, err := driver.Open(driver.Config{Path: path, MaxSize: maxSize, MaxFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

func write(t *testing.T, w *driver.Writer, stream string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if err := w.WriteRecord(stream, true, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr(n int64) *int64 { return &n }

func TestPaths(t *testing.T) {
	dir := logs.PodLogDir("", "ns", "p", "u1")
	if dir != "/var/log/pods/ns_p_u1" {
		t.Errorf("PodLogDir = %q", dir)
	}
	if p := logs.Path(dir, "c", 3); p != "/var/log/pods/ns_p_u1/c/3.log" {
		t.Errorf("Path = %q", p)
	}
}

func TestReadOptions(t *testing.T) {
	path, w := newLog(t, 1<<20)
	write(t, w, "stdout", "one", "two")
	write(t, w, "stderr", "err-a")
	if err := w.WriteRecord("stdout", false, []byte("thr")); err != nil {
		t.Fatal(err)
	}
	write(t, w, "stdout", "ee", "four")

	tests := []struct {
		name       string
		opts       logs.ReadOptions
		wantOut    string
		wantErr    string
		sameWriter bool
	}{
		{name: "all", wantOut: "one\ntwo\nthree\nfour\n", wantErr: "err-a\n"},
		{name: "same writer keeps order", sameWriter: true, wantOut: "one\ntwo\nerr-a\nthree\nfour\n"},
		{name: "tail 2", opts: logs.ReadOptions{TailLines: ptr(2)}, wantOut: "ee\nfour\n"},
		{name: "tail 0", opts: logs.ReadOptions{TailLines: ptr(0)}},
		{name: "tail more than lines", opts: logs.ReadOptions{TailLines: ptr(100)}, wantOut: "one\ntwo\nthree\nfour\n", wantErr: "err-a\n"},
		{name: "limit bytes", opts: logs.ReadOptions{LimitBytes: ptr(6)}, wantOut: "one\ntw"},
		{name: "limit bytes across streams", sameWriter: true, opts: logs.ReadOptions{LimitBytes: ptr(10)}, wantOut: "one\ntwo\ner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			errw := io.Writer(&errb)
			if tt.sameWriter {
				errw = &out
			}
			if err := logs.Read(context.Background(), path, tt.opts, &out, errw, nil); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantOut || errb.String() != tt.wantErr {
				t.Fatalf("stdout %q stderr %q; want %q %q", out.String(), errb.String(), tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestReadTimestampsAndSince(t *testing.T) {
	path, w := newLog(t, 1<<20)
	write(t, w, "stdout", "old")
	mid := time.Now()
	if err := w.WriteRecord("stdout", false, []byte("new ")); err != nil {
		t.Fatal(err)
	}
	write(t, w, "stdout", "line")

	var out bytes.Buffer
	if err := logs.Read(context.Background(), path, logs.ReadOptions{Timestamps: true}, &out, &out, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (a partial record continues its line), got %q", out.String())
	}
	for i, want := range []string{"old", "new line"} {
		ts, text, _ := strings.Cut(lines[i], " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("line %q: timestamp: %v", lines[i], err)
		}
		if text != want {
			t.Errorf("line %d text %q, want %q", i, text, want)
		}
	}

	out.Reset()
	if err := logs.Read(context.Background(), path, logs.ReadOptions{Since: mid}, &out, &out, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "new line\n" {
		t.Fatalf("since: got %q", out.String())
	}
}

func TestReadErrors(t *testing.T) {
	err := logs.Read(context.Background(), filepath.Join(t.TempDir(), "missing.log"), logs.ReadOptions{}, io.Discard, io.Discard, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	path, _ := newLog(t, 1<<20)
	if err := logs.Read(context.Background(), path, logs.ReadOptions{TailLines: ptr(-1)}, io.Discard, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "tail lines") {
		t.Fatalf("negative tail: %v", err)
	}
}

func TestFollowAcrossRotationUntilExit(t *testing.T) {
	path, w := newLog(t, 200)
	write(t, w, "stdout", "first")

	var running atomic.Bool
	running.Store(true)
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- logs.Read(context.Background(), path, logs.ReadOptions{Follow: true, TailLines: ptr(1)}, out, out, running.Load)
	}()
	out.waitFor(t, "first\n")
	// Enough lines to rotate the 200-byte file several times. A follower
	// that falls more than one file behind loses the files in between (as
	// the kubelet's does), so each line is awaited.
	var want strings.Builder
	want.WriteString("first\n")
	for i := range 20 {
		l := fmt.Sprintf("line %02d", i)
		write(t, w, "stdout", l)
		want.WriteString(l + "\n")
		out.waitFor(t, l+"\n")
	}
	if rotated, _ := driver.Rotated(path); len(rotated) == 0 {
		t.Fatal("the file was not rotated")
	}
	out.waitFor(t, "line 19\n")
	if out.String() != want.String() {
		t.Fatalf("followed output:\n%s\nwant:\n%s", out.String(), want.String())
	}
	select {
	case err := <-done:
		t.Fatalf("follow ended while running: %v", err)
	default:
	}
	// The container exits after its last words: they still arrive.
	write(t, w, "stdout", "bye")
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the container exited")
	}
	if !strings.HasSuffix(out.String(), "bye\n") {
		t.Fatalf("last record lost: %q", out.String())
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	path, w := newLog(t, 1<<20)
	write(t, w, "stderr", "x")
	ctx, cancel := context.WithCancel(context.Background())
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- logs.Read(ctx, path, logs.ReadOptions{Follow: true}, out, out, nil) }()
	out.waitFor(t, "x\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow ignored the cancelled context")
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    string
		partial bool
		stream  string
		wantErr bool
	}{
		{name: "full", line: "2024-01-02T03:04:05.123456789Z stdout F hello world\n", want: "hello world", stream: "stdout"},
		{name: "partial", line: "2024-01-02T03:04:05Z stderr P abc\n", want: "abc", partial: true, stream: "stderr"},
		{name: "empty content", line: "2024-01-02T03:04:05Z stdout F \n", want: "", stream: "stdout"},
		{name: "tag extension", line: "2024-01-02T03:04:05Z stdout F:x y\n", want: "y", stream: "stdout"},
		{name: "bad time", line: "yesterday stdout F x\n", wantErr: true},
		{name: "bad stream", line: "2024-01-02T03:04:05Z stdin F x\n", wantErr: true},
		{name: "bad tag", line: "2024-01-02T03:04:05Z stdout Q x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := logs.ParseRecord([]byte(tt.line))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", rec)
				}
				return
			}
			if err != nil || string(rec.Content) != tt.want || rec.Partial != tt.partial || rec.Stream != tt.stream {
				t.Fatalf("got %+v, %v", rec, err)
			}
		})
	}
}
