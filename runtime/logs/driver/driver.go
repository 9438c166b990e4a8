// Package driver is the containers' logging binary. containerd's shim starts it
// (cio.BinaryIO) for every container, so a container's stdout and stderr keep
// reaching its log file while the appliance itself is down or restarting: the
// driver lives as long as the container's pipes, not as long as the kubelet.
//
// The shim passes the URI's query as alternating key and value arguments (in Go
// map order), the container's stdout on fd 3, stderr on fd 4, and a pipe on
// fd 5 that it reads until the driver signals it is ready (a byte or EOF). Its
// environment holds only CONTAINER_ID and CONTAINER_NAMESPACE, and its own
// stdout and stderr go nowhere. On teardown the shim closes its ends of the
// pipes and sends SIGTERM, then SIGKILL after 12 s.
//
// The file is written in the CRI log format the kubelet reads:
//
//	<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n
//
// with P for a chunk of a line longer than 16 KiB (or a last line without a
// newline), as containerd's CRI plugin writes it. The file is rotated by size
// to <file>.<timestamp>, keeping max-files files in all.
//
// This package runs before the appliance's heavy packages initialise (see
// runtime/reexec), so it imports the standard library only.
package driver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Argument keys understood by Main, and their defaults (the kubelet's
// containerLogMaxSize and containerLogMaxFiles).
const (
	ArgPath     = "path"
	ArgMaxSize  = "max-size"
	ArgMaxFiles = "max-files"

	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// MaxLineSize is the longest chunk written as one record; longer lines are
// split into P records, as containerd's CRI plugin does (16 KiB).
const MaxLineSize = 16 << 10

// RotatedTimeFormat names rotated files: <file>.<time in this format>. It is
// fixed width so that names sort in time order.
const RotatedTimeFormat = "20060102-150405.000000000"

// drainGrace bounds how long the driver keeps draining after SIGTERM: the
// shim only sends it once the container is gone, so the pipes should reach
// EOF at once unless a grandchild still holds them open.
const drainGrace = 2 * time.Second

// File descriptors the shim hands over.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// Args returns the arguments to give cio.BinaryIO for a container whose log
// goes to path.
func Args(path string, maxSize int64, maxFiles int) map[string]string {
	return map[string]string{
		ArgPath:     path,
		ArgMaxSize:  strconv.FormatInt(maxSize, 10),
		ArgMaxFiles: strconv.Itoa(maxFiles),
	}
}

// Config is what the arguments say.
type Config struct {
	Path     string
	MaxSize  int64
	MaxFiles int
}

// ParseArgs reads alternating key and value words (os.Args[1:]).
func ParseArgs(args []string) (Config, error) {
	cfg := Config{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
	if len(args)%2 != 0 {
		return cfg, fmt.Errorf("log driver: arguments must be key value pairs, got %d words: %q", len(args), args)
	}
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		switch k {
		case ArgPath:
			cfg.Path = v
		case ArgMaxSize:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return cfg, fmt.Errorf("log driver: %s %q: want a positive number of bytes", k, v)
			}
			cfg.MaxSize = n
		case ArgMaxFiles:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return cfg, fmt.Errorf("log driver: %s %q: want a count of at least 1", k, v)
			}
			cfg.MaxFiles = n
		default:
			return cfg, fmt.Errorf("log driver: unknown argument %q", k)
		}
	}
	if cfg.Path == "" {
		return cfg, errors.New("log driver: missing argument path")
	}
	if !filepath.IsAbs(cfg.Path) {
		return cfg, fmt.Errorf("log driver: path %q must be absolute", cfg.Path)
	}
	return cfg, nil
}

// Main runs the driver with os.Args[1:] and returns the exit code. If the
// arguments are bad or the file cannot be opened it still signals ready and
// drains the pipes (discarding), so the container is not killed by SIGPIPE;
// the error goes to stderr and the exit code is 1.
func Main(args []string) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	// Look at fd 5 before anything opens a descriptor of its own (the
	// runtime's poller would take the lowest free number).
	var ready *os.File
	if isOpen(fdReady) {
		ready = os.NewFile(fdReady, "ready")
	}
	stdout := inherit(fdStdout, "stdout")
	stderr := inherit(fdStderr, "stderr")

	cfg, err := ParseArgs(args)
	var w *Writer
	if err == nil {
		w, err = Open(cfg)
	}
	if ready != nil {
		ready.Close() // EOF is the ready signal the shim waits for
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		w = nil
	}

	done := make(chan error, 2)
	for _, s := range []struct {
		f    *os.File
		name string
	}{{stdout, "stdout"}, {stderr, "stderr"}} {
		go func() {
			if s.f == nil {
				done <- nil
				return
			}
			if w == nil {
				_, err := io.Copy(io.Discard, s.f)
				done <- err
				return
			}
			done <- w.Copy(s.name, s.f)
		}()
	}

	var errs []error
	for remaining := 2; remaining > 0; {
		select {
		case err := <-done:
			remaining--
			if err != nil {
				errs = append(errs, err)
			}
		case <-sigs:
			// Let the pipes drain, but not forever.
			deadline := time.Now().Add(drainGrace)
			for _, f := range []*os.File{stdout, stderr} {
				if f != nil {
					_ = f.SetReadDeadline(deadline)
				}
			}
		}
	}
	if w != nil {
		if cerr := w.Close(); cerr != nil {
			errs = append(errs, cerr)
		}
	}
	if err != nil {
		return 1
	}
	if len(errs) > 0 {
		fmt.Fprintln(os.Stderr, errors.Join(errs...))
		return 1
	}
	return 0
}

