// Package netrules is the appliance's service proxy: kube-proxy's iptables
// mode, written for the appliance. It watches Services and
// discovery.k8s.io/v1 EndpointSlices through client-go informers and keeps a
// node's nat and filter tables in kube-proxy's chain layout (KUBE-SERVICES,
// KUBE-SVC-*, KUBE-SEP-*, KUBE-EXT-*, KUBE-SVL-*, KUBE-NODEPORTS,
// KUBE-POSTROUTING, KUBE-MARK-MASQ; filter KUBE-SERVICES,
// KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS), so ClusterIPs,
// NodePorts, external IPs and load-balancer IPs lead to the Service's
// endpoints.
//
// In the flow of a request it is the step after the EndpointSlice
// controller: a pod turns Ready, the controller lists it in its Service's
// slice, and this package points the Service's addresses at it.
//
// Render is a pure function from a Snapshot (Services, EndpointSlices and the
// node's facts) to iptables-restore input; Start runs the loop that feeds it
// from the informers and applies its output in one `iptables-restore
// --noflush` transaction inside the node's network namespace. Close leaves
// the rules in place, as kube-proxy does, so Services keep working while the
// daemon restarts; Cleanup removes them.
package netrules
