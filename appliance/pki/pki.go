// Package pki creates and reuses the cluster's certificate authorities and the
// certificates the appliance's parts present to each other: the API server's serving
// certificate, client certificates (CN = user, O = groups) for the admin and for the
// in-process components, and the private CA that guards the embedded etcd.
//
// Everything is written once, on the first start, under the data directory; later
// starts load the same files so clients keep trusting the cluster.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Validity periods: the CAs outlive every certificate they sign, as kubeadm's do.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority loaded from, or written to, a pair of PEM files.
type CA struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string
	KeyFile  string
}

// LoadOrCreateCA loads dir/name.crt and dir/name.key, or creates a new self-signed CA
// with the given common name when neither exists. One file without the other is an
// error: the operator must decide, we never overwrite half a CA.
func LoadOrCreateCA(dir, name, commonName string) (*CA, error) {
	ca := &CA{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	certOK, keyOK := exists(ca.CertFile), exists(ca.KeyFile)
	switch {
	case certOK && keyOK:
		cert, key, err := LoadPair(ca.CertFile, ca.KeyFile)
		if err != nil {
			return nil, err
		}
		ca.Cert, ca.Key = cert, key
		return ca, nil
	case certOK != keyOK:
		return nil, fmt.Errorf("pki: %s and %s must both exist or both be absent", ca.CertFile, ca.KeyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", commonName, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writePair(ca.CertFile, ca.KeyFile, der, key); err != nil {
		return nil, err
	}
	ca.Cert, ca.Key = cert, key
	return ca, nil
}

// CertPEM returns the CA certificate in PEM form, for kubeconfigs and trust bundles.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName   string
	Organization []string // groups, for client certificates
	DNSNames     []string
	IPs          []net.IP
	Server       bool
	Client       bool
}

// Pair is an issued certificate with its key, as files.
type Pair struct {
	CertFile string
	KeyFile  string
}

// EnsureLeaf loads dir/name.{crt,key} if it exists, is signed by ca, is not close to
// expiry and still covers every name and address wanted; otherwise it issues a new
// one. So a node that gains an IP gets a serving certificate that covers it.
func (ca *CA) EnsureLeaf(dir, name string, want Leaf) (Pair, error) {
	p := Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	if cert, _, err := LoadPair(p.CertFile, p.KeyFile); err == nil && ca.stillGood(cert, want) {
		return p, nil
	}
	der, key, err := ca.Issue(want)
	if err != nil {
		return p, err
	}
	return p, writePair(p.CertFile, p.KeyFile, der, key)
}

// Issue signs a new certificate for want and returns it (DER) with its new key.
func (ca *CA) Issue(want Leaf) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: want.CommonName, Organization: want.Organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     want.DNSNames,
		IPAddresses:  want.IPs,
	}
	if want.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if want.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	return der, key, err
}

func (ca *CA) stillGood(cert *x509.Certificate, want Leaf) bool {
	if cert.CheckSignatureFrom(ca.Cert) != nil || time.Until(cert.NotAfter) < 30*24*time.Hour {
		return false
	}
	if cert.Subject.CommonName != want.CommonName || !slices.Equal(cert.Subject.Organization, want.Organization) {
		return false
	}
	for _, n := range want.DNSNames {
		if !slices.Contains(cert.DNSNames, n) {
			return false
		}
	}
	for _, ip := range want.IPs {
		found := false
		for _, have := range cert.IPAddresses {
			if have.Equal(ip) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// LoadPair reads a PEM certificate and its PEM private key.
func LoadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, nil, fmt.Errorf("pki: %s holds no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("pki: %s holds no PEM key", keyFile)
	}
	key, err := parseKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", keyFile, err)
	}
	return cert, key, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key")
}

// EncodeKey returns key as a PEM "EC PRIVATE KEY" block.
func EncodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// EncodeCert returns a DER certificate as PEM.
func EncodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(certFile, EncodeCert(der), 0o644)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and renames it
// into place, so a crash never leaves a truncated certificate or kubeconfig behind.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
