package network

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPAM(t *testing.T) {
	dir := t.TempDir()
	_, cidr, _ := net.ParseCIDR("10.42.1.0/29") // .2 - .6 for pods
	a := newIPAM(dir, cidr, net.ParseIP("10.42.1.1").To4())

	got := map[string]bool{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ip, fresh, err := a.allocate(id)
		if err != nil {
			t.Fatalf("allocate %s: %v", id, err)
		}
		if !fresh || got[ip.String()] || ip.Equal(net.ParseIP("10.42.1.1")) || !cidr.Contains(ip) {
			t.Fatalf("allocate %s = %s (fresh %v), have %v", id, ip, fresh, got)
		}
		got[ip.String()] = true
		data, err := os.ReadFile(filepath.Join(dir, ip.String()))
		if err != nil || string(data) != id {
			t.Fatalf("allocation file for %s: %q, %v", ip, data, err)
		}
	}
	if len(got) != 5 || got["10.42.1.0"] || got["10.42.1.7"] {
		t.Fatalf("addresses %v: want .2-.6", got)
	}
	if _, _, err := a.allocate("f"); !errors.Is(err, ErrPodCIDRExhausted) || !strings.Contains(err.Error(), `"f"`) {
		t.Fatalf("allocate in full range: %v", err)
	}
	// Same id, same address, not fresh.
	ipC, _ := a.get("c")
	again, fresh, err := a.allocate("c")
	if err != nil || fresh || !again.Equal(ipC) {
		t.Fatalf("allocate c again = %s, %v, %v; want %s", again, fresh, err, ipC)
	}
	// Another allocator on the same directory (a restart) sees them all.
	b := newIPAM(dir, cidr, net.ParseIP("10.42.1.1").To4())
	all, err := b.list()
	if err != nil || len(all) != 5 {
		t.Fatalf("list after restart = %v, %v", all, err)
	}
	if err := b.release("c"); err != nil {
		t.Fatal(err)
	}
	if err := b.release("c"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	ip, _, err := b.allocate("f")
	if err != nil || !ip.Equal(ipC) {
		t.Fatalf("allocate f after releasing c = %s, %v; want %s", ip, err, ipC)
	}
}

func TestIPAMSkipsRecentlyReleased(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.42.2.0/24")
	a := newIPAM(t.TempDir(), cidr, net.ParseIP("10.42.2.1").To4())
	ip1, _, _ := a.allocate("a")
	if err := a.release("a"); err != nil {
		t.Fatal(err)
	}
	ip2, _, err := a.allocate("b")
	if err != nil {
		t.Fatal(err)
	}
	if ip2.Equal(ip1) {
		t.Errorf("released %s handed out again at once", ip1)
	}
}

func TestIPAMReleaseKeepsOthersFile(t *testing.T) {
	dir := t.TempDir()
	_, cidr, _ := net.ParseCIDR("10.42.2.0/24")
	a := newIPAM(dir, cidr, net.ParseIP("10.42.2.1").To4())
	ip, _, _ := a.allocate("a")
	// releaseIP for the wrong owner leaves the file alone.
	if err := a.releaseIP(ip, "someone-else"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ip.String())); err != nil {
		t.Errorf("allocation of a removed by another id: %v", err)
	}
}
