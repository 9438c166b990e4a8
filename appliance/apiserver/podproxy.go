package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
)

// The pods/log, pods/exec, pods/attach and pods/portforward subresources are
// served by the node's kubelet. The API server finds the pod's node, checks the
// container, and streams (logs) or proxies the upgraded connection (exec, attach,
// port-forward) to the kubelet's HTTPS endpoint, presenting its kubelet-client
// certificate, as kube-apiserver does.

// KubeletClientConfig is how the API server reaches kubelets.
type KubeletClientConfig struct {
	// TLS carries the API server's client certificate and the CA that signs
	// kubelet serving certificates.
	TLS *tls.Config
	// Port is used when a Node does not report its kubelet endpoint.
	Port int
}

type podProxy struct {
	pods, nodes *genericregistry.Store
	cfg         KubeletClientConfig
	transport   http.RoundTripper
}

func newPodProxy(pods, nodes *genericregistry.Store, cfg KubeletClientConfig) *podProxy {
	if cfg.Port == 0 {
		cfg.Port = 10250
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg.TLS,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 10,
	}
	return &podProxy{pods: pods, nodes: nodes, cfg: cfg, transport: tr}
}

// location resolves the kubelet URL for a pod's container. container may be
// empty when the pod has exactly one container.
func (p *podProxy) location(ctx context.Context, name, container, path string, query url.Values) (*url.URL, *corev1.Pod, error) {
	obj, err := p.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	pod := obj.(*corev1.Pod)
	if path != "portForward" {
		c, err := pickContainer(pod, container)
		if err != nil {
			return nil, nil, err
		}
		container = c
	}
	if pod.Spec.NodeName == "" {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name))
	}
	nobj, err := p.nodes.Get(ctx, pod.Spec.NodeName, &metav1.GetOptions{})
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("node %q of pod %s: %v", pod.Spec.NodeName, name, err))
	}
	node := nobj.(*corev1.Node)
	host := nodeAddress(node)
	if host == "" {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("node %q has no address", node.Name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = p.cfg.Port
	}
	u := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), RawQuery: query.Encode()}
	if path == "portForward" {
		u.Path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	} else {
		u.Path = fmt.Sprintf("/%s/%s/%s/%s", path, pod.Namespace, pod.Name, container)
	}
	return u, pod, nil
}

func nodeAddress(n *corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// pickContainer applies kubectl's rules: an empty name means the only
// container; a name must be one of the pod's containers (init and ephemeral
// included).
func pickContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		}
		names := []string{}
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// logREST serves pods/log.
type logREST struct{ *podProxy }

var (
	_ rest.GetterWithOptions = &logREST{}
	_ rest.StorageMetadata   = &logREST{}
)

func (r *logREST) New() runtime.Object { return &corev1.Pod{} }
func (r *logREST) Destroy()            {}
func (r *logREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}
func (r *logREST) ProducesMIMETypes(string) []string { return []string{"text/plain"} }
func (r *logREST) ProducesObject(string) any         { return "" }

func (r *logREST) Get(ctx context.Context, name string, opts runtime.Object) (runtime.Object, error) {
	o, ok := opts.(*corev1.PodLogOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %#v", opts))
	}
	if errs := validateLogOptions(o); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), name, errs)
	}
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.Format(time.RFC3339))
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	loc, _, err := r.location(ctx, name, o.Container, "containerLogs", q)
	if err != nil {
		return nil, err
	}
	return &genericrest.LocationStreamer{
		Location:        loc,
		Transport:       r.transport,
		ContentType:     "text/plain",
		Flush:           o.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(corev1.Resource("pods/log"), name),
		RedirectChecker: genericrest.PreventRedirects,
	}, nil
}

func validateLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.SinceSeconds != nil && *o.SinceSeconds < 1 {
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		errs = append(errs, field.Forbidden(field.NewPath("sinceSeconds"), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	}
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	return errs
}

// streamREST serves pods/exec, pods/attach and pods/portforward by proxying the
// upgraded connection (SPDY or WebSocket) to the kubelet.
type streamREST struct {
	*podProxy
	kind string // "exec", "attach" or "portForward"
}

var _ rest.Connecter = &streamREST{}

func (r *streamREST) New() runtime.Object { return &corev1.Pod{} }
func (r *streamREST) Destroy()            {}
func (r *streamREST) ConnectMethods() []string {
	return []string{"GET", "POST"}
}

func (r *streamREST) NewConnectOptions() (runtime.Object, bool, string) {
	switch r.kind {
	case "exec":
		return &corev1.PodExecOptions{}, false, ""
	case "attach":
		return &corev1.PodAttachOptions{}, false, ""
	default:
		return &corev1.PodPortForwardOptions{}, false, ""
	}
}

func (r *streamREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	q := url.Values{}
	container := ""
	switch o := opts.(type) {
	case *corev1.PodExecOptions:
		if len(o.Command) == 0 {
			return nil, apierrors.NewBadRequest("you must specify at least 1 command")
		}
		if !o.Stdin && !o.Stdout && !o.Stderr {
			return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
		}
		container = o.Container
		q["command"] = o.Command
		streamQuery(q, o.Stdin, o.Stdout, o.Stderr, o.TTY)
	case *corev1.PodAttachOptions:
		if !o.Stdin && !o.Stdout && !o.Stderr {
			return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
		}
		container = o.Container
		streamQuery(q, o.Stdin, o.Stdout, o.Stderr, o.TTY)
	case *corev1.PodPortForwardOptions:
		for _, p := range o.Ports {
			if p < 1 || p > 65535 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %d: must be between 1 and 65535", p))
			}
			q.Add("port", strconv.Itoa(int(p)))
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %#v", opts))
	}
	loc, _, err := r.location(ctx, name, container, r.kind, q)
	if err != nil {
		return nil, err
	}
	h := proxy.NewUpgradeAwareHandler(loc, r.transport, false, true, proxy.NewErrorResponder(responderAdapter{responder}))
	h.MaxBytesPerSec = 0
	return h, nil
}

func streamQuery(q url.Values, stdin, stdout, stderr, tty bool) {
	set := func(k string, v bool) {
		if v {
			q.Set(k, "1")
		}
	}
	set("input", stdin)
	set("output", stdout)
	set("error", stderr)
	set("tty", tty)
}

type responderAdapter struct{ r rest.Responder }

func (a responderAdapter) Error(err error) { a.r.Error(err) }

// Query parameter conversions for the options the pod subresources take. Kubernetes
// generates these in k8s.io/kubernetes, which we cannot import.
func addPodOptionConversions(s *runtime.Scheme) error {
	if err := s.AddConversionFunc((*url.Values)(nil), (*corev1.PodLogOptions)(nil), func(a, b any, _ conversion.Scope) error {
		v, o := *a.(*url.Values), b.(*corev1.PodLogOptions)
		o.Container = v.Get("container")
		var err error
		if o.Follow, err = boolParam(v, "follow"); err != nil {
			return err
		}
		if o.Previous, err = boolParam(v, "previous"); err != nil {
			return err
		}
		if o.Timestamps, err = boolParam(v, "timestamps"); err != nil {
			return err
		}
		if o.InsecureSkipTLSVerifyBackend, err = boolParam(v, "insecureSkipTLSVerifyBackend"); err != nil {
			return err
		}
		if o.SinceSeconds, err = intParam(v, "sinceSeconds"); err != nil {
			return err
		}
		if o.TailLines, err = intParam(v, "tailLines"); err != nil {
			return err
		}
		if o.LimitBytes, err = intParam(v, "limitBytes"); err != nil {
			return err
		}
		if s := v.Get("sinceTime"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("sinceTime: %v", err))
			}
			mt := metav1.NewTime(t)
			o.SinceTime = &mt
		}
		return nil
	}); err != nil {
		return err
	}
	if err := s.AddConversionFunc((*url.Values)(nil), (*corev1.PodExecOptions)(nil), func(a, b any, _ conversion.Scope) error {
		v, o := *a.(*url.Values), b.(*corev1.PodExecOptions)
		o.Container = v.Get("container")
		o.Command = v["command"]
		return streamFlags(v, &o.Stdin, &o.Stdout, &o.Stderr, &o.TTY)
	}); err != nil {
		return err
	}
	if err := s.AddConversionFunc((*url.Values)(nil), (*corev1.PodAttachOptions)(nil), func(a, b any, _ conversion.Scope) error {
		v, o := *a.(*url.Values), b.(*corev1.PodAttachOptions)
		o.Container = v.Get("container")
		return streamFlags(v, &o.Stdin, &o.Stdout, &o.Stderr, &o.TTY)
	}); err != nil {
		return err
	}
	return s.AddConversionFunc((*url.Values)(nil), (*corev1.PodPortForwardOptions)(nil), func(a, b any, _ conversion.Scope) error {
		v, o := *a.(*url.Values), b.(*corev1.PodPortForwardOptions)
		o.Ports = nil
		for _, p := range v["ports"] {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid port %q: %v", p, err))
			}
			o.Ports = append(o.Ports, int32(n))
		}
		return nil
	})
}

func streamFlags(v url.Values, stdin, stdout, stderr, tty *bool) error {
	for _, f := range []struct {
		name string
		to   *bool
	}{{"stdin", stdin}, {"stdout", stdout}, {"stderr", stderr}, {"tty", tty}} {
		b, err := boolParam(v, f.name)
		if err != nil {
			return err
		}
		*f.to = b
	}
	return nil
}

func boolParam(v url.Values, k string) (bool, error) {
	s := v.Get(k)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid boolean %q", k, s))
	}
	return b, nil
}

func intParam(v url.Values, k string) (*int64, error) {
	s := v.Get(k)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid integer %q", k, s))
	}
	return &n, nil
}
