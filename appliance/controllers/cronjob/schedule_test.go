package cronjob

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	berlin := mustLoad(t, "Europe/Berlin")
	utc := time.UTC
	at := func(loc *time.Location, s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	tests := []struct {
		name  string
		spec  string
		loc   *time.Location
		after time.Time
		want  time.Time // zero: never
	}{
		{name: "every minute", spec: "* * * * *", loc: utc, after: at(utc, "2026-01-01 10:00:30"), want: at(utc, "2026-01-01 10:01:00")},
		{name: "strictly after", spec: "* * * * *", loc: utc, after: at(utc, "2026-01-01 10:01:00"), want: at(utc, "2026-01-01 10:02:00")},
		{name: "step", spec: "*/15 * * * *", loc: utc, after: at(utc, "2026-01-01 12:07:00"), want: at(utc, "2026-01-01 12:15:00")},
		{name: "step from a start", spec: "5/20 * * * *", loc: utc, after: at(utc, "2026-01-01 12:26:00"), want: at(utc, "2026-01-01 12:45:00")},
		{name: "range with step", spec: "0 8-18/4 * * *", loc: utc, after: at(utc, "2026-01-01 13:00:00"), want: at(utc, "2026-01-01 16:00:00")},
		{name: "list", spec: "0 0 1,15 * *", loc: utc, after: at(utc, "2026-01-02 00:00:00"), want: at(utc, "2026-01-15 00:00:00")},
		{name: "weekdays skip the weekend", spec: "0 9 * * 1-5", loc: utc, after: at(utc, "2026-01-02 10:00:00"), want: at(utc, "2026-01-05 09:00:00")},
		{name: "names", spec: "30 6 * jul,dec sat", loc: utc, after: at(utc, "2026-01-01 00:00:00"), want: at(utc, "2026-07-04 06:30:00")},
		{name: "day of month or day of week", spec: "0 0 1 * mon", loc: utc, after: at(utc, "2026-01-26 00:00:00"), want: at(utc, "2026-02-01 00:00:00")},
		{name: "day of week only (dom star)", spec: "0 0 * * mon", loc: utc, after: at(utc, "2026-01-26 00:00:00"), want: at(utc, "2026-02-02 00:00:00")},
		{name: "question mark is star", spec: "0 0 ? * mon", loc: utc, after: at(utc, "2026-01-26 00:00:00"), want: at(utc, "2026-02-02 00:00:00")},
		{name: "year wrap", spec: "0 0 1 1 *", loc: utc, after: at(utc, "2026-06-01 00:00:00"), want: at(utc, "2027-01-01 00:00:00")},
		{name: "leap day", spec: "0 0 29 2 *", loc: utc, after: at(utc, "2026-01-01 00:00:00"), want: at(utc, "2028-02-29 00:00:00")},
		{name: "never", spec: "0 0 30 2 *", loc: utc, after: at(utc, "2026-01-01 00:00:00")},
		{name: "hourly", spec: "@hourly", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-01 13:00:00")},
		{name: "daily", spec: "@daily", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-02 00:00:00")},
		{name: "midnight", spec: "@midnight", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-02 00:00:00")},
		{name: "weekly is sunday", spec: "@weekly", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-04 00:00:00")},
		{name: "monthly", spec: "@monthly", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-02-01 00:00:00")},
		{name: "yearly", spec: "@yearly", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2027-01-01 00:00:00")},
		{name: "annually", spec: "@annually", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2027-01-01 00:00:00")},
		{name: "every", spec: "@every 90m", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-01 14:00:00")},
		{name: "every rounds to seconds", spec: "@every 1500ms", loc: utc, after: at(utc, "2026-01-01 12:30:00"), want: at(utc, "2026-01-01 12:30:01")},
		{name: "time zone", spec: "0 9 * * *", loc: berlin, after: at(utc, "2026-06-01 00:00:00"), want: at(utc, "2026-06-01 07:00:00")},
		{name: "CRON_TZ prefix overrides", spec: "CRON_TZ=Asia/Tokyo 0 9 * * *", loc: berlin, after: at(utc, "2026-01-01 01:00:00"), want: at(utc, "2026-01-02 00:00:00")},
		{name: "TZ prefix with a macro", spec: "TZ=Asia/Tokyo @daily", loc: utc, after: at(utc, "2026-01-01 01:00:00"), want: at(utc, "2026-01-01 15:00:00")},
		// 2:30 does not exist on 2026-03-08 in New York: that day is skipped.
		{name: "spring forward skips", spec: "30 2 * * *", loc: ny, after: at(ny, "2026-03-08 00:00:00"), want: at(ny, "2026-03-09 02:30:00")},
		// 1:30 happens twice on 2026-11-01: both run, as with cron.
		{name: "fall back repeats", spec: "30 1 * * *", loc: ny, after: at(utc, "2026-11-01 05:30:00"), want: at(utc, "2026-11-01 06:30:00")},
		{name: "fall back then next day", spec: "30 1 * * *", loc: ny, after: at(utc, "2026-11-01 06:30:00"), want: at(utc, "2026-11-02 06:30:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec, tt.loc)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.spec, err)
			}
			got := s.Next(tt.after)
			if !got.Equal(tt.want) {
				t.Errorf("Next(%s) = %s, want %s", tt.after, got, tt.want)
			}
			if !got.IsZero() && !got.After(tt.after) {
				t.Errorf("Next went backwards")
			}
		})
	}
}

// Next must always move forward, whatever the zone does to its clocks; a
// caller iterating it would otherwise never end.
func TestScheduleNextMonotonic(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"} {
		loc := mustLoad(t, zone)
		for _, spec := range []string{"* * * * *", "0 * * * *", "30 0-3 * * *", "0 0 * * *"} {
			s, err := ParseSchedule(spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			tt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			end := tt.AddDate(1, 0, 0)
			steps := 0
			for tt.Before(end) && steps < 600000 {
				next := s.Next(tt)
				if !next.After(tt) {
					t.Fatalf("%s %q: Next(%s) = %s", zone, spec, tt, next)
				}
				tt = next
				steps++
			}
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		spec string
		want string
	}{
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields"},
		{"* * * * * *", "expected exactly 5 fields"},
		{"60 * * * *", "above maximum"},
		{"* 24 * * *", "above maximum"},
		{"* * 0 * *", "below minimum"},
		{"* * * 13 *", "above maximum"},
		{"* * * * 7", "above maximum"},
		{"5-1 * * * *", "beyond end of range"},
		{"*/0 * * * *", "should be a positive number"},
		{"1-2-3 * * * *", "too many hyphens"},
		{"*/2/3 * * * *", "too many slashes"},
		{"a * * * *", "failed to parse int"},
		{"-1 * * * *", "failed to parse int"},
		{"@weekday", "unrecognized descriptor"},
		{"@every forever", "failed to parse duration"},
		{"TZ=Mars/Base * * * * *", "provided bad location"},
		{"CRON_TZ=UTC", "missing schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseSchedule(tt.spec, time.UTC)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSchedule(%q) = %v, want an error with %q", tt.spec, err, tt.want)
			}
		})
	}
}

// What the API server's validation accepts, the controller must parse.
func TestParseScheduleLenient(t *testing.T) {
	for _, spec := range []string{"1,,2 * * * *", "*-5 * * * *", "0 0 * * SUN", "0 0 * JAN-MAR *", "TZ=UTC 0 0 * * *"} {
		if _, err := ParseSchedule(spec, nil); err != nil {
			t.Errorf("ParseSchedule(%q): %v", spec, err)
		}
	}
}
