package containerd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// registriesFile is k3s's registries.yaml:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://10.0.0.5:5000", "https://mirror.example.com"]
//	  "*":
//	    endpoint: ["https://catch-all.example.com"]
//	configs:
//	  "10.0.0.5:5000":
//	    auth: {username: u, password: p}   # or auth: base64(u:p), identitytoken
//	    tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: true}
//
// As in k3s, a registry's mirrors are tried in order and the registry itself
// last; "*" mirrors every registry without its own entry. Configs are keyed by
// the host[:port] the requests go to.
type registriesFile struct {
	Mirrors map[string]mirror         `json:"mirrors"`
	Configs map[string]registryConfig `json:"configs"`
}

type mirror struct {
	Endpoints []string          `json:"endpoint"`
	Rewrites  map[string]string `json:"rewrite"`
}

type registryConfig struct {
	Auth *authConfig `json:"auth"`
	TLS  *tlsConfig  `json:"tls"`
}

type authConfig struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

type tlsConfig struct {
	CAFile             string `json:"ca_file"`
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// credential is what the docker authorizer wants: a username and secret, or
// an identity (refresh) token with an empty username.
type credential struct{ username, secret string }

// registries is the parsed registries.yaml, ready for the resolver.
type registries struct {
	noDefault bool // mirrored registries are not pulled from directly
	mirrors   map[string][]*url.URL
	creds     map[string]credential   // by host[:port]
	clients   map[string]*http.Client // by host[:port], when TLS is configured
}

func loadRegistries(file string) (*registries, error) {
	r := &registries{mirrors: map[string][]*url.URL{}, creds: map[string]credential{}, clients: map[string]*http.Client{}}
	if file == "" {
		return r, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registries file: %w", err)
	}
	var f registriesFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("registries file %s: %w", file, err)
	}
	var errs []error
	for reg, m := range f.Mirrors {
		if reg == "" {
			errs = append(errs, errors.New("mirrors: empty registry name"))
			continue
		}
		if len(m.Rewrites) > 0 {
			errs = append(errs, fmt.Errorf("mirrors.%s.rewrite: not supported", reg))
		}
		for i, ep := range m.Endpoints {
			u, err := parseEndpoint(ep)
			if err != nil {
				errs = append(errs, fmt.Errorf("mirrors.%s.endpoint[%d]: %w", reg, i, err))
				continue
			}
			r.mirrors[reg] = append(r.mirrors[reg], u)
		}
	}
	for host, c := range f.Configs {
		if host == "" || strings.Contains(host, "/") {
			errs = append(errs, fmt.Errorf("configs: key %q: want a registry host[:port]", host))
			continue
		}
		if c.Auth != nil {
			cred, err := c.Auth.credential()
			if err != nil {
				errs = append(errs, fmt.Errorf("configs.%s.auth: %w", host, err))
			} else {
				r.creds[host] = cred
			}
		}
		if c.TLS != nil {
			tc, err := c.TLS.config()
			if err != nil {
				errs = append(errs, fmt.Errorf("configs.%s.tls: %w", host, err))
			} else {
				r.clients[host] = httpClient(tc)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("registries file %s: %w", file, err)
	}
	return r, nil
}

func parseEndpoint(ep string) (*url.URL, error) {
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep // as k3s: an endpoint without scheme is https
	}
	u, err := url.Parse(ep)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", ep)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", ep)
	}
	return u, nil
}

func (a *authConfig) credential() (credential, error) {
	switch {
	case a.IdentityToken != "":
		return credential{secret: a.IdentityToken}, nil
	case a.Username != "" || a.Password != "":
		return credential{a.Username, a.Password}, nil
	case a.Auth != "":
		return decodeAuth(a.Auth)
	}
	return credential{}, errors.New("needs username and password, auth or identitytoken")
}

func decodeAuth(s string) (credential, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return credential{}, fmt.Errorf("auth is not base64: %w", err)
	}
	u, p, ok := strings.Cut(string(b), ":")
	if !ok {
		return credential{}, errors.New("auth must be base64 of username:password")
	}
	return credential{u, p}, nil
}

func (t *tlsConfig) config() (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user asked for it
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func httpClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}
}

// hosts is the resolver's view of registries: the mirrors, then the registry
// itself. cred, if set, is a pull secret's credential for this image.
func (r *registries) hosts(cred *credential) docker.RegistryHosts {
	return func(refHost string) ([]docker.RegistryHost, error) {
		eps, ok := r.mirrors[refHost]
		if !ok {
			eps = r.mirrors["*"]
		}
		if len(eps) == 0 || !r.noDefault {
			upstream := &url.URL{Scheme: "https", Host: refHost, Path: "/v2"}
			if refHost == "docker.io" {
				upstream.Host = "registry-1.docker.io"
			}
			eps = append(eps[:len(eps):len(eps)], upstream)
		}
		seen := map[string]bool{}
		var out []docker.RegistryHost
		for _, u := range eps {
			p := strings.TrimSuffix(u.Path, "/")
			if !strings.HasSuffix(p, "/v2") {
				p = path.Join("/", p, "v2")
			}
			key := u.Scheme + "://" + u.Host + p
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, r.host(refHost, u.Scheme, u.Host, p, cred))
		}
		return out, nil
	}
}

