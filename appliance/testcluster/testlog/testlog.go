// Package testlog routes a part's slog output into the test's own log, so a
// failing test shows what the part said and a passing one stays quiet.
package testlog

import (
	"log/slog"
	"strings"
	"testing"
)

// New logs records at level and above into t's log.
func New(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer{T: t}, &slog.HandlerOptions{Level: level}))
}

// Warnings logs warnings and errors into t's log.
func Warnings(t testing.TB) *slog.Logger { return New(t, slog.LevelWarn) }

// Writer writes each line it is given to T's log.
type Writer struct{ T testing.TB }

func (w Writer) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
