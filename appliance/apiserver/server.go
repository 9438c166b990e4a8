// Package apiserver is the appliance's Kubernetes API server: the one entry point
// to the cluster. It serves the k8s.io/api types with Kubernetes semantics on top
// of k8s.io/apiserver's generic registry (watch cache, resourceVersions from etcd,
// patches, server-side apply, paging, 410 Gone, protobuf), with our own defaulting,
// validation, tables and life-cycle rules for each built-in kind.
//
// Requests pass authentication (client certificates, bearer tokens), then
// authorization (system:masters; RBAC later), then admission (namespace
// lifecycle), then the resource's strategy, then etcd.
package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	storagefactory "k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/apiserver/openapi"
)

// KubernetesVersion is the Kubernetes API version the appliance serves; kubectl
// compares it with its own for the version-skew warning.
const KubernetesVersion = "1.37.2"

// Config is what the API server needs. Files are PEM.
type Config struct {
	BindAddress net.IP
	Port        int
	// Listener, when set, is used instead of binding BindAddress:Port (tests
	// listen on port 0 and read the port back).
	Listener net.Listener

	ServingCertFile string
	ServingKeyFile  string
	ClientCAFile    string // the cluster CA: signs the client certificates users present

	Etcd EtcdConfig

	// ServiceCIDR holds cluster IPs; its first address is the kubernetes service.
	ServiceCIDR netip.Prefix
	// NodePortBase and NodePortSize: node ports are allocated from
	// [base, base+size), 30000-32767 by default as in Kubernetes.
	NodePortBase, NodePortSize int
	// AdvertiseAddress is the address the kubernetes service's endpoints point at.
	AdvertiseAddress net.IP

	// TokenAuthenticators authenticate bearer tokens (service accounts, bootstrap
	// tokens); empty for now.
	TokenAuthenticators []authenticator.Token

	// Kubelet is how pods/log, exec, attach and portforward reach kubelets.
	Kubelet KubeletClientConfig

	// Version is the appliance's own version, shown in /version's gitVersion.
	Version string
	Log     *slog.Logger
}

// Server is a configured API server, ready to Run.
type Server struct {
	generic  *genericapiserver.GenericAPIServer
	loopback *restclient.Config
	log      *slog.Logger
	port     int
	storage  *restOptions
}

