package driver_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appliance/appliance/runtime/logs/driver"
)

const envDriver = "APPLIANCE_TEST_RUN_LOG_DRIVER"

// TestMain lets the test binary play the log driver, as the appliance binary
// does when the shim starts it through the appliance-log-driver symlink.
func TestMain(m *testing.M) {
	if os.Getenv(envDriver) == "1" {
		os.Exit(driver.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// proc is a driver process wired as the shim wires it.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File // our write ends
	ready          *os.File // our read end of fd 5
	done           chan error
}

// startDriver starts the test binary as the driver with real pipes on fds 3,
// 4 and 5, waits for its ready signal and returns the write ends.
func startDriver(t *testing.T, args ...string) *proc {
	t.Helper()
	outR, outW := mustPipe(t)
	errR, errW := mustPipe(t)
	readyR, readyW := mustPipe(t)
	cmd := exec.Command(os.Args[0], args...)
	// The shim gives the driver no environment but the container's id.
	cmd.Env = []string{envDriver + "=1", "CONTAINER_ID=c1", "CONTAINER_NAMESPACE=k8s.io"}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start driver: %v", err)
	}
	p := &proc{cmd: cmd, stdout: outW, stderr: errW, ready: readyR, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w (stderr: %s)", err, stderr.String())
		}
		p.done <- err
	}()
	t.Cleanup(func() {
		outW.Close()
		errW.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // by PID
		}
	})
	// Our copies of the driver's ends must go, or EOF never comes.
	outR.Close()
	errR.Close()
	readyW.Close()

	readyDone := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		readyDone <- err
	}()
	select {
	case err := <-readyDone:
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("read ready: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("driver never signalled ready on fd 5")
	}
	return p
}

func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("driver did not exit")
		return nil
	}
}

func mustPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

var recordRE = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

type record struct {
	ts      time.Time
	stream  string
	tag     string
	content string
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		m := recordRE.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("not a CRI log record: %q", sc.Text())
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("timestamp %q: %v", m[1], err)
		}
		out = append(out, record{ts, m[2], m[3], m[4]})
	}
	if !bytes.HasSuffix(data, []byte("\n")) && len(data) > 0 {
		t.Fatalf("file does not end with a newline")
	}
	return out
}

func TestDriverWritesCRIRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pod", "app", "0.log")
	p := startDriver(t, "max-files", "3", "path", path, "max-size", "1048576")

	long := strings.Repeat("x", driver.MaxLineSize+100)
	if _, err := io.WriteString(p.stdout, "hello\nwin\r\n"+long+"\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p.stderr, "oops\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p.stdout, "no newline at the end"); err != nil {
		t.Fatal(err)
	}
	p.stdout.Close()
	p.stderr.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("driver: %v", err)
	}

	recs := readRecords(t, path)
	var stdout []string
	var stderr []string
	for _, r := range recs {
		if time.Since(r.ts) > time.Minute || r.ts.After(time.Now()) {
			t.Errorf("timestamp %v is not now", r.ts)
		}
		s := r.tag + ":" + r.content
		if r.stream == "stdout" {
			stdout = append(stdout, s)
		} else {
			stderr = append(stderr, s)
		}
	}
	want := []string{"F:hello", "F:win", "P:" + long[:driver.MaxLineSize], "F:" + long[driver.MaxLineSize:], "P:no newline at the end"}
	if strings.Join(stdout, "|") != strings.Join(want, "|") {
		t.Errorf("stdout records:\n got %.200q\nwant %.200q", stdout, want)
	}
	if strings.Join(stderr, "|") != "F:oops" {
		t.Errorf("stderr records: %q", stderr)
	}
}

func TestDriverRotatesBySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	p := startDriver(t, "path", path, "max-size", "300", "max-files", "3")
	const n = 60
	for i := range n {
		if _, err := fmt.Fprintf(p.stdout, "line %02d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	p.stdout.Close()
	p.stderr.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("driver: %v", err)
	}
	rotated, err := driver.Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 {
		t.Fatalf("want 2 rotated files (max-files 3), got %q", rotated)
	}
	var lines []string
	for _, f := range append(rotated, path) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 300 {
			t.Errorf("%s is %d bytes, over max-size", f, st.Size())
		}
		for _, r := range readRecords(t, f) {
			lines = append(lines, r.content)
		}
	}
	// The kept files hold the newest lines, in order, ending with the last.
	if len(lines) == 0 || lines[len(lines)-1] != fmt.Sprintf("line %02d", n-1) {
		t.Fatalf("last kept line: %q", lines)
	}
	first := 0
	fmt.Sscanf(lines[0], "line %d", &first)
	for i, l := range lines {
		if want := fmt.Sprintf("line %02d", first+i); l != want {
			t.Fatalf("line %d = %q, want %q (lines %q)", i, l, want, lines)
		}
	}
	if first == 0 {
		t.Fatal("nothing was rotated away")
	}
}

func TestDriverExitsOnSIGTERMWhilePipeHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	p := startDriver(t, "path", path)
	if _, err := io.WriteString(p.stdout, "before term\n"); err != nil {
		t.Fatal(err)
	}
	// The record is on disk before the driver is told to go.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte("before term")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record never written: %q", data)
		}
		time.Sleep(10 * time.Millisecond) // polling a file, not synchronising
	}
	// A grandchild may hold the pipe: the driver must not hang on it.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := p.wait(t)
	if err == nil {
		t.Fatalf("driver exited 0 though its read was cut short")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("driver took %v after SIGTERM", d)
	}
	if recs := readRecords(t, path); len(recs) != 1 || recs[0].content != "before term" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestDriverBadArgsStillDrains(t *testing.T) {
	p := startDriver(t, "path", "relative.log")
	// The container's writes must not fail with EPIPE.
	if _, err := io.WriteString(p.stdout, "into the void\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	p.stdout.Close()
	p.stderr.Close()
	err := p.wait(t)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("want exit 1 with a clear message, got %v", err)
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    driver.Config
		wantErr string
	}{
		{name: "defaults", args: []string{"path", "/l/0.log"}, want: driver.Config{Path: "/l/0.log", MaxSize: driver.DefaultMaxSize, MaxFiles: driver.DefaultMaxFiles}},
		{name: "any order", args: []string{"max-files", "2", "path", "/l/0.log", "max-size", "10"}, want: driver.Config{Path: "/l/0.log", MaxSize: 10, MaxFiles: 2}},
		{name: "odd", args: []string{"path"}, wantErr: "key value pairs"},
		{name: "unknown", args: []string{"path", "/a", "colour", "red"}, wantErr: `unknown argument "colour"`},
		{name: "no path", args: []string{"max-size", "1"}, wantErr: "missing argument path"},
		{name: "bad size", args: []string{"path", "/a", "max-size", "-1"}, wantErr: "max-size"},
		{name: "bad files", args: []string{"path", "/a", "max-files", "0"}, wantErr: "max-files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := driver.ParseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestArgsRoundTrip(t *testing.T) {
	m := driver.Args("/var/log/pods/x/c/0.log", 1234, 3)
	var args []string
	for k, v := range m { // map order, as the shim passes them
		args = append(args, k, v)
	}
	got, err := driver.ParseArgs(args)
	if err != nil || got != (driver.Config{Path: "/var/log/pods/x/c/0.log", MaxSize: 1234, MaxFiles: 3}) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestWriterRecoversFromFailedRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	path := filepath.Join(dir, "0.log")
	w, err := driver.Open(driver.Config{Path: path, MaxSize: 60, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.WriteRecord("stdout", true, []byte("fills most of the file")); err != nil {
		t.Fatal(err)
	}
	// The directory goes away: rotation cannot rename, nor open anew.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord("stdout", true, []byte("lost")); err == nil || !strings.Contains(err.Error(), "rotate") {
		t.Fatalf("want a rotation error, got %v", err)
	}
	// Once it is back, records flow again.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord("stdout", true, []byte("after")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	recs := readRecords(t, path)
	if len(recs) != 1 || recs[0].content != "after" {
		t.Fatalf("records: %+v", recs)
	}
}
