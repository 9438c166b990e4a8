#!/usr/bin/env bash
# Regenerates appliance/apiserver/openapi/zz_generated.openapi.go: the OpenAPI
# definitions of every k8s.io/api type the API server serves. kubectl's client-side
# validation, `kubectl explain` and server-side apply's type converter read them.
set -euo pipefail
cd "$(dirname "$0")/.."
touch /tmp/appliance-openapi-header.txt
go tool openapi-gen \
  --output-dir appliance/apiserver/openapi \
  --output-pkg github.com/appliance/appliance/appliance/apiserver/openapi \
  --output-file zz_generated.openapi.go \
  --go-header-file /tmp/appliance-openapi-header.txt \
  --report-filename /dev/null \
  k8s.io/apimachinery/pkg/apis/meta/v1 \
  k8s.io/apimachinery/pkg/runtime \
  k8s.io/apimachinery/pkg/util/intstr \
  k8s.io/apimachinery/pkg/api/resource \
  k8s.io/apimachinery/pkg/version \
  k8s.io/api/core/v1 \
  k8s.io/api/apps/v1 \
  k8s.io/api/batch/v1 \
  k8s.io/api/autoscaling/v1 \
  k8s.io/api/autoscaling/v2 \
  k8s.io/api/networking/v1 \
  k8s.io/api/storage/v1 \
  k8s.io/api/rbac/v1 \
  k8s.io/api/coordination/v1 \
  k8s.io/api/discovery/v1 \
  k8s.io/api/events/v1 \
  k8s.io/api/policy/v1 \
  k8s.io/api/scheduling/v1 \
  k8s.io/api/scheduling/v1alpha3 \
  k8s.io/api/authentication/v1 \
  k8s.io/api/authorization/v1 \
  k8s.io/api/certificates/v1
