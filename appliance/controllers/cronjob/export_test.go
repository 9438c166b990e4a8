package cronjob

// Exported for the integration test, which lives in package cronjob_test so that
// it can start a whole appliance (which itself imports this package).
var (
	ScheduleOf = scheduleOf
	MustLoad   = mustLoad
)
