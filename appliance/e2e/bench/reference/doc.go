// Package reference measures the appliance's API server beside the upstream
// kube-apiserver, in one run, against the same embedded etcd and with the same
// client pool: a reference for judging our figures.
//
// kube-apiserver is not built by this repository; build it from the Go module
// proxy and point APPLIANCE_BENCH_KUBE_APISERVER at the binary (docs/PERFORMANCE.md
// has the commands):
//
//	APPLIANCE_BENCH_KUBE_APISERVER=/var/tmp/kube-apiserver \
//	  go test -count=1 -run '^$' -bench AgainstKubeAPIServer -benchtime 5s ./appliance/e2e/bench/reference/
//
// or `make bench-reference`. The benchmark lives in reference_bench_test.go.
package reference
