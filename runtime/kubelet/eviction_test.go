package kubelet

import "testing"

func TestParseThresholds(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Thresholds
		err      bool
	}{
		{name: "defaults", in: "", want: DefaultThresholds()},
		{name: "memory quantity", in: "memory.available<1Gi", want: Thresholds{MemoryAvailable: 1 << 30, NodefsAvailablePercent: 10, PIDAvailablePercent: 5}},
		{name: "several", in: "memory.available<200Mi, nodefs.available<5%,pid.available<1%", want: Thresholds{MemoryAvailable: 200 << 20, NodefsAvailablePercent: 5, PIDAvailablePercent: 1}},
		{name: "unknown signal", in: "imagefs.inodesFree<5%", err: true},
		{name: "no operator", in: "memory.available=1Gi", err: true},
		{name: "bad quantity", in: "memory.available<lots", err: true},
		{name: "disk not a percentage", in: "nodefs.available<10Gi", err: true},
		{name: "percentage over 100", in: "nodefs.available<120%", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThresholds(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseThresholds(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseThresholds(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}
