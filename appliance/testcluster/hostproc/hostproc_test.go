package hostproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestReadPID(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pid")
	os.WriteFile(good, []byte("1234\n"), 0o644)
	bad := filepath.Join(dir, "bad.pid")
	os.WriteFile(bad, []byte("nope"), 0o644)
	for path, want := range map[string]int{good: 1234, bad: 0, filepath.Join(dir, "missing"): 0} {
		if got := ReadPID(path); got != want {
			t.Errorf("ReadPID(%s) = %d, want %d", filepath.Base(path), got, want)
		}
	}
}

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this test's own process is not alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	cmd.Wait() // reaped: no such process any more
	if Alive(pid) {
		t.Fatalf("exited and reaped process %d reported alive", pid)
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`/tmp/a\040b/c`); got != "/tmp/a b/c" {
		t.Fatalf("unescape = %q", got)
	}
	if got := unescape("/plain"); got != "/plain" {
		t.Fatalf("unescape = %q", got)
	}
}
