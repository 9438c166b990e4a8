package deployment

// Exported for the integration test, which lives in package deployment_test so
// that it can start a whole appliance (which itself imports this package).
var (
	Revision     = revision
	GetCondition = getCondition
)

const (
	ConditionProgressing = conditionProgressing
	ConditionAvailable   = conditionAvailable
)
