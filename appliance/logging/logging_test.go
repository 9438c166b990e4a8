package logging

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// records keeps what reaches the daemon's handler.
type records struct {
	level slog.Level
	got   []slog.Record
}

func (h *records) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.got = append(h.got, r)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func TestLibraryLevels(t *testing.T) {
	for _, tt := range []struct {
		name      string
		level     slog.Level
		msg       string
		err       error
		daemon    slog.Level // the daemon's level (--log-level)
		wantLevel slog.Level
		wantSeen  bool
	}{
		{"library info is debug", slog.LevelInfo, "Adding GroupVersion v1", nil, slog.LevelInfo, 0, false},
		{"library info shows at debug", slog.LevelInfo, "Adding GroupVersion v1", nil, slog.LevelDebug, slog.LevelDebug, true},
		{"warnings stay", slog.LevelWarn, "slow fdatasync", nil, slog.LevelInfo, slog.LevelWarn, true},
		{"errors stay", slog.LevelError, "failed to watch", errors.New("connection refused"), slog.LevelInfo, slog.LevelError, true},
		{"stopping is no error", slog.LevelError, "failed to watch", context.Canceled, slog.LevelInfo, 0, false},
		{"a closed server is no error", slog.LevelError, "setting up serving from embedded etcd failed", errors.New("http: Server closed"), slog.LevelInfo, 0, false},
		{"etcd's harmless storage-version error", slog.LevelError, "failed to update storage version", errors.New("cannot detect storage schema version: missing term information"), slog.LevelInfo, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &records{level: tt.daemon}
			l := Library(slog.New(h), "klog")
			args := []any{}
			if tt.err != nil {
				args = append(args, "err", tt.err)
			}
			l.Log(context.Background(), tt.level, tt.msg, args...)
			if seen := len(h.got) == 1; seen != tt.wantSeen {
				t.Fatalf("seen %v, want %v (%v)", seen, tt.wantSeen, h.got)
			}
			if tt.wantSeen && h.got[0].Level != tt.wantLevel {
				t.Errorf("level %v, want %v", h.got[0].Level, tt.wantLevel)
			}
		})
	}
}

// etcd's zap lines arrive as slog records with their fields, at their level,
// and below the core's level not at all.
func TestZapCore(t *testing.T) {
	h := &records{level: slog.LevelDebug}
	z := zap.New(ZapCore(slog.New(h), zapcore.ErrorLevel)).Named("etcd").With(zap.String("member", "vm"))
	z.Warn("apply request took too long")
	z.Error("failed to publish", zap.Error(errors.New("etcdserver: request timed out")), zap.Int("attempt", 2))
	if len(h.got) != 1 {
		t.Fatalf("%d records, want the error only: %v", len(h.got), h.got)
	}
	r := h.got[0]
	var attrs []string
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a.Key+"="+a.Value.String()); return true })
	got := strings.Join(attrs, " ")
	if r.Level != slog.LevelError || r.Message != "failed to publish" || got != "logger=etcd attempt=2 error=etcdserver: request timed out member=vm" {
		t.Errorf("record %v %q %q", r.Level, r.Message, got)
	}
}

// Once the process is stopping, a library's errors are debug lines: requests
// cut short and connections closed under them are the stop itself.
func TestStopping(t *testing.T) {
	h := &records{level: slog.LevelInfo}
	l := Library(slog.New(h), "klog")
	l.Error("Unhandled Error", "err", errors.New("http: Handler timeout"))
	if len(h.got) != 1 {
		t.Fatalf("before Stopping: %d records, want the error", len(h.got))
	}
	Stopping()
	t.Cleanup(func() { stopping.Store(false) })
	l.Error("Unhandled Error", "err", errors.New("http: Handler timeout"))
	if len(h.got) != 1 {
		t.Fatalf("after Stopping: %v; want no error at info level", h.got[1:])
	}
}