// New builds the API server: storage for every resource, handlers, discovery,
// OpenAPI, health checks. Nothing listens until Run.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
	}
	if cfg.NodePortSize == 0 {
		cfg.NodePortBase, cfg.NodePortSize = 30000, 2768
	}
	gc := genericapiserver.NewRecommendedConfig(Codecs)

	secure := genericoptions.NewSecureServingOptions().WithLoopback()
	secure.BindAddress = cfg.BindAddress
	secure.BindPort = cfg.Port
	secure.Listener = cfg.Listener
	secure.ServerCert.CertKey.CertFile = cfg.ServingCertFile
	secure.ServerCert.CertKey.KeyFile = cfg.ServingKeyFile
	if err := secure.ApplyTo(&gc.SecureServing, &gc.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	clientCAPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	clientCA, err := dynamiccertificates.NewStaticCAContent("client-ca", clientCAPEM)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	gc.SecureServing.ClientCA = clientCA
	gc.Authentication.Authenticator = newAuthenticator(clientCA, cfg.TokenAuthenticators)
	if gc.Authorization.Authorizer, err = newAuthorizer(); err != nil {
		return nil, err
	}

	ev := basecompatibility.NewEffectiveVersionFromString(KubernetesVersion, "", "")
	gc.EffectiveVersion = versionInfo{MutableEffectiveVersion: ev, appliance: cfg.Version}

	namer := openapinamer.NewDefinitionNamer(externalScheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIConfig.Info.Title = "Kubernetes"
	gc.OpenAPIConfig.Info.Version = "v" + KubernetesVersion
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIV3Config.Info.Title = "Kubernetes"
	gc.OpenAPIV3Config.Info.Version = "v" + KubernetesVersion

	all := resources()
	byGR := map[schemaGR]*resource{}
	for _, r := range all {
		byGR[r.groupResource()] = r
	}
	opts := &restOptions{etcd: cfg.Etcd, resources: byGR}
	gc.RESTOptionsGetter = opts

	// Readiness: etcd must answer. Liveness tolerates a brief etcd outage as
	// Kubernetes' does (the check is in /healthz and /readyz, not /livez).
	probeCfg, err := opts.GetRESTOptions(all[0].groupResource(), nil)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	etcdReady, err := storagefactory.CreateReadyCheck(probeCfg.StorageConfig.Config, stop)
	if err != nil {
		return nil, err
	}
	gc.AddReadyzChecks(healthz.NamedCheck("etcd", func(*http.Request) error { return etcdReady() }))
	etcdHealthy, err := storagefactory.CreateHealthCheck(probeCfg.StorageConfig.Config, stop)
	if err != nil {
		return nil, err
	}
	gc.AddHealthzChecks(healthz.NamedCheck("etcd", func(*http.Request) error { return etcdHealthy() }))

	// Admission: namespace lifecycle refuses objects in missing or terminating
	// namespaces and the deletion of the namespaces the cluster needs.
	client, err := kubernetes.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	gc.SharedInformerFactory = informers.NewSharedInformerFactory(client, 10*time.Minute)
	nsLifecycle, err := lifecycle.NewLifecycle(sets.New(metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic))
	if err != nil {
		return nil, err
	}
	nsLifecycle.SetExternalKubeClientSet(client)
	nsLifecycle.SetExternalKubeInformerFactory(gc.SharedInformerFactory)
	if err := nsLifecycle.ValidateInitialization(); err != nil {
		return nil, err
	}
	gc.AdmissionControl = admission.NewChainHandler(nsLifecycle, newPodAdmission(gc.SharedInformerFactory))

	// Open watches end within 2 s of a SIGTERM; clients re-establish them.
	gc.ShutdownWatchTerminationGracePeriod = 2 * time.Second

	gs, err := gc.Complete().New("appliance-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	// Connections get 3 s to go idle after a SIGTERM, not the request timeout
	// (60 s): an HTTP/2 stream whose client stopped reading would otherwise
	// hold the whole shutdown for a minute.
	gs.ShutdownTimeout = 3 * time.Second
	gs.AddPreShutdownHookOrDie("stop-etcd-probes", func() error { close(stop); return nil })
	alloc := newServiceAllocator(cfg.ServiceCIDR, cfg.NodePortBase, cfg.NodePortSize)
	if err := installGroups(gs, all, opts, alloc, cfg.Kubelet); err != nil {
		return nil, err
	}
	_, port, err := gc.SecureServing.HostPort()
	if err != nil {
		return nil, err
	}
	s := &Server{generic: gs, loopback: gc.LoopbackClientConfig, log: cfg.Log, port: port, storage: opts}
	gs.AddPostStartHookOrDie("appliance-bootstrap", func(ctx genericapiserver.PostStartHookContext) error {
		if err := s.bootstrapNamespaces(ctx, client); err != nil {
			return err
		}
		if err := bootstrapPriorityClasses(ctx, client); err != nil {
			return err
		}
		return s.bootstrapKubernetesService(ctx, client, cfg)
	})
	return s, nil
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.storage.stop()
	return s.generic.PrepareRun().RunWithContext(ctx)
}

// LoopbackConfig is a privileged client configuration for in-process use.
func (s *Server) LoopbackConfig() *restclient.Config { return restclient.CopyConfig(s.loopback) }

// bootstrapNamespaces creates the namespaces every cluster has.
func (s *Server) bootstrapNamespaces(ctx context.Context, client kubernetes.Interface) error {
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease} {
		for {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			s.log.Warn("create namespace, retrying", "namespace", name, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// installGroups installs every group's resources, core first under /api.
func installGroups(gs *genericapiserver.GenericAPIServer, all []*resource, opts *restOptions, alloc *serviceAllocator, kubelet KubeletClientConfig) error {
	infos := map[string]*genericapiserver.APIGroupInfo{}
	stores := map[schemaGR]*storeRef{}
	for _, r := range all {
		store, err := newStore(r, opts)
		if err != nil {
			return err
		}
		if r.groupResource() == (schemaGR{Resource: "services"}) {
			alloc.attach(store)
		}
		stores[r.groupResource()] = &storeRef{store: store, r: r}
	}
	for _, r := range all {
		ref := stores[r.groupResource()]
		info := infos[r.group]
		if info == nil {
			i := genericapiserver.NewDefaultAPIGroupInfo(r.group, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
			info = &i
			infos[r.group] = info
		}
		m := map[string]rest.Storage{}
		if r.groupResource() == (schemaGR{Resource: "namespaces"}) {
			m[r.name] = &namespaceREST{store: ref.store, r: r}
			m[r.name+"/finalize"] = newFinalizeREST(ref.store, r)
		} else {
			m[r.name] = &mainREST{Store: ref.store, r: r}
		}
		if r.hasStatus {
			m[r.name+"/status"] = newStatusREST(ref.store, r)
		}
		if r.scale != nil {
			m[r.name+"/scale"] = &scaleREST{store: ref.store, access: *r.scale, gr: r.groupResource()}
		}
		if r.groupResource() == (schemaGR{Resource: "pods"}) {
			m["pods/binding"] = &bindingREST{store: ref.store}
			m["pods/eviction"] = &evictionREST{pods: ref.store, pdbs: stores[schemaGR{Group: "policy", Resource: "poddisruptionbudgets"}].store}
			pp := newPodProxy(ref.store, stores[schemaGR{Resource: "nodes"}].store, kubelet)
			m["pods/log"] = &logREST{pp}
			m["pods/exec"] = &streamREST{podProxy: pp, kind: "exec"}
			m["pods/attach"] = &streamREST{podProxy: pp, kind: "attach"}
			m["pods/portforward"] = &streamREST{podProxy: pp, kind: "portForward"}
		}
		for _, v := range r.versions {
			if info.VersionedResourcesStorageMap[v] == nil {
				info.VersionedResourcesStorageMap[v] = map[string]rest.Storage{}
			}
			for k, s := range m {
				info.VersionedResourcesStorageMap[v][k] = s
			}
		}
	}
	if err := gs.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, infos[""]); err != nil {
		return fmt.Errorf("install core group: %w", err)
	}
	var groups []*genericapiserver.APIGroupInfo
	for _, g := range groupOrder[1:] {
		groups = append(groups, infos[g])
	}
	if err := gs.InstallAPIGroups(groups...); err != nil {
		return fmt.Errorf("install groups: %w", err)
	}
	return nil
}

// versionInfo reports the served Kubernetes version in /version, with the
// appliance's version as build metadata (v1.37.2+appliance.0.1.0).
type versionInfo struct {
	basecompatibility.MutableEffectiveVersion
	appliance string
}

func (v versionInfo) Info() *apimachineryversion.Info {
	info := v.MutableEffectiveVersion.Info()
	info.GitVersion = "v" + KubernetesVersion + "+appliance"
	if v.appliance != "" {
		info.GitVersion += "." + v.appliance
	}
	info.GitCommit, info.GitTreeState = "", "clean"
	return info
}

// bootstrapKubernetesService makes default/kubernetes point at this API server,
// at the first address of the service CIDR, as every cluster has it.
func (s *Server) bootstrapKubernetesService(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	ip := cfg.ServiceCIDR.Masked().Addr().Next().String()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: ip,
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(int32(s.port))}},
		},
	}
	if _, err := client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := client.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kubernetes service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("get kubernetes service: %w", err)
	}
	if cfg.AdvertiseAddress == nil || cfg.AdvertiseAddress.IsLoopback() || cfg.AdvertiseAddress.IsUnspecified() {
		// Endpoints may not point at loopback (pods would reach themselves).
		s.log.Warn("no routable advertise address: default/kubernetes has no endpoints")
		return nil
	}
	addr := cfg.AdvertiseAddress.String()
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(s.port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	cur, err := client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.CoreV1().Endpoints(metav1.NamespaceDefault).Create(ctx, ep, metav1.CreateOptions{})
	case err == nil:
		cur.Subsets = ep.Subsets
		_, err = client.CoreV1().Endpoints(metav1.NamespaceDefault).Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubernetes endpoints: %w", err)
	}
	return s.bootstrapKubernetesSlice(ctx, client, addr)
}

// bootstrapKubernetesSlice writes the EndpointSlice of default/kubernetes, as
// Kubernetes' API server does beside its Endpoints: service proxies and DNS
// read slices, and no controller makes one for a Service without a selector.
func (s *Server) bootstrapKubernetesSlice(ctx context.Context, client kubernetes.Interface, addr string) error {
	addressType := discoveryv1.AddressTypeIPv4
	if ip := net.ParseIP(addr); ip.To4() == nil {
		addressType = discoveryv1.AddressTypeIPv6
	}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: addressType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(s.port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	cur, err := slices.Get(ctx, "kubernetes", metav1.GetOptions{})
	if err == nil && cur.AddressType != want.AddressType {
		// The address type is immutable: a server that moved to the other
		// IP family replaces the slice.
		if err = slices.Delete(ctx, "kubernetes", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err == nil {
			err = apierrors.NewNotFound(discoveryv1.Resource("endpointslices"), "kubernetes")
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		cur.Labels, cur.Endpoints, cur.Ports = want.Labels, want.Endpoints, want.Ports
		_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubernetes endpointslice: %w", err)
	}
	return nil
}

type schemaGR = schema.GroupResource

type storeRef struct {
	store *genericregistry.Store
	r     *resource
}
