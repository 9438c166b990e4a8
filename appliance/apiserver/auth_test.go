package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"

	"github.com/appliance/appliance/appliance/pki"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type countingAuth struct {
	calls int
	fail  bool
}

func (c *countingAuth) AuthenticateRequest(*http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	if c.fail {
		return nil, false, errors.New("bad certificate")
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: "admin"}}, true, nil
}

func requestWith(raw string, notAfter time.Time) *http.Request {
	req, _ := http.NewRequest("GET", "https://example/api", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte(raw), NotAfter: notAfter}}}
	return req
}

func TestCertCache(t *testing.T) {
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		fail      bool
		requests  []*http.Request
		wantCalls int
	}{
		{"same certificate verified once", false, []*http.Request{requestWith("a", later), requestWith("a", later), requestWith("a", later)}, 1},
		{"each certificate verified", false, []*http.Request{requestWith("a", later), requestWith("b", later)}, 2},
		{"failures are not cached", true, []*http.Request{requestWith("a", later), requestWith("a", later)}, 2},
		{"expired certificate is verified again", false, []*http.Request{requestWith("a", time.Now().Add(-time.Second)), requestWith("a", time.Now().Add(-time.Second))}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &countingAuth{fail: tt.fail}
			c := newCertCache(inner)
			for _, r := range tt.requests {
				resp, ok, err := c.AuthenticateRequest(r)
				if tt.fail != (err != nil) || ok == tt.fail || (ok && resp.User.GetName() != "admin") {
					t.Fatalf("unexpected result %v %v %v", resp, ok, err)
				}
			}
			if inner.calls != tt.wantCalls {
				t.Fatalf("inner authenticator called %d times, want %d", inner.calls, tt.wantCalls)
			}
		})
	}
}

// A request without credentials reads the public paths as anonymous; one
// whose credentials fail is refused there too, not taken for anonymous.
func TestAnonymousOnlyWithoutCredentials(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test-ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	caContent, err := dynamiccertificates.NewStaticCAContent("client-ca", ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	known := authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		if token == "good" {
			return &authenticator.Response{User: &user.DefaultInfo{Name: "robot"}}, true, nil
		}
		return nil, false, nil
	})
	auth := newAuthenticator(caContent, []authenticator.Token{known})
	// With no token authenticators (no service-account tokens yet), an
	// unknown token is still refused rather than ignored.
	noTokens := newAuthenticator(caContent, nil)
	req, _ := http.NewRequest("GET", "https://example/readyz", nil)
	req.Header.Set("Authorization", "Bearer bogus")
	if resp, ok, err := noTokens.AuthenticateRequest(req); ok || err == nil {
		t.Errorf("unknown token, no token authenticators: authenticated %v (%v), error %v; want refused", ok, resp, err)
	}
	for _, tt := range []struct {
		name, path, token string
		wantUser          string // "" = refused with an error
	}{
		{"no credentials, public path", "/readyz", "", user.Anonymous},
		{"no credentials, API path", "/api", "", "-"},
		{"unknown token, public path", "/readyz", "bogus", ""},
		{"unknown token, API path", "/api", "bogus", ""},
		{"known token", "/readyz", "good", "robot"},
	} {
		req, _ := http.NewRequest("GET", "https://example"+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, ok, err := auth.AuthenticateRequest(req)
		switch tt.wantUser {
		case "":
			if ok || err == nil {
				t.Errorf("%s: authenticated %v (%v), error %v; want refused", tt.name, ok, resp, err)
			}
		case "-":
			if ok || err != nil {
				t.Errorf("%s: authenticated %v, error %v; want not authenticated, no error (401 later)", tt.name, ok, err)
			}
		default:
			if !ok || err != nil || resp.User.GetName() != tt.wantUser {
				t.Errorf("%s: %v %v %v; want %s", tt.name, resp, ok, err, tt.wantUser)
			}
		}
	}
}

func TestAuthorizeNode(t *testing.T) {
	node := &user.DefaultInfo{Name: "system:node:n1", Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	other := &user.DefaultInfo{Name: "bob", Groups: []string{user.AllAuthenticated}}
	for _, tc := range []struct {
		name  string
		u     user.Info
		attrs authorizer.AttributesRecord
		allow bool
	}{
		{"reads endpointslices (service rules, DNS)", node, authorizer.AttributesRecord{Verb: "watch", APIGroup: "discovery.k8s.io", Resource: "endpointslices", ResourceRequest: true}, true},
		{"writes no endpointslice", node, authorizer.AttributesRecord{Verb: "create", APIGroup: "discovery.k8s.io", Resource: "endpointslices", Namespace: "kube-system", ResourceRequest: true}, false},
		{"reads services", node, authorizer.AttributesRecord{Verb: "list", Resource: "services", ResourceRequest: true}, true},
		{"writes no service", node, authorizer.AttributesRecord{Verb: "update", Resource: "services", Namespace: "default", Name: "web", ResourceRequest: true}, false},
		{"updates its own node", node, authorizer.AttributesRecord{Verb: "update", Resource: "nodes", Name: "n1", Subresource: "status", ResourceRequest: true}, true},
		{"not another node", node, authorizer.AttributesRecord{Verb: "update", Resource: "nodes", Name: "n2", Subresource: "status", ResourceRequest: true}, false},
		{"no opinion on other users", other, authorizer.AttributesRecord{Verb: "list", APIGroup: "discovery.k8s.io", Resource: "endpointslices", ResourceRequest: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.attrs.User = tc.u
			d, _, err := authorizeNode(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := d == authorizer.DecisionAllow; got != tc.allow {
				t.Errorf("allowed = %v, want %v", got, tc.allow)
			}
		})
	}
}
