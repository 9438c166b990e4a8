package statefulset

// Exported for the integration tests, which live in package statefulset_test so
// that they can start a whole appliance (which itself imports this package).
var (
	OrdinalOf         = ordinalOf
	IsRunningAndReady = isRunningAndReady
)
