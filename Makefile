# The appliance's build and test entry points. `make ci` is what CI runs (through
# .ci/run) and what the README's test command runs on a fresh Debian 12 machine.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)
VERSION ?= 0.1.0-dev
# kubectl reads its own version from component-base; it must be the Kubernetes
# version we serve (v1.37.2), or `kubectl version` fails to parse it.
LDFLAGS := -X github.com/appliance/appliance/appliance.Version=$(VERSION) $(shell ./hack/ldflags.sh)

.PHONY: build deps test vet bench bench-smoke bench-reference ci run openapi

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/appliance .

# Installs what the tests need, from Debian's packages (as the README tells users).
deps:
	./hack/install-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Every test: unit tests of pure logic, then the integration and end-to-end
# tests against real etcd, the real API server, client-go and kubectl.
test: vet
	$(GO) test -count=1 -timeout 40m ./...

# Benchmarks run once in CI so they keep working; docs/PERFORMANCE.md has the
# full command and figures.
bench-smoke:
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./appliance/e2e/bench/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./tui/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./dns/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./netrules/

bench:
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 5s -timeout 20m ./appliance/e2e/bench/

# The appliance's API server beside the upstream kube-apiserver, on the same etcd
# in the same run. kube-apiserver is not built here nor in CI: build it as
# docs/PERFORMANCE.md says and name it in APPLIANCE_BENCH_KUBE_APISERVER.
bench-reference:
	@test -n "$(APPLIANCE_BENCH_KUBE_APISERVER)" || { echo "bench-reference: set APPLIANCE_BENCH_KUBE_APISERVER to a kube-apiserver v1.37.2 binary (see docs/PERFORMANCE.md)" >&2; exit 1; }
	APPLIANCE_BENCH_KUBE_APISERVER="$(APPLIANCE_BENCH_KUBE_APISERVER)" $(GO) test -count=1 -run '^$$' -bench AgainstKubeAPIServer -benchtime 5s ./appliance/e2e/bench/reference/

ci: deps build test bench-smoke

run: build
	sudo ./bin/appliance server

openapi:
	./hack/update-openapi.sh
