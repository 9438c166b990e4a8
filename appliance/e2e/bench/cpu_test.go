package bench

import (
	"testing"

	"github.com/appliance/appliance/appliance/e2e/bench/benchutil"
)

// The CPU meter lives in benchutil (the reference benchmark uses it too); these
// are the names this package's benchmarks know it by.

type cpuMeter struct{ m benchutil.CPUMeter }

func startCPU() cpuMeter { return cpuMeter{benchutil.StartCPU()} }

func (m cpuMeter) stop() cpuUse { return cpuUse(m.m.Stop()) }

// cpuUse is benchutil.CPUUse: cores of this process and of the rest of the
// machine over a phase.
type cpuUse benchutil.CPUUse

func (u *cpuUse) add(v cpuUse) { (*benchutil.CPUUse)(u).Add(benchutil.CPUUse(v)) }

// report adds cpu-self-cores and cpu-other-cores (see benchutil.CPUUse.Report).
func (u cpuUse) report(b *testing.B) { benchutil.CPUUse(u).Report(b) }

var hostBusyTicks = benchutil.HostBusyTicks
