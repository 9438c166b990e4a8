package pki

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCAIsCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.Cert.Raw, again.Cert.Raw) {
		t.Fatal("second load created a new CA")
	}
	if fi, _ := os.Stat(ca.KeyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestHalfACAIsAnError(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(ca.KeyFile)
	if _, err := LoadOrCreateCA(dir, "ca", "test-ca"); err == nil {
		t.Fatal("a CA certificate without its key must not be replaced silently")
	}
}

func TestLeafIsReissuedOnlyWhenItNoLongerFits(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	want := Leaf{CommonName: "kube-apiserver", DNSNames: []string{"kubernetes"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true}
	p, err := ca.EnsureLeaf(dir, "apiserver", want)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(p.CertFile)
	if _, err := ca.EnsureLeaf(dir, "apiserver", want); err != nil {
		t.Fatal(err)
	}
	same, _ := os.ReadFile(p.CertFile)
	if !bytes.Equal(first, same) {
		t.Fatal("unchanged wish re-issued the certificate")
	}
	want.IPs = append(want.IPs, net.ParseIP("192.0.2.7"))
	if _, err := ca.EnsureLeaf(dir, "apiserver", want); err != nil {
		t.Fatal(err)
	}
	cert, _, err := LoadPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ip := range cert.IPAddresses {
		found = found || ip.Equal(net.ParseIP("192.0.2.7"))
	}
	if !found {
		t.Fatal("new node IP not in the re-issued certificate")
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "apiserver.key")); err != nil {
		t.Fatal(err)
	}
}
