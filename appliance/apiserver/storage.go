package apiserver

import (
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	etcdk8s "go.etcd.io/etcd/client/v3/kubernetes"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/etcd3"
	"k8s.io/apiserver/pkg/storage/feature"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// EtcdConfig says how the API server reaches etcd.
type EtcdConfig struct {
	Endpoints []string
	CAFile    string
	CertFile  string
	KeyFile   string
	// InProcess, when set, is a client of an etcd member in this process
	// (go.etcd.io/etcd/server/v3/etcdserver/api/v3client): the API server's
	// reads, writes and watches then call the member directly, with no gRPC,
	// TLS or loopback socket in between. Endpoints still serve the health
	// checks.
	InProcess *clientv3.Client
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

	inProcessOnce sync.Once
	inProcess     *etcdk8s.Client
	compactor     interface {
		etcd3.Compactor
		Stop()
	}
}

// stop stops what the storage runs beside the resources' own stores (which
// the generic registry destroys): the in-process client's compactor.
func (o *restOptions) stop() {
	if o.compactor != nil {
		o.compactor.Stop()
	}
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
	if o.etcd.InProcess != nil {
		decorator = o.inProcessDecorator(gr.Resource != "events")
	}
	return generic.RESTOptions{
		StorageConfig:           cfg.ForResource(gr),
		Decorator:               decorator,
		EnableGarbageCollection: true,
		DeleteCollectionWorkers: 4,
		ResourcePrefix:          r.keyPrefix(),
	}, nil
}

// inProcessDecorator builds a resource's storage on the in-process etcd
// client, as factory.Create builds it on a client of its own (one per
// resource there, all sharing one here), with the watch cache in front when
// cached.
func (o *restOptions) inProcessDecorator(cached bool) generic.StorageDecorator {
	return func(cfg *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrs storage.AttrFunc, triggers storage.IndexerFuncs, indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
		o.inProcessOnce.Do(func() {
			kc := &etcdk8s.Client{Client: o.etcd.InProcess}
			kc.Kubernetes = kc
			o.inProcess = kc
			if cfg.CompactionInterval > 0 {
				o.compactor = etcd3.NewCompactor(o.etcd.InProcess, cfg.CompactionInterval, clock.RealClock{}, nil)
			}
			// The watch cache asks etcd for progress (consistent reads from
			// the cache, the end of initial events) only once the checker has
			// seen every endpoint's version; the in-process client has none.
			feature.DefaultFeatureSupportChecker.CheckClient(o.etcd.InProcess.Ctx(), inProcessEndpoint{o.etcd.InProcess}, storage.RequestWatchProgress)
		})
		versioner := storage.APIObjectVersioner{}
		s, err := etcd3.New(o.inProcess, o.compactor, cfg.Codec, newFunc, newListFunc, cfg.Prefix, resourcePrefix,
			cfg.GroupResource, cfg.Transformer, cfg.LeaseManagerConfig, etcd3.NewDefaultDecoder(cfg.Codec, versioner), versioner)
		if err != nil {
			return nil, nil, err
		}
		if !cached {
			return s, s.Close, nil
		}
		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage: s, Versioner: versioner, GroupResource: cfg.GroupResource,
			EventsHistoryWindow: cfg.EventsHistoryWindow, ResourcePrefix: resourcePrefix,
			KeyFunc: keyFunc, NewFunc: newFunc, NewListFunc: newListFunc, GetAttrsFunc: getAttrs,
			IndexerFuncs: triggers, Indexers: indexers, Codec: cfg.Codec,
		})
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, s)
		var once sync.Once
		return delegator, func() {
			once.Do(func() { delegator.Stop(); cacher.Stop(); s.Close() })
		}, nil
	}
}

// inProcessEndpoint names the in-process member for the feature checker. Its
// Status reaches the member whatever endpoint it is given.
type inProcessEndpoint struct{ *clientv3.Client }

func (inProcessEndpoint) Endpoints() []string { return []string{"in-process"} }
