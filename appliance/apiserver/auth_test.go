package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
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
