package errors_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/appliance/pki"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestAPIErrors runs every refused request against one appliance. Each case works
// in a namespace of its own and ends by reading back the state it started from.
func TestAPIErrors(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	ctx := context.Background()
	cms := func(ns string) interface {
		Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
		Update(context.Context, *corev1.ConfigMap, metav1.UpdateOptions) (*corev1.ConfigMap, error)
		Get(context.Context, string, metav1.GetOptions) (*corev1.ConfigMap, error)
	} {
		return c.Client.CoreV1().ConfigMaps(ns)
	}
	newCM := func(name, v string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": v}}
	}
	// expectUnchanged: the stored ConfigMap is still orig, same data and
	// resourceVersion.
	expectUnchanged := func(t *testing.T, after string, orig *corev1.ConfigMap) {
		t.Helper()
		got, err := cms(orig.Namespace).Get(ctx, orig.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got.Data, orig.Data) || got.ResourceVersion != orig.ResourceVersion {
			t.Fatalf("after %s: data %v rv %s, want data %v rv %s", after, got.Data, got.ResourceVersion, orig.Data, orig.ResourceVersion)
		}
	}
	admin := adminHTTP(t, c.REST)
	url := func(path string) string { return c.REST.Host + path }

	t.Run("StaleUpdateConflict", func(t *testing.T) {
		ns := "err-stale"
		createNamespace(t, c.Client, ns)
		if _, err := cms(ns).Create(ctx, newCM("stale", "1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		old, err := cms(ns).Get(ctx, "stale", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fresh := old.DeepCopy()
		fresh.Data["v"] = "2"
		current, err := cms(ns).Update(ctx, fresh, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("first update: %v", err)
		}
		stale := old.DeepCopy() // still carries the first read's resourceVersion
		stale.Data["v"] = "3"
		_, err = cms(ns).Update(ctx, stale, metav1.UpdateOptions{})
		expectAPIError(t, "update with an old resourceVersion", err, http.StatusConflict, metav1.StatusReasonConflict)

		got, err := cms(ns).Get(ctx, "stale", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["v"] != "2" || got.ResourceVersion != current.ResourceVersion {
			t.Fatalf("after the refused update: v=%q rv=%s, want v=2 rv=%s", got.Data["v"], got.ResourceVersion, current.ResourceVersion)
		}
		list := expectConfigMaps(t, c.Client, ns, "stale")
		if list.Items[0].Data["v"] != "2" {
			t.Fatalf("list after the refused update: v=%q, want 2", list.Items[0].Data["v"])
		}
	})

	t.Run("CreateExistingAlreadyExists", func(t *testing.T) {
		ns := "err-exists"
		createNamespace(t, c.Client, ns)
		first, err := cms(ns).Create(ctx, newCM("dup", "1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cms(ns).Create(ctx, newCM("dup", "2"), metav1.CreateOptions{})
		st := expectAPIError(t, "second create of the same name", err, http.StatusConflict, metav1.StatusReasonAlreadyExists)
		if st.Details == nil || st.Details.Name != "dup" || st.Details.Kind != "configmaps" {
			t.Errorf("details %+v, want name dup kind configmaps", st.Details)
		}
		got, err := cms(ns).Get(ctx, "dup", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["v"] != "1" || got.UID != first.UID || got.ResourceVersion != first.ResourceVersion {
			t.Fatalf("after the refused create: v=%q uid=%s rv=%s, want the first object (v=1 uid=%s rv=%s)",
				got.Data["v"], got.UID, got.ResourceVersion, first.UID, first.ResourceVersion)
		}
		expectConfigMaps(t, c.Client, ns, "dup")
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		ns := "err-large"
		createNamespace(t, c.Client, ns)
		body := configMapJSON("big", map[string]string{"big": strings.Repeat("x", 4<<20)})
		r := do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", body)
		expectStatus(t, "POST of a 4 MiB ConfigMap", r, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge)
		expectNotFound(t, c.Client, ns, "big")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("InvalidDeployment", func(t *testing.T) {
		ns := "err-invalid"
		createNamespace(t, c.Client, ns)
		replicas := int32(-1)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "invalid"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "b"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, // no image
				},
			},
		}
		deployments := c.Client.AppsV1().Deployments(ns)
		_, err := deployments.Create(ctx, d, metav1.CreateOptions{})
		st := expectAPIError(t, "create of an invalid Deployment", err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
		var fields []string
		if st.Details != nil {
			for _, cause := range st.Details.Causes {
				fields = append(fields, cause.Field)
			}
		}
		for _, want := range []string{"spec.replicas", "spec.template.metadata.labels", "spec.template.spec.containers[0].image"} {
			if !slices.Contains(fields, want) {
				t.Errorf("no StatusCause for %s; causes: %q (message %q)", want, fields, st.Message)
			}
		}
		if _, err := deployments.Get(ctx, "invalid", metav1.GetOptions{}); err == nil {
			t.Fatalf("the invalid Deployment was stored")
		}
		list, err := deployments.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Fatalf("%d deployments after the refused create, want 0", len(list.Items))
		}
	})

	t.Run("NoCredentials", func(t *testing.T) {
		ns := "err-anonymous"
		createNamespace(t, c.Client, ns)
		plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, c.REST)}}}
		t.Cleanup(plain.CloseIdleConnections)
		r := do(t, plain, http.MethodGet, url("/api/v1/namespaces"), "", nil)
		expectStatus(t, "GET /api/v1/namespaces without credentials", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		r = do(t, plain, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", configMapJSON("anon", map[string]string{"v": "1"}))
		expectStatus(t, "POST of a ConfigMap without credentials", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		for _, path := range []string{"/livez", "/readyz", "/healthz", "/version"} {
			r := do(t, plain, http.MethodGet, url(path), "", nil)
			if r.Code != http.StatusOK {
				t.Errorf("GET %s without credentials: HTTP %d, want 200; body %.300s", path, r.Code, r.Body)
			}
			if path == "/version" && !strings.Contains(string(r.Body), `"gitVersion"`) {
				t.Errorf("/version: %s", r.Body)
			}
		}
		expectNotFound(t, c.Client, ns, "anon")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("UnknownBearerToken", func(t *testing.T) {
		ns := "err-token"
		createNamespace(t, c.Client, ns)
		bogus := &http.Client{Transport: &bearer{token: "bogus-token-never-issued", next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, c.REST)}}}}
		t.Cleanup(bogus.CloseIdleConnections)
		for _, path := range []string{"/api/v1/namespaces", "/readyz"} {
			r := do(t, bogus, http.MethodGet, url(path), "", nil)
			expectStatus(t, "GET "+path+" with an unknown bearer token", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		}
		r := do(t, bogus, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", configMapJSON("token", map[string]string{"v": "1"}))
		expectStatus(t, "POST with an unknown bearer token", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		expectNotFound(t, c.Client, ns, "token")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("ClientCertificateFromAnotherCA", func(t *testing.T) {
		ns := "err-foreign"
		createNamespace(t, c.Client, ns)
		other, err := pki.LoadOrCreateCA(t.TempDir(), "other-ca", "other-ca")
		if err != nil {
			t.Fatal(err)
		}
		// The same identity as the admin's: only the signer differs.
		der, key, err := other.Issue(pki.Leaf{CommonName: "admin", Organization: []string{"system:masters"}, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		foreign := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: caPool(t, c.REST),
			// Present the certificate even though the server's acceptable CAs do
			// not include its issuer (crypto/tls would otherwise send none).
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil },
		}}}
		t.Cleanup(foreign.CloseIdleConnections)
		r := do(t, foreign, http.MethodGet, url("/api/v1/namespaces"), "", nil)
		expectStatus(t, "GET /api/v1/namespaces with a foreign client certificate", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		r = do(t, foreign, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", configMapJSON("foreign", map[string]string{"v": "1"}))
		expectStatus(t, "POST with a foreign client certificate", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		// Refused credentials are refused on the health endpoints too (they
		// are public only to requests without credentials), as in
		// kube-apiserver: the client learns its credentials are wrong.
		r = do(t, foreign, http.MethodGet, url("/readyz"), "", nil)
		expectStatus(t, "GET /readyz with a foreign client certificate", r, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		expectNotFound(t, c.Client, ns, "foreign")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("CertificateOutsideMasters", func(t *testing.T) {
		// A certificate the cluster CA signed, for a user outside
		// system:masters: authenticated (CN is the user, O the groups), then
		// denied, since nothing but system:masters is allowed until RBAC.
		ns := "err-forbidden"
		createNamespace(t, c.Client, ns)
		ca, err := pki.LoadOrCreateCA(filepath.Join(c.Config.DataDir, "tls"), "ca", "appliance-ca")
		if err != nil {
			t.Fatal(err)
		}
		der, key, err := ca.Issue(pki.Leaf{CommonName: "bob", Organization: []string{"dev"}, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		bob := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, c.REST), Certificates: []tls.Certificate{cert}}}}
		t.Cleanup(bob.CloseIdleConnections)
		r := do(t, bob, http.MethodGet, url("/api/v1/namespaces/"+ns+"/configmaps"), "", nil)
		expectStatus(t, "GET configmaps as bob", r, http.StatusForbidden, metav1.StatusReasonForbidden)
		if !strings.Contains(r.Status.Message, `User "bob"`) {
			t.Errorf("message %q does not name the user from the certificate's CN", r.Status.Message)
		}
		r = do(t, bob, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", configMapJSON("bobs", map[string]string{"v": "1"}))
		expectStatus(t, "POST configmap as bob", r, http.StatusForbidden, metav1.StatusReasonForbidden)
		expectNotFound(t, c.Client, ns, "bobs")
		expectConfigMaps(t, c.Client, ns)
		// The health endpoints stay open to any authenticated user.
		r = do(t, bob, http.MethodGet, url("/readyz"), "", nil)
		if r.Code != http.StatusOK {
			t.Errorf("GET /readyz as bob: HTTP %d, want 200", r.Code)
		}
	})

	t.Run("MalformedJSON", func(t *testing.T) {
		ns := "err-malformed"
		createNamespace(t, c.Client, ns)
		body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"broken"},"data":{"v":`)
		r := do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "application/json", body)
		expectStatus(t, "POST of truncated JSON", r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		expectNotFound(t, c.Client, ns, "broken")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("UnsupportedContentType", func(t *testing.T) {
		ns := "err-mediatype"
		createNamespace(t, c.Client, ns)
		r := do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps"), "text/plain", configMapJSON("text", map[string]string{"v": "1"}))
		expectStatus(t, "POST with Content-Type text/plain", r, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)
		expectNotFound(t, c.Client, ns, "text")
		expectConfigMaps(t, c.Client, ns)
	})

	t.Run("StrictUnknownFields", func(t *testing.T) {
		ns := "err-strict"
		createNamespace(t, c.Client, ns)
		body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict","nosuchmeta":"x"},"nosuchfield":1,"data":{"v":"1"}}`)
		r := do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/configmaps?fieldValidation=Strict"), "application/json", body)
		expectStatus(t, "strict POST with unknown fields", r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		for _, f := range []string{"nosuchfield", "nosuchmeta"} {
			if !strings.Contains(r.Status.Message, f) {
				t.Errorf("message %q does not name the unknown field %s", r.Status.Message, f)
			}
		}
		expectNotFound(t, c.Client, ns, "strict")
		expectConfigMaps(t, c.Client, ns)

		// The same for an update: the stored object stays as it was.
		orig, err := cms(ns).Create(ctx, newCM("strict", "1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body = []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict","resourceVersion":%q},"nosuchfield":1,"data":{"v":"2"}}`, orig.ResourceVersion))
		r = do(t, admin, http.MethodPut, url("/api/v1/namespaces/"+ns+"/configmaps/strict?fieldValidation=Strict"), "application/json", body)
		expectStatus(t, "strict PUT with an unknown field", r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		expectUnchanged(t, "the refused update", orig)
		expectConfigMaps(t, c.Client, ns, "strict")
	})

	t.Run("ServerSideApplyBadInput", func(t *testing.T) {
		ns := "err-apply"
		createNamespace(t, c.Client, ns)
		apply := func(name, body string) reply {
			return do(t, admin, http.MethodPatch, url("/api/v1/namespaces/"+ns+"/configmaps/"+name+"?fieldManager=test"), "application/apply-patch+yaml", []byte(body))
		}
		// A create by apply with a value of the wrong type: 400, nothing written.
		r := apply("typed", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata: 5\n")
		expectStatus(t, "apply creating a ConfigMap whose data is a number", r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		expectNotFound(t, c.Client, ns, "typed")

		// The same on an existing object: 400, the object unchanged.
		orig, err := cms(ns).Create(ctx, newCM("kept", "1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r = apply("kept", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  v: [1, 2]\n")
		expectStatus(t, "apply of a list where a string goes", r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		expectUnchanged(t, "the refused apply", orig)
		expectConfigMaps(t, c.Client, ns, "kept")
	})

	t.Run("BadResourceVersion", func(t *testing.T) {
		ns := "err-rv"
		createNamespace(t, c.Client, ns)
		if _, err := cms(ns).Create(ctx, newCM("cm", "1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The resource, a list, and a subresource (a namespace's status).
		for _, path := range []string{"/api/v1/namespaces/" + ns + "/configmaps/cm?resourceVersion=abc", "/api/v1/namespaces/" + ns + "/configmaps?resourceVersion=abc", "/api/v1/namespaces/" + ns + "/status?resourceVersion=abc"} {
			r := do(t, admin, http.MethodGet, url(path), "", nil)
			expectStatus(t, "GET "+path, r, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		}
	})

	t.Run("BindingOfMissingOrChangedPod", func(t *testing.T) {
		ns := "err-binding"
		createNamespace(t, c.Client, ns)
		binding := func(name, uid string) []byte {
			return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Binding","metadata":{"name":%q,"uid":%q},"target":{"apiVersion":"v1","kind":"Node","name":"node-a"}}`, name, uid))
		}
		// A pod deleted while the scheduler decided: 404, as in Kubernetes.
		r := do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/pods/gone/binding"), "application/json", binding("gone", ""))
		expectStatus(t, "binding of a missing pod", r, http.StatusNotFound, metav1.StatusReasonNotFound)

		// A pod replaced by another of the same name: its UID no longer
		// matches, 409, and the pod stays unbound.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "c", Image: "busybox"}},
		}}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r = do(t, admin, http.MethodPost, url("/api/v1/namespaces/"+ns+"/pods/p/binding"), "application/json", binding("p", "00000000-0000-0000-0000-000000000000"))
		expectStatus(t, "binding with a stale UID", r, http.StatusConflict, metav1.StatusReasonConflict)
		got, err := c.Client.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != "" {
			t.Fatalf("pod bound to %q by a refused binding", got.Spec.NodeName)
		}
	})
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}

func (b *bearer) CloseIdleConnections() {
	if c, ok := b.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
