// Package logging brings the libraries' own log lines (client-go's klog,
// etcd's zap) into the daemon's slog logger, so that `appliance server`
// writes one format, and keeps them quiet: a library's info lines are debug
// lines here, and its errors that only say the process is stopping (a
// cancelled context, a closed server or listener), or that the library's
// authors call harmless, are debug lines too.
package logging

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

// Library returns a logger for the lines of the library called name.
func Library(l *slog.Logger, name string) *slog.Logger {
	return slog.New(&libHandler{h: l.Handler().WithAttrs([]slog.Attr{slog.String("lib", name)})})
}

type libHandler struct{ h slog.Handler }

func (l *libHandler) Enabled(ctx context.Context, level slog.Level) bool {
	// Errors may turn out to be shutdown noise: Handle decides.
	return level >= slog.LevelError || l.h.Enabled(ctx, demote(level))
}

func (l *libHandler) Handle(ctx context.Context, r slog.Record) error {
	level := demote(r.Level)
	if level >= slog.LevelError && harmless(r) || stopping.Load() {
		level = slog.LevelDebug
	}
	if !l.h.Enabled(ctx, level) {
		return nil
	}
	r.Level = level
	return l.h.Handle(ctx, r)
}

func (l *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &libHandler{h: l.h.WithAttrs(as)}
}

func (l *libHandler) WithGroup(name string) slog.Handler {
	return &libHandler{h: l.h.WithGroup(name)}
}

// demote makes a library's info (and its more verbose levels) debug.
func demote(level slog.Level) slog.Level {
	if level < slog.LevelWarn {
		return min(level, slog.LevelDebug)
	}
	return level
}

var stopping atomic.Bool

// Stopping says the process is shutting down: from now on the libraries'
// warnings and errors (requests cut short, connections closed under them)
// are debug lines.
func Stopping() { stopping.Store(true) }

// harmlessPhrases are errors in which nothing went wrong: what libraries
// report when the appliance stops them, and etcd's storage-version check on
// a member that has not yet written its first term (harmless, etcd's
// maintainers say: etcd-io/etcd#18978).
var harmlessPhrases = []string{
	"context canceled", "http: Server closed", "use of closed network connection",
	"cannot detect storage schema version",
}

func harmless(r slog.Record) bool {
	found := has(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		found = found || has(a.Value.String())
		return !found
	})
	return found
}

func has(s string) bool {
	for _, p := range harmlessPhrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// ZapCore is a zap core that writes to l at level and above, for libraries
// that log with zap (etcd).
func ZapCore(l *slog.Logger, level zapcore.Level) zapcore.Core {
	return &zapCore{l: l, level: level}
}

type zapCore struct {
	l      *slog.Logger
	level  zapcore.Level
	fields []zapcore.Field
}

func (c *zapCore) Enabled(level zapcore.Level) bool { return level >= c.level }

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{l: c.l, level: c.level, fields: append(append([]zapcore.Field{}, c.fields...), fields...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.l.LogAttrs(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func (c *zapCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
