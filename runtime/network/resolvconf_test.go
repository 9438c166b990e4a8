package network

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHostResolvConf(t *testing.T) {
	const (
		stub     = "# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
		resolved = "# upstream servers\nnameserver 192.168.1.1\nnameserver 2001:db8::1\nsearch lan\n"
		normal   = "nameserver 10.0.0.2\nsearch example.com\n"
		mixed    = "nameserver 127.0.0.1\nnameserver 10.0.0.2\n"
		v6stub   = "nameserver ::1\nnameserver 127.0.0.53\n"
		onlyStub = "nameserver 127.0.0.53\n"
	)
	for _, tc := range []struct {
		name         string
		host         string
		resolved     *string // nil: no resolved file
		wantResolved bool
	}{
		{"loopback-only host with resolved file uses resolved's", stub, ptr(resolved), true},
		{"IPv4 and IPv6 loopback with resolved file uses resolved's", v6stub, ptr(resolved), true},
		{"loopback-only host without resolved file is kept", stub, nil, false},
		{"resolved file with only loopback servers is not used", stub, ptr(onlyStub), false},
		{"resolved file without servers is not used", stub, ptr("search lan\n"), false},
		{"normal host file is kept", normal, ptr(resolved), false},
		{"mixed loopback and real is kept", mixed, ptr(resolved), false},
		{"host file without servers is kept", "search lan\n", ptr(resolved), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			hostPath := filepath.Join(dir, "resolv.conf")
			resolvedPath := filepath.Join(dir, "run", "resolv.conf")
			if err := os.WriteFile(hostPath, []byte(tc.host), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.resolved != nil {
				if err := os.MkdirAll(filepath.Dir(resolvedPath), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(resolvedPath, []byte(*tc.resolved), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, path, err := HostResolvConf(hostPath, resolvedPath)
			if err != nil {
				t.Fatal(err)
			}
			wantPath, wantData := hostPath, tc.host
			if tc.wantResolved {
				wantPath, wantData = resolvedPath, *tc.resolved
			}
			if path != wantPath || string(data) != wantData {
				t.Errorf("got %s:\n%s\nwant %s:\n%s", path, data, wantPath, wantData)
			}
		})
	}
}

func TestHostResolvConfMissingHostFile(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := HostResolvConf(filepath.Join(dir, "none"), filepath.Join(dir, "resolved")); err == nil {
		t.Fatal("no error for a missing host file")
	}
}

func ptr[T any](v T) *T { return &v }
