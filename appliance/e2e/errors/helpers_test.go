// Package errors_test checks that the appliance's API server answers bad requests
// with the Kubernetes status codes and reasons clients rely on, and that nothing is
// written when it refuses; and that the server process survives kill -9, stops on
// SIGTERM, refuses bad configuration and keeps its certificates across restarts.
package errors_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// reply is a raw HTTP answer; Status is set when the body is a metav1.Status.
type reply struct {
	Code   int
	Body   []byte
	Status *metav1.Status
}

// do sends one request with client and reads the whole answer.
func do(t *testing.T, client *http.Client, method, url, contentType string, body []byte) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := reply{Code: resp.StatusCode, Body: data}
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		r.Status = &st
	}
	return r
}

// expectStatus checks the HTTP code and, when reason is not empty, that the body is
// a Status with that code and reason.
func expectStatus(t *testing.T, what string, r reply, code int, reason metav1.StatusReason) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: HTTP %d, want %d; body: %.500s", what, r.Code, code, r.Body)
	}
	if reason == "" {
		return
	}
	if r.Status == nil {
		t.Fatalf("%s: body is not a Status: %.500s", what, r.Body)
	}
	if r.Status.Code != int32(code) || r.Status.Reason != reason {
		t.Fatalf("%s: Status code %d reason %q, want %d %q (message %q)", what, r.Status.Code, r.Status.Reason, code, reason, r.Status.Message)
	}
}

// apiStatus is the Status inside a client-go error; it fails the test for any
// other error (or none).
func apiStatus(t *testing.T, what string, err error) metav1.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want an error", what)
	}
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		t.Fatalf("%s: %v (%T), want an API status error", what, err, err)
	}
	return s.Status()
}

func expectAPIError(t *testing.T, what string, err error, code int32, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	st := apiStatus(t, what, err)
	if st.Code != code || st.Reason != reason {
		t.Fatalf("%s: code %d reason %q, want %d %q (message %q)", what, st.Code, st.Reason, code, reason, st.Message)
	}
	return st
}

// createNamespace creates a namespace for one test so that its lists see only
// what the test wrote.
func createNamespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// expectConfigMaps proves a refused write left nothing behind: the namespace
// holds exactly the wanted names, in name order.
func expectConfigMaps(t *testing.T, client kubernetes.Interface, ns string, want ...string) *corev1.ConfigMapList {
	t.Helper()
	list, err := client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps in %s: %v", ns, err)
	}
	var got []string
	for _, cm := range list.Items {
		got = append(got, cm.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("configmaps in %s: %v, want %v", ns, got, want)
	}
	return list
}

// expectNotFound checks that a refused create did not create name.
func expectNotFound(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	_, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("get configmap %s/%s after a refused write: %v, want NotFound", ns, name, err)
	}
}

// adminHTTP is a plain net/http client with the admin kubeconfig's TLS settings.
func adminHTTP(t *testing.T, rc *rest.Config) *http.Client {
	t.Helper()
	c, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 60 * time.Second
	return c
}

// caPool is the cluster CA from a client configuration.
func caPool(t *testing.T, rc *rest.Config) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rc.TLSClientConfig.CAData) {
		t.Fatalf("kubeconfig has no CA data")
	}
	return pool
}

func configMapJSON(name string, data map[string]string) []byte {
	b, err := json.Marshal(&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       data,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// poll calls f every interval until it returns true or timeout passes.
func poll(t *testing.T, timeout, interval time.Duration, what string, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := f()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %v)", what, timeout, lastErr)
		}
		<-tick.C
	}
}
