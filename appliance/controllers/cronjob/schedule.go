package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The time zone database is embedded so that timeZone works on a host
	// without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Schedule answers when a cron schedule fires next.
type Schedule interface {
	// Next returns the first time strictly after t at which the schedule
	// fires, or the zero time if it never does (e.g. "0 0 30 2 *").
	Next(t time.Time) time.Time
}

// ParseSchedule reads a schedule as CronJob's spec.schedule takes it, the
// grammar Kubernetes accepts (robfig/cron's standard parser): five fields
// (minute hour day-of-month month day-of-week) with *, ?, lists, ranges,
// steps and jan-dec/sun-sat names, or a macro (@yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly, "@every <duration>"). A leading
// TZ=<zone> or CRON_TZ=<zone> (refused by the API server for new objects,
// honoured on old ones, as in Kubernetes) overrides loc; a nil loc is the
// local time zone, kube-controller-manager's default.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		zone, rest, ok := strings.Cut(spec, " ")
		_, name, _ := strings.Cut(zone, "=")
		if !ok {
			return nil, fmt.Errorf("provided bad location %s: missing schedule", name)
		}
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("provided bad location %s: %v", name, err)
		}
		loc, spec = l, strings.TrimSpace(rest)
	}
	if strings.HasPrefix(spec, "@") {
		return parseMacro(spec, loc)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	s := &cronSchedule{loc: loc}
	var err error
	if s.minute, _, err = parseField(fields[0], minutes); err != nil {
		return nil, err
	}
	if s.hour, _, err = parseField(fields[1], hours); err != nil {
		return nil, err
	}
	if s.dom, s.domStar, err = parseField(fields[2], daysOfMonth); err != nil {
		return nil, err
	}
	if s.month, _, err = parseField(fields[3], months); err != nil {
		return nil, err
	}
	if s.dow, s.dowStar, err = parseField(fields[4], daysOfWeek); err != nil {
		return nil, err
	}
	return s, nil
}

func parseMacro(spec string, loc *time.Location) (Schedule, error) {
	expanded := map[string]string{
		"@yearly":   "0 0 1 1 *",
		"@annually": "0 0 1 1 *",
		"@monthly":  "0 0 1 * *",
		"@weekly":   "0 0 * * 0",
		"@daily":    "0 0 * * *",
		"@midnight": "0 0 * * *",
		"@hourly":   "0 * * * *",
	}
	if e, ok := expanded[spec]; ok {
		return ParseSchedule(e, loc)
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("failed to parse duration %s: %s", spec, err)
		}
		// Whole seconds, at least one, as robfig/cron's Every.
		every = max(every.Truncate(time.Second), time.Second)
		return everySchedule(every), nil
	}
	return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
}

// everySchedule fires a fixed time after the previous run ("@every 90m").
type everySchedule time.Duration

func (e everySchedule) Next(t time.Time) time.Time {
	return t.Add(time.Duration(e) - time.Duration(t.Nanosecond()))
}

type bounds struct {
	min, max int
	names    map[string]int
}

var (
	minutes     = bounds{0, 59, nil}
	hours       = bounds{0, 23, nil}
	daysOfMonth = bounds{1, 31, nil}
	months      = bounds{1, 12, map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	daysOfWeek = bounds{0, 6, map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

// parseField returns the set of values a field allows as a bit set, and
// whether it is unrestricted ("*" or "?" without a step): that decides how
// day-of-month and day-of-week combine.
func parseField(field string, b bounds) (set uint64, star bool, err error) {
	for _, expr := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' }) {
		bits, s, err := parseRange(expr, b)
		if err != nil {
			return 0, false, err
		}
		set |= bits
		star = star || s
	}
	return set, star, nil
}

func parseRange(expr string, b bounds) (uint64, bool, error) {
	rangePart, stepPart, hasStep := strings.Cut(expr, "/")
	if strings.Contains(stepPart, "/") {
		return 0, false, fmt.Errorf("too many slashes: %s", expr)
	}
	lo, hi, isRange := strings.Cut(rangePart, "-")
	var start, end int
	star := false
	if lo == "*" || lo == "?" {
		// Whatever follows a leading "*-" is ignored, as by the parser
		// Kubernetes uses (and the API server's validation).
		start, end, star = b.min, b.max, true
	} else {
		if strings.Contains(hi, "-") {
			return 0, false, fmt.Errorf("too many hyphens: %s", expr)
		}
		var err error
		if start, err = parseValue(lo, b); err != nil {
			return 0, false, err
		}
		end = start
		if isRange {
			if end, err = parseValue(hi, b); err != nil {
				return 0, false, err
			}
		}
	}
	step := 1
	if hasStep {
		var err error
		if step, err = parseInt(stepPart); err != nil {
			return 0, false, err
		}
		if !isRange {
			// "N/step" means "N-max/step".
			end = b.max
		}
		if step > 1 {
			star = false
		}
	}
	switch {
	case start < b.min:
		return 0, false, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return 0, false, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return 0, false, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, false, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	for v := start; v <= end; v += step {
		bits |= 1 << uint(v)
	}
	return bits, star, nil
}

func parseValue(s string, b bounds) (int, error) {
	if v, ok := b.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	return parseInt(s)
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, s)
	}
	return n, nil
}

// cronSchedule is a five-field schedule evaluated in loc.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64
	// domStar, dowStar: the field was "*"; then a day must match both day
	// fields, otherwise either (the classic cron rule: "0 0 1 * MON" is the
	// 1st and every Monday).
	domStar, dowStar bool
	loc              *time.Location
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

func (s *cronSchedule) dayMatches(t time.Time) bool {
	dom, dow := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// searchYears bounds the search for a schedule that never fires.
const searchYears = 5

// Next walks forward from the minute after t, skipping a whole month, day or
// hour at a time when that field does not match. Wall-clock arithmetic is in
// the schedule's zone, so "30 2 * * *" follows the zone's daylight saving
// changes (a time skipped by the change is skipped, as in cron).
func (s *cronSchedule) Next(t time.Time) time.Time {
	orig := t.Location()
	t = t.In(s.loc)
	// The next whole minute (schedules have no seconds), in absolute time:
	// rebuilding it with time.Date could land in the first pass of an hour
	// that a daylight saving change repeats, before t.
	t = t.Add(-time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond())).Add(time.Minute)
	limit := t.Year() + searchYears
	for t.Year() <= limit {
		switch {
		case !has(s.month, int(t.Month())):
			t = forward(t, time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, s.loc))
		case !s.dayMatches(t):
			t = forward(t, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, s.loc))
		case !has(s.hour, t.Hour()):
			// To the next wall-clock hour, in absolute time so that an
			// hour repeated by a daylight saving change is not skipped
			// and the walk always moves forward.
			t = t.Add(time.Duration(60-t.Minute()) * time.Minute)
		case !has(s.minute, t.Minute()):
			t = t.Add(time.Minute)
		default:
			return t.In(orig)
		}
	}
	return time.Time{}
}

// forward returns next, unless a daylight saving change made it no later
// than t (a midnight that occurs twice); then the minute after t. The walk
// must always move forward, or a caller iterating Next would never end.
func forward(t, next time.Time) time.Time {
	if next.After(t) {
		return next
	}
	return t.Add(time.Minute)
}
