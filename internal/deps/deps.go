package deps

import (
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	_ "k8s.io/apiserver/pkg/registry/generic/registry"
	_ "k8s.io/apiserver/pkg/server"
	_ "k8s.io/apiserver/pkg/server/options"
	_ "k8s.io/client-go/informers"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kube-openapi/pkg/common"
	_ "k8s.io/apiserver/pkg/endpoints/openapi"
	_ "github.com/spf13/cobra"
)
