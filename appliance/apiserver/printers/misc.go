package printers

import (
	"strconv"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	register("coordination.k8s.io", "leases", newConvertor(leaseColumns, leaseCells))
	register("discovery.k8s.io", "endpointslices", newConvertor(endpointSliceColumns, endpointSliceCells))
	// The server keeps events.k8s.io events as core/v1 Events.
	register("events.k8s.io", "events", newConvertor(eventColumns, eventCells))
	register("scheduling.k8s.io", "priorityclasses", newConvertor(priorityClassColumns, priorityClassCells))
	register("policy", "poddisruptionbudgets", newConvertor(podDisruptionBudgetColumns, podDisruptionBudgetCells))
}

var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
	ageColumn,
}

func leaseCells(l *coordinationv1.Lease) []any {
	return []any{l.Name, stringPtrOr(l.Spec.HolderIdentity, ""), age(l.CreationTimestamp)}
}

var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("AddressType", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]),
	col("Ports", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]),
	col("Endpoints", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
	ageColumn,
}

func endpointSliceCells(es *discoveryv1.EndpointSlice) []any {
	ports := make([]string, 0, len(es.Ports))
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	for _, ep := range es.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	return []any{
		es.Name, string(es.AddressType), orUnset(joinWithMore(ports, len(ports), 3)),
		orUnset(joinWithMore(addrs, len(addrs), 3)), age(es.CreationTimestamp),
	}
}

func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

// PreemptionPolicy is a normal column upstream, although its cell is
// computed with the wide ones.
var priorityClassColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Value", "integer", schedulingv1.PriorityClass{}.SwaggerDoc()["value"]),
	col("Global-Default", "boolean", schedulingv1.PriorityClass{}.SwaggerDoc()["globalDefault"]),
	ageColumn,
	col("PreemptionPolicy", "string", schedulingv1.PriorityClass{}.SwaggerDoc()["preemptionPolicy"]),
}

func priorityClassCells(pc *schedulingv1.PriorityClass) []any {
	policy := ""
	if pc.PreemptionPolicy != nil {
		policy = string(*pc.PreemptionPolicy)
	}
	return []any{pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp), policy}
}

var podDisruptionBudgetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Min Available", "string", "The minimum number of pods that must be available."),
	col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
	col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
	ageColumn,
}

func podDisruptionBudgetCells(pdb *policyv1.PodDisruptionBudget) []any {
	minAvailable, maxUnavailable := "N/A", "N/A"
	if pdb.Spec.MinAvailable != nil {
		minAvailable = pdb.Spec.MinAvailable.String()
	}
	if pdb.Spec.MaxUnavailable != nil {
		maxUnavailable = pdb.Spec.MaxUnavailable.String()
	}
	return []any{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), age(pdb.CreationTimestamp)}
}