// configKeys are the registries.yaml config keys that apply to host, most
// specific first: the host itself, "docker.io" for Docker Hub's endpoint (as
// k3s accepts), then "*".
func configKeys(host string) []string {
	keys := []string{host}
	if host == "registry-1.docker.io" {
		keys = append(keys, "docker.io")
	}
	return append(keys, "*")
}

func lookup[V any](m map[string]V, host string) (V, bool) {
	for _, k := range configKeys(host) {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

func (r *registries) host(refHost, scheme, host, p string, cred *credential) docker.RegistryHost {
	client, _ := lookup(r.clients, host)
	if client == nil {
		client = httpClient(nil)
		// As docker and containerd do for loopback registries: https first,
		// plain http if the registry does not speak TLS.
		if scheme == "https" && isLoopback(host) {
			client.Transport = docker.NewHTTPFallback(client.Transport)
		}
	}
	// A pull secret belongs to the image's registry; a mirror gets it only
	// when it has no credentials of its own in registries.yaml.
	if cred != nil && host != refHost && !(refHost == "docker.io" && host == "registry-1.docker.io") {
		if _, own := lookup(r.creds, host); own {
			cred = nil
		}
	}
	creds := func(h string) (string, string, error) {
		if cred != nil {
			return cred.username, cred.secret, nil
		}
		c, _ := lookup(r.creds, h)
		return c.username, c.secret, nil
	}
	return docker.RegistryHost{
		Client:       client,
		Authorizer:   docker.NewDockerAuthorizer(docker.WithAuthClient(client), docker.WithAuthCreds(creds)),
		Host:         host,
		Scheme:       scheme,
		Path:         p,
		Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
	}
}

func isLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// secretCredentials returns the credentials of kubernetes.io/dockerconfigjson
// and kubernetes.io/dockercfg secrets that match image (host/path), most
// specific key first, as the kubelet's credential provider orders them.
func secretCredentials(secrets []corev1.Secret, refHost, repoPath string) ([]credential, error) {
	type match struct {
		key  string
		cred credential
	}
	var matches []match
	for _, s := range secrets {
		var entries map[string]dockerConfigEntry
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerConfigEntry `json:"auths"`
			}
			if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, fmt.Errorf("pull secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigJsonKey, err)
			}
			entries = cfg.Auths
		case corev1.SecretTypeDockercfg:
			if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &entries); err != nil {
				return nil, fmt.Errorf("pull secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigKey, err)
			}
		default:
			continue
		}
		for key, e := range entries {
			if !keyMatches(key, refHost, repoPath) {
				continue
			}
			c := credential{e.Username, e.Password}
			if c.username == "" && c.secret == "" && e.Auth != "" {
				var err error
				if c, err = decodeAuth(e.Auth); err != nil {
					return nil, fmt.Errorf("pull secret %s/%s: %s: %w", s.Namespace, s.Name, key, err)
				}
			}
			matches = append(matches, match{key, c})
		}
	}
	sort.SliceStable(matches, func(i, j int) bool { return len(matches[i].key) > len(matches[j].key) })
	out := make([]credential, len(matches))
	for i, m := range matches {
		out[i] = m.cred
	}
	return out, nil
}

type dockerConfigEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// keyMatches follows the kubelet's credentialprovider: the key's host (with
// *.glob labels) must equal the image's registry host, and its path must be a
// prefix of the repository path. Docker Hub's historical keys
// ("https://index.docker.io/v1/") stand for docker.io.
func keyMatches(key, refHost, repoPath string) bool {
	if !strings.Contains(key, "://") {
		key = "https://" + key
	}
	u, err := url.Parse(key)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Host
	keyPath := strings.Trim(u.Path, "/")
	switch host {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		host = "docker.io"
		if keyPath == "v1" || keyPath == "v2" {
			keyPath = ""
		}
	}
	if !hostMatches(host, refHost) {
		return false
	}
	return keyPath == "" || repoPath == keyPath || strings.HasPrefix(repoPath, keyPath+"/")
}

func hostMatches(pattern, host string) bool {
	pp, pport, perr := net.SplitHostPort(pattern)
	hh, hport, herr := net.SplitHostPort(host)
	if (perr == nil) != (herr == nil) {
		return false
	}
	if perr == nil {
		if pport != hport {
			return false
		}
		pattern, host = pp, hh
	}
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if ok, _ := path.Match(pl[i], hl[i]); !ok {
			return false
		}
	}
	return true
}
