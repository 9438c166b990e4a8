package benchutil

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CPUMeter measures, over a phase, how many cores this process used and how
// many the rest of the machine used: figures taken while other work shares the
// two cores mean less, and these say how much there was.
type CPUMeter struct {
	wall      time.Time
	self      time.Duration
	hostTicks int64
	hostOK    bool
}

// StartCPU starts a measurement.
func StartCPU() CPUMeter {
	m := CPUMeter{wall: time.Now(), self: selfCPU()}
	m.hostTicks, m.hostOK = HostBusyTicks()
	return m
}

// CPUUse is CPU time over wall time, of this process and of the rest of the
// machine (its busy time minus this process's; /proc/stat counts in 10 ms
// ticks), in seconds; Other is negative when /proc/stat is unavailable.
type CPUUse struct{ Wall, Self, Other float64 }

// Stop ends the measurement.
func (m CPUMeter) Stop() CPUUse {
	u := CPUUse{Wall: time.Since(m.wall).Seconds(), Self: (selfCPU() - m.self).Seconds(), Other: -1}
	if ticks, ok := HostBusyTicks(); ok && m.hostOK {
		u.Other = max(0, float64(ticks-m.hostTicks)/100-u.Self)
	}
	return u
}

// Add sums two measurements (of phases one after the other).
func (u *CPUUse) Add(v CPUUse) {
	u.Wall += v.Wall
	u.Self += v.Self
	if u.Other >= 0 && v.Other >= 0 {
		u.Other += v.Other
	} else {
		u.Other = -1
	}
}

// Report adds cpu-self-cores and cpu-other-cores: cores used on average by
// this process (the appliance and the benchmark's clients) and by everything
// else on the machine. Phases shorter than a second (a smoke run's) report
// nothing: /proc/stat's 10 ms ticks would make the figures noise.
func (u CPUUse) Report(b *testing.B) {
	if u.Wall < 1 {
		return
	}
	b.ReportMetric(u.Self/u.Wall, "cpu-self-cores")
	if u.Other >= 0 {
		b.ReportMetric(u.Other/u.Wall, "cpu-other-cores")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// HostBusyTicks is the machine's non-idle CPU time from /proc/stat, in
// USER_HZ (1/100 s) ticks.
func HostBusyTicks() (int64, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, false
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice,
		// already counted in user and nice]
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy, true
}
