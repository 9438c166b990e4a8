// Package dns is the appliance's cluster DNS resolver: it answers the
// cluster domain (cluster.local) from an in-memory index of Services and
// EndpointSlices fed by client-go informers, as the Kubernetes
// "DNS-Based Service Discovery" specification and CoreDNS's kubernetes
// plugin do, and forwards every other name to the upstream servers of a
// resolv.conf, with a small cache.
//
// In the pod creation flow it comes after the kubelet: a started pod's
// resolv.conf names the kube-dns Service address, and the names it asks for
// (<svc>.<ns>.svc.cluster.local, or anything outside) land here.
//
// Start(ctx, cfg) returns a Server that listens on UDP and TCP at once and
// answers forwarded names at once; cluster names are SERVFAIL until the
// informers' caches synced (Ready), as CoreDNS answers before its
// kubernetes plugin is ready.
package dns
