package daemonset

// Exported for the integration tests, which live in package daemonset_test so
// that they can start a whole appliance (which itself imports this package).
var (
	TargetNode    = targetNode
	HasToleration = hasToleration
)