func isOpen(fd int) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return errno == 0
}

// inherit wraps an inherited fd, made non-blocking so read deadlines work.
func inherit(fd int, name string) *os.File {
	if !isOpen(fd) {
		return nil
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// Writer appends CRI records to a log file and rotates it by size. It is
// safe for concurrent use: each record is one write.
type Writer struct {
	cfg  Config
	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
	now  func() time.Time
}

// Open opens (appending) or creates the log file and its directory.
func Open(cfg Config) (*Writer, error) {
	w := &Writer{cfg: cfg, now: time.Now}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("log driver: create log dir: %w", err)
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log driver: open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log driver: stat log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Copy reads r until EOF and writes its lines as records of stream. A
// record that cannot be written (disk full, a failed rotation) is dropped
// and reading goes on, so the container never blocks on a full pipe; the
// first such error is returned at the end. A read error other than EOF (the
// deadline after SIGTERM) ends the copy once what was read is written.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineSize)
	var werr error
	keep := func(err error) {
		if err != nil && werr == nil {
			werr = err
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			keep(w.WriteRecord(stream, true, line))
		case errors.Is(err, bufio.ErrBufferFull):
			keep(w.WriteRecord(stream, false, line))
		default:
			// EOF or a read error: what is left has no newline, so it is
			// a partial record, as containerd writes it.
			if len(line) > 0 {
				keep(w.WriteRecord(stream, false, line))
			}
			if !errors.Is(err, io.EOF) {
				keep(fmt.Errorf("log driver: read %s: %w", stream, err))
			}
			return werr
		}
	}
}

// WriteRecord writes one record: full (F) or partial (P).
func (w *Writer) WriteRecord(stream string, full bool, content []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	tag := byte('P')
	if full {
		tag = 'F'
	}
	b := w.now().UTC().AppendFormat(w.buf[:0], time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, content...)
	b = append(b, '\n')
	w.buf = b
	if w.f == nil { // a rotation failed half way: try again
		if err := w.open(); err != nil {
			return err
		}
	}
	var rotateErr error
	if w.size > 0 && w.size+int64(len(b)) > w.cfg.MaxSize {
		// A failed rotation still leaves a file to write to, if it can.
		if rotateErr = w.rotate(); w.f == nil {
			return rotateErr
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		return errors.Join(rotateErr, fmt.Errorf("log driver: write %s: %w", w.cfg.Path, err))
	}
	return rotateErr
}

// rotate renames the file to <file>.<timestamp>, opens a new one and removes
// the oldest rotated files beyond max-files.
func (w *Writer) rotate() error {
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("log driver: close for rotation: %w", err)
	}
	rotated := w.cfg.Path + "." + w.now().UTC().Format(RotatedTimeFormat)
	if err := os.Rename(w.cfg.Path, rotated); err != nil {
		// Keep appending to the file as it is.
		return errors.Join(fmt.Errorf("log driver: rotate: %w", err), w.open())
	}
	if err := w.open(); err != nil {
		return err
	}
	old, err := Rotated(w.cfg.Path)
	if err != nil {
		return err
	}
	for len(old) > w.cfg.MaxFiles-1 {
		if err := os.Remove(old[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log driver: remove old log: %w", err)
		}
		old = old[1:]
	}
	return nil
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) ([]string, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, fmt.Errorf("log driver: list rotated logs of %s: %w", path, err)
	}
	var out []string
	for _, m := range matches {
		if _, err := time.Parse(RotatedTimeFormat, strings.TrimPrefix(m, path+".")); err == nil {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Close closes the file; each record was already written through.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("log driver: close %s: %w", w.cfg.Path, err)
	}
	return nil
}
