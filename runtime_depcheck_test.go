package main

import (
	_ "github.com/containerd/containerd/v2/client"
	_ "github.com/containerd/containerd/v2/pkg/oci"
	_ "github.com/coreos/go-iptables/iptables"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/vishvananda/netlink"
	_ "k8s.io/cri-streaming/pkg/streaming"
)
