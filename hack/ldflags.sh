#!/bin/sh
# Prints the -X flags that stamp the embedded kubectl (k8s.io/component-base/version)
# with the Kubernetes version the appliance serves.
v=$(sed -n 's/^const KubernetesVersion = "\(.*\)"/\1/p' "$(dirname "$0")/../appliance/apiserver/server.go")
major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
p=k8s.io/component-base/version
echo "-X $p.gitVersion=v$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
