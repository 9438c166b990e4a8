package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuMeter measures, over a phase, how many cores this process used and how
// many the rest of the machine used: figures taken while other work shares the
// two cores mean less, and these say how much there was.
type cpuMeter struct {
	wall      time.Time
	self      time.Duration
	hostTicks int64
	hostOK    bool
}

func startCPU() cpuMeter {
	m := cpuMeter{wall: time.Now(), self: selfCPU()}
	m.hostTicks, m.hostOK = hostBusyTicks()
	return m
}

// cpuUse is CPU time over wall time, of this process and of the rest of the
// machine (its busy time minus this process's; /proc/stat counts in 10 ms
// ticks), in seconds; other is negative when /proc/stat is unavailable.
type cpuUse struct{ wall, self, other float64 }

func (m cpuMeter) stop() cpuUse {
	u := cpuUse{wall: time.Since(m.wall).Seconds(), self: (selfCPU() - m.self).Seconds(), other: -1}
	if ticks, ok := hostBusyTicks(); ok && m.hostOK {
		u.other = max(0, float64(ticks-m.hostTicks)/100-u.self)
	}
	return u
}

func (u *cpuUse) add(v cpuUse) {
	u.wall += v.wall
	u.self += v.self
	if u.other >= 0 && v.other >= 0 {
		u.other += v.other
	} else {
		u.other = -1
	}
}

// report adds cpu-self-cores and cpu-other-cores: cores used on average by
// this process (the appliance and the benchmark's clients) and by everything
// else on the machine. Phases shorter than a second (a smoke run's) report
// nothing: /proc/stat's 10 ms ticks would make the figures noise.
func (u cpuUse) report(b *testing.B) {
	if u.wall < 1 {
		return
	}
	b.ReportMetric(u.self/u.wall, "cpu-self-cores")
	if u.other >= 0 {
		b.ReportMetric(u.other/u.wall, "cpu-other-cores")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostBusyTicks is the machine's non-idle CPU time from /proc/stat, in
// USER_HZ (1/100 s) ticks.
func hostBusyTicks() (int64, bool) {
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
