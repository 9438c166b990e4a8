package apiserver

import (
	"crypto/sha256"
	"time"

	"context"
	"k8s.io/utils/lru"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/x509"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authzunion "k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// publicPaths answer without credentials: health and version, nothing else. A
// request without credentials anywhere else is 401 Unauthorized.
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

func isPublic(path string) bool {
	for _, p := range publicPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// newAuthenticator chains client certificates signed by the cluster CA (CN = user,
// O = groups), bearer tokens from the given authenticators (service-account and
// bootstrap tokens plug in here), and anonymous access to the public paths only.
func newAuthenticator(clientCA dynamiccertificates.CAContentProvider, tokens []authenticator.Token) authenticator.Request {
	// The bearer-token authenticator is there even with no token
	// authenticators: a request with a token nothing accepts is refused
	// (401), not read as a request without credentials.
	chain := []authenticator.Request{
		newCertCache(x509.NewDynamic(clientCA.VerifyOptions, x509.CommonNameUserConversion)),
		bearertoken.New(tokenunion.New(tokens...)),
	}
	anonymous := authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		if !isPublic(req.URL.Path) {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{
			Name: user.Anonymous, Groups: []string{user.AllUnauthenticated},
		}}, true, nil
	})
	// Anonymous only for requests that carry no credentials: credentials
	// that fail (a foreign certificate, an unknown token) get 401 on the
	// health endpoints too, as in kube-apiserver, so a client learns that
	// its credentials are refused rather than that the server is healthy.
	return union.NewFailOnError(union.New(chain...), anonymous)
}

// newAuthorizer: system:masters may do everything; kubelets (system:nodes) may do
// what a kubelet needs, writing only their own Node and Lease; anyone may read the
// public paths; everything else is denied until RBAC lands.
func newAuthorizer() (authorizer.Authorizer, error) {
	return authzunion.New(
		authzunion.NamedAuthorizer{AuthorizerName: "privileged", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		authzunion.NamedAuthorizer{AuthorizerName: "node", Authorizer: authorizer.AuthorizerFunc(authorizeNode)},
		authzunion.NamedAuthorizer{AuthorizerName: "public-paths", Authorizer: authorizer.AuthorizerFunc(
			func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
				if !a.IsResourceRequest() && a.GetVerb() == "get" && isPublic(a.GetPath()) {
					return authorizer.DecisionAllow, "", nil
				}
				return authorizer.DecisionNoOpinion, "", nil
			})},
	)
}

// certCache remembers who a client certificate chain authenticated as, so a
// client on a long-lived HTTP/2 connection is not verified again (a signature
// check that cost a third of the API server's CPU per request in the create
// benchmark) on every request. Only successes are cached, for at most ten minutes
// and never past the certificate's expiry.
type certCache struct {
	inner authenticator.Request
	cache *lru.Cache
}

type certEntry struct {
	resp    *authenticator.Response
	expires time.Time
}

const certCacheTTL = 10 * time.Minute

func newCertCache(inner authenticator.Request) *certCache {
	return &certCache{inner: inner, cache: lru.New(4096)}
}

func (c *certCache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.inner.AuthenticateRequest(req)
	}
	h := sha256.New()
	for _, cert := range req.TLS.PeerCertificates {
		h.Write(cert.Raw)
	}
	key := string(h.Sum(nil))
	now := time.Now()
	if v, ok := c.cache.Get(key); ok {
		if e := v.(certEntry); now.Before(e.expires) {
			return e.resp, true, nil
		}
		c.cache.Remove(key)
	}
	resp, ok, err := c.inner.AuthenticateRequest(req)
	if ok && err == nil {
		expires := now.Add(certCacheTTL)
		if na := req.TLS.PeerCertificates[0].NotAfter; na.Before(expires) {
			expires = na
		}
		c.cache.Add(key, certEntry{resp: resp, expires: expires})
	}
	return resp, ok, err
}

// authorizeNode is a first cut of Kubernetes' Node authorizer: a kubelet
// (user system:node:<name>, group system:nodes) reads what its pods need,
// reports pod status and events, deletes pods it finished terminating, and
// writes only its own Node and its own Lease in kube-node-lease. It also reads
// Services and EndpointSlices: the node's service rules (netrules/) and cluster
// DNS (dns/) run with its identity.
func authorizeNode(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	if u == nil || !slices.Contains(u.GetGroups(), user.NodesGroup) || !strings.HasPrefix(u.GetName(), "system:node:") {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if !a.IsResourceRequest() {
		return authorizer.DecisionNoOpinion, "", nil
	}
	node := strings.TrimPrefix(u.GetName(), "system:node:")
	read := a.IsReadOnly()
	res, sub := a.GetResource(), a.GetSubresource()
	switch a.GetAPIGroup() {
	case "":
		switch res {
		case "pods":
			if read || (sub == "status" && (a.GetVerb() == "update" || a.GetVerb() == "patch")) || (sub == "" && a.GetVerb() == "delete") {
				return authorizer.DecisionAllow, "", nil
			}
		case "configmaps", "secrets", "services", "endpoints", "persistentvolumeclaims", "persistentvolumes", "namespaces":
			if read {
				return authorizer.DecisionAllow, "", nil
			}
		case "events":
			if read || a.GetVerb() == "create" || a.GetVerb() == "patch" || a.GetVerb() == "update" {
				return authorizer.DecisionAllow, "", nil
			}
		case "nodes":
			if read || (a.GetVerb() == "create" && sub == "") || (a.GetName() == node && a.GetVerb() != "deletecollection") {
				return authorizer.DecisionAllow, "", nil
			}
		}
	case "coordination.k8s.io":
		if res == "leases" && a.GetNamespace() == "kube-node-lease" && (read || a.GetVerb() == "create" || a.GetName() == node) {
			return authorizer.DecisionAllow, "", nil
		}
	case "events.k8s.io":
		if res == "events" {
			return authorizer.DecisionAllow, "", nil
		}
	case "discovery.k8s.io":
		// The node's service rules and cluster DNS follow EndpointSlices
		// (kube-proxy's system:node-proxier role reads them too).
		if res == "endpointslices" && read {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}
