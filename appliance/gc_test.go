package appliance

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Run("Default", func(t *testing.T) {
		unsetenv(t, "GOGC")
		debug.SetGCPercent(100)
		if got := TuneGC(); got != GCPercent {
			t.Fatalf("TuneGC() = %d, want %d", got, GCPercent)
		}
		if p := debug.SetGCPercent(100); p != GCPercent {
			t.Fatalf("GC percent in effect %d, want %d", p, GCPercent)
		}
	})
	t.Run("UserGOGCWins", func(t *testing.T) {
		t.Setenv("GOGC", "50")
		debug.SetGCPercent(50) // what the runtime read from GOGC at start
		if got := TuneGC(); got != 50 {
			t.Fatalf("TuneGC() with GOGC=50 = %d, want 50", got)
		}
		if p := debug.SetGCPercent(50); p != 50 {
			t.Fatalf("GC percent in effect %d, want the user's 50", p)
		}
	})
}

// unsetenv removes key for the rest of t, restoring it afterwards.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "") // registers the restore
	os.Unsetenv(key)
}
