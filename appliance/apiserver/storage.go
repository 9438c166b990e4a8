package apiserver

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
)

// EtcdConfig says how the API server reaches etcd.
type EtcdConfig struct {
	Endpoints []string
	CAFile    string
	CertFile  string
	KeyFile   string
	// CompactionInterval is how often old revisions are compacted; watches from a
	// compacted resourceVersion get 410 Gone. Kubernetes' default is 5 minutes.
	CompactionInterval time.Duration
}

// storageMediaType: objects live in etcd as Kubernetes protobuf, as in Kubernetes.
const storageMediaType = runtime.ContentTypeProtobuf

// restOptions builds the storage of each resource: its etcd key prefix
// (/registry/<group>/<resource>, "core" for the legacy group), its protobuf codec
// from the storage version to the in-memory (internal) version, and a watch cache
// in front of etcd.
type restOptions struct {
	etcd      EtcdConfig
	resources map[schema.GroupResource]*resource
}

func (o *restOptions) GetRESTOptions(gr schema.GroupResource, _ runtime.Object) (generic.RESTOptions, error) {
	r, ok := o.resources[gr]
	if !ok {
		return generic.RESTOptions{}, fmt.Errorf("no storage for %s", gr)
	}
	storageGV := r.storageGV()
	codec, versioner, err := serverstorage.NewStorageCodec(serverstorage.StorageCodecConfig{
		StorageMediaType:  storageMediaType,
		StorageSerializer: Codecs,
		StorageVersion:    storageGV,
		MemoryVersion:     schema.GroupVersion{Group: gr.Group, Version: runtime.APIVersionInternal},
	})
	if err != nil {
		return generic.RESTOptions{}, err
	}
	cfg := storagebackend.NewDefaultConfig("/registry", codec)
	cfg.EncodeVersioner = versioner
	cfg.Transport = storagebackend.TransportConfig{
		ServerList:    o.etcd.Endpoints,
		TrustedCAFile: o.etcd.CAFile,
		CertFile:      o.etcd.CertFile,
		KeyFile:       o.etcd.KeyFile,
	}
	cfg.Transformer = identity.NewEncryptCheckTransformer()
	if o.etcd.CompactionInterval != 0 {
		cfg.CompactionInterval = o.etcd.CompactionInterval
	}
	// Events get no watch cache, as in kube-apiserver: they are written often
	// and rarely watched, so caching them would decode every event in the
	// server for nobody. Their watches and lists go to etcd.
	decorator := genericregistry.StorageWithCacher()
	if gr.Resource == "events" {
		decorator = generic.UndecoratedStorage
	}
	return generic.RESTOptions{
		StorageConfig:           cfg.ForResource(gr),
		Decorator:               decorator,
		EnableGarbageCollection: true,
		DeleteCollectionWorkers: 4,
		ResourcePrefix:          r.keyPrefix(),
	}, nil
}
