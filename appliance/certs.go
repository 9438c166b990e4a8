package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/appliance/appliance/appliance/apiserver"
	"github.com/appliance/appliance/appliance/pki"
)

// clusterCerts are the files every start needs. The cluster CA signs the API
// server's certificate and every client certificate; etcd has a CA of its own so
// that no cluster client certificate can ever open etcd.
type clusterCerts struct {
	ca         *pki.CA
	serving    pki.Pair
	admin      pki.Pair
	etcdCA     string
	etcdServer pki.Pair
	etcdClient pki.Pair
	// kubeletClient is the API server's identity towards kubelets.
	kubeletClient pki.Pair
	dir           string
}

func ensureCerts(cfg Config, p Paths) (*clusterCerts, error) {
	if err := os.MkdirAll(p.TLSDir, 0o700); err != nil {
		return nil, err
	}
	ca, err := pki.LoadOrCreateCA(p.TLSDir, "ca", "appliance-ca")
	if err != nil {
		return nil, err
	}
	etcdCA, err := pki.LoadOrCreateCA(p.TLSDir, "etcd-ca", "appliance-etcd-ca")
	if err != nil {
		return nil, err
	}
	c := &clusterCerts{ca: ca, etcdCA: etcdCA.CertFile, dir: p.TLSDir}

	host, _ := os.Hostname()
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + cfg.ClusterDomain}
	if host != "" {
		dns = append(dns, host)
	}
	if cfg.NodeName != "" && cfg.NodeName != host {
		dns = append(dns, cfg.NodeName)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), cfg.KubernetesServiceIP()}
	ips = append(ips, NodeIPs()...)
	if cfg.AdvertiseAddress != nil {
		ips = append(ips, cfg.AdvertiseAddress)
	}
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	if c.serving, err = ca.EnsureLeaf(p.TLSDir, "apiserver", pki.Leaf{CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Server: true}); err != nil {
		return nil, err
	}
	if c.admin, err = ca.EnsureLeaf(p.TLSDir, "admin", pki.Leaf{CommonName: "admin", Organization: []string{"system:masters"}, Client: true}); err != nil {
		return nil, err
	}
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	if c.etcdServer, err = etcdCA.EnsureLeaf(p.TLSDir, "etcd-server", pki.Leaf{CommonName: "etcd", DNSNames: []string{"localhost"}, IPs: loop, Server: true, Client: true}); err != nil {
		return nil, err
	}
	if c.etcdClient, err = etcdCA.EnsureLeaf(p.TLSDir, "etcd-client", pki.Leaf{CommonName: "kube-apiserver-etcd-client", Client: true}); err != nil {
		return nil, err
	}
	if c.kubeletClient, err = ca.EnsureLeaf(p.TLSDir, "apiserver-kubelet-client", pki.Leaf{CommonName: KubeletClientUser, Client: true}); err != nil {
		return nil, err
	}
	return c, nil
}

// KubeletClientUser is the common name of the API server's client certificate
// towards kubelets; kubelets let only it in.
const KubeletClientUser = "kube-apiserver-kubelet-client"

// nodeCerts issues (once) a kubelet's identity: a client certificate
// (CN=system:node:<name>, O=system:nodes) and a serving certificate for its
// endpoint, with the node's name, host name and IP.
func (c *clusterCerts) nodeCerts(port int, node string, ip net.IP) (*rest.Config, pki.Pair, error) {
	client, err := c.ca.EnsureLeaf(c.dir, "node-"+sanitize(node), pki.Leaf{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}, Client: true})
	if err != nil {
		return nil, pki.Pair{}, err
	}
	dns := []string{node, "localhost"}
	if host, _ := os.Hostname(); host != "" && host != node {
		dns = append(dns, host)
	}
	serving, err := c.ca.EnsureLeaf(c.dir, "kubelet-"+sanitize(node), pki.Leaf{CommonName: node, DNSNames: dns, IPs: []net.IP{ip, net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		return nil, pki.Pair{}, err
	}
	return &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile,
		},
		QPS: 200, Burst: 400,
		// Loopback: gzip would cost CPU at both ends (the API server
		// compresses watch streams for clients that accept it) and save no
		// bandwidth worth having.
		DisableCompression: true,
	}, serving, nil
}

// kubeletClientTLS is how the API server reaches kubelets: its kubelet-client
// certificate, and the cluster CA that signs kubelet serving certificates.
func (c *clusterCerts) kubeletClientTLS(port int) (apiserver.KubeletClientConfig, error) {
	cert, err := tls.LoadX509KeyPair(c.kubeletClient.CertFile, c.kubeletClient.KeyFile)
	if err != nil {
		return apiserver.KubeletClientConfig{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.CertPEM())
	return apiserver.KubeletClientConfig{
		TLS:  &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		Port: port,
	}, nil
}

// clientConfig issues (once) a client certificate for an in-process component and
// returns a client configuration for it. Until RBAC lands, components are members
// of system:masters; their own user names already show in audit and events.
func (c *clusterCerts) clientConfig(port int, user string) (*rest.Config, error) {
	name := filepath.Base(user)
	pair, err := c.ca.EnsureLeaf(c.dir, "client-"+sanitize(name), pki.Leaf{CommonName: user, Organization: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.ca.CertFile, CertFile: pair.CertFile, KeyFile: pair.KeyFile,
		},
		// In-process components on loopback: the limit only protects the API
		// server from runaway loops, and 200 capped a 1,000-replica rollout.
		QPS: 1000, Burst: 2000,
		// Loopback: no gzip, as for the node's client above.
		DisableCompression: true,
	}, nil
}

func sanitize(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == ':' || r == '/' {
			r = '-'
		}
		out = append(out, r)
	}
	return string(out)
}

// writeAdminKubeconfig writes the admin kubeconfig (mode 0600) with the
// credentials embedded, so it can be copied to another machine as it is.
func writeAdminKubeconfig(cfg Config, c *clusterCerts, port int) error {
	certPEM, err := os.ReadFile(c.admin.CertFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(c.admin.KeyFile)
	if err != nil {
		return err
	}
	host := "127.0.0.1"
	kc := clientcmdapi.NewConfig()
	kc.Clusters["appliance"] = &clientcmdapi.Cluster{
		Server:                   fmt.Sprintf("https://%s", net.JoinHostPort(host, fmt.Sprint(port))),
		CertificateAuthorityData: c.ca.CertPEM(),
	}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	kc.Contexts["appliance"] = &clientcmdapi.Context{Cluster: "appliance", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "appliance"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(cfg.AdminKubeconfig, data, 0o600)
}

// NodeIPs lists this machine's global unicast addresses.
func NodeIPs() []net.IP {
	var ips []net.IP
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			ips = append(ips, n.IP)
		}
	}
	return ips
}
