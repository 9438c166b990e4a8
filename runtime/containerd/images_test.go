package containerd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/runtime/testimage"
)

func writeRegistries(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Pulls go to the in-process registry only: through a docker.io mirror on
// loopback (plain HTTP) with the default endpoint disabled, or to the
// loopback registry by name. Nothing here may reach the internet, not even
// DNS: every image is either mirrored or on 127.0.0.1.
func TestEnsureImagePolicies(t *testing.T) {
	requireContainerd(t)
	reg := testimage.Registry(t, "library/busybox:latest", "library/busybox:1.36", "library/busybox:together", "apps/web:1")
	mirror, manifests := testimage.Proxy(t, reg, "", "")
	cfg := testConfig(t)
	cfg.DisableDefaultEndpoint = true
	cfg.RegistriesFile = writeRegistries(t, fmt.Sprintf(`mirrors:
  docker.io:
    endpoint:
      - "http://%s"
`, mirror))
	r := startTest(t, cfg)
	ctx := context.Background()

	steps := []struct {
		name       string
		ref        string
		policy     corev1.PullPolicy
		wantPulled bool
		wantErr    error
		wantReqs   int32 // manifest requests to the mirror during the step
	}{
		{"IfNotPresent pulls when absent", "busybox:1.36", corev1.PullIfNotPresent, true, nil, 1},
		{"IfNotPresent uses the present image", "busybox:1.36", corev1.PullIfNotPresent, false, nil, 0},
		{"Always pulls again", "docker.io/library/busybox:1.36", corev1.PullAlways, true, nil, 1},
		{"Never uses the present image", "busybox:1.36", corev1.PullNever, false, nil, 0},
		{"Never with absent image", "busybox:latest", corev1.PullNever, false, ErrImageNeverPull, 0},
		{"default policy for latest is Always", "busybox", "", true, nil, 1},
		{"default policy for latest pulls every time", "busybox", "", true, nil, 1},
		{"missing image", "busybox:9.9", corev1.PullIfNotPresent, false, ErrImageNotFound, -1},
		{"invalid name", "Busy Box", corev1.PullIfNotPresent, false, ErrInvalidImageName, 0},
	}
	for _, st := range steps {
		before := manifests.Load()
		onPull := 0
		img, pulled, err := r.EnsureImage(ctx, st.ref, st.policy, nil, func() { onPull++ })
		// The kubelet's "Pulling" event: announced exactly when a pull starts.
		if wantOnPull := st.wantReqs != 0; (onPull == 1) != wantOnPull || onPull > 1 {
			t.Errorf("%s: onPull called %d times, want it once only if a pull starts (%v)", st.name, onPull, wantOnPull)
		}
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: EnsureImage(%q) = %v, want %v", st.name, st.ref, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: EnsureImage(%q): %v", st.name, st.ref, err)
		}
		if pulled != st.wantPulled {
			t.Errorf("%s: pulled = %v, want %v", st.name, pulled, st.wantPulled)
		}
		if got := manifests.Load() - before; st.wantReqs >= 0 && (got > 0) != (st.wantReqs > 0) {
			t.Errorf("%s: %d manifest requests to the mirror, want %d", st.name, got, st.wantReqs)
		}
		if ok, err := img.IsUnpacked(r.WithNamespace(ctx), r.Snapshotter()); err != nil || !ok {
			t.Errorf("%s: image unpacked = %v, %v", st.name, ok, err)
		}
	}

	// Pods starting together pull the same image at once: all succeed.
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, _, err := r.EnsureImage(ctx, "busybox:together", corev1.PullIfNotPresent, nil, nil)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent EnsureImage: %v", err)
		}
	}

	// A missing image is both ErrPullFailed and ErrImageNotFound, with the
	// image's full name in the message (the kubelet's ErrImagePull event).
	_, _, err := r.EnsureImage(ctx, reg+"/apps/nothere:1", corev1.PullIfNotPresent, nil, nil)
	if !errors.Is(err, ErrPullFailed) || !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), reg+"/apps/nothere:1") {
		t.Fatalf("missing image on the registry itself: %v; want ErrPullFailed and ErrImageNotFound naming it", err)
	}

	// By the registry's own loopback name: plain HTTP after https fails.
	if _, pulled, err := r.EnsureImage(ctx, reg+"/apps/web:1", corev1.PullIfNotPresent, nil, nil); err != nil || !pulled {
		t.Fatalf("pull from loopback registry by name: pulled %v, %v", pulled, err)
	}
	_, task, out := runTask(t, r, reg+"/apps/web:1", "echo", "pulled and running")
	if code := waitExit(t, r, task); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	eventually(t, 5*time.Second, "output", func() bool { return strings.Contains(out.String(), "pulled and running") })
}

func TestEnsureImageAuth(t *testing.T) {
	requireContainerd(t)
	reg := testimage.Registry(t, "private/app:1", "private/app:2")
	authed, _ := testimage.Proxy(t, reg, "alice", "s3cret")
	// The registries.yaml credentials for the authed host are wrong on
	// purpose for the first part: pull secrets must win.
	cfg := testConfig(t)
	cfg.RegistriesFile = writeRegistries(t, fmt.Sprintf(`configs:
  "%s":
    auth:
      username: alice
      password: wrong
`, authed))
	r := startTest(t, cfg)
	ctx := context.Background()
	ref := authed + "/private/app:1"

	_, _, err := r.EnsureImage(ctx, ref, corev1.PullIfNotPresent, nil, nil)
	if !errors.Is(err, ErrPullFailed) || errors.Is(err, ErrImageNotFound) {
		t.Fatalf("pull with wrong registries.yaml credentials = %v; want ErrPullFailed, not ErrImageNotFound", err)
	}

	dockerConfigJSON := fmt.Sprintf(`{"auths":{"other.example.com":{"auth":%q},"%s":{"username":"alice","password":"s3cret"}}}`,
		base64.StdEncoding.EncodeToString([]byte("bob:nope")), authed)
	secrets := []corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "unrelated"}, Type: corev1.SecretTypeOpaque},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfigJSON)}},
	}
	if _, pulled, err := r.EnsureImage(ctx, ref, corev1.PullIfNotPresent, secrets, nil); err != nil || !pulled {
		t.Fatalf("pull with dockerconfigjson secret: pulled %v, %v", pulled, err)
	}

	legacy := []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "old"}, Type: corev1.SecretTypeDockercfg,
		Data: map[string][]byte{corev1.DockerConfigKey: []byte(fmt.Sprintf(`{"http://%s/private":{"auth":%q}}`,
			authed, base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))))}}}
	if _, pulled, err := r.EnsureImage(ctx, authed+"/private/app:2", corev1.PullIfNotPresent, legacy, nil); err != nil || !pulled {
		t.Fatalf("pull with dockercfg secret: pulled %v, %v", pulled, err)
	}

	// registries.yaml credentials, right this time, with no secret.
	cfg2 := testConfig(t)
	cfg2.RegistriesFile = writeRegistries(t, fmt.Sprintf(`configs:
  "%s":
    auth:
      auth: %s
`, authed, base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))))
	r.Close()
	r2 := startTest(t, cfg2)
	if _, pulled, err := r2.EnsureImage(ctx, ref, corev1.PullIfNotPresent, nil, nil); err != nil || !pulled {
		t.Fatalf("pull with registries.yaml auth: pulled %v, %v", pulled, err)
	}
}

func TestBadRegistriesFile(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not yaml", "mirrors: [", "registries file"},
		{"unknown field", "mirrors:\n  docker.io:\n    endpoints: [\"http://x\"]\n", `unknown field "endpoints"`},
		{"bad scheme", "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n", "mirrors.docker.io.endpoint[0]"},
		{"no host", "mirrors:\n  docker.io:\n    endpoint: [\"http://\"]\n", "no host"},
		{"bad auth", "configs:\n  r.example.com:\n    auth:\n      auth: \"!!\"\n", "configs.r.example.com.auth: auth is not base64"},
		{"empty auth", "configs:\n  r.example.com:\n    auth: {}\n", "needs username and password"},
		{"missing ca", "configs:\n  r.example.com:\n    tls:\n      ca_file: /nonexistent/ca.pem\n", "configs.r.example.com.tls: ca_file"},
		{"cert without key", "configs:\n  r.example.com:\n    tls:\n      cert_file: /x.pem\n", "cert_file and key_file go together"},
		{"rewrite", "mirrors:\n  docker.io:\n    rewrite:\n      \"^a/(.*)\": \"b/$1\"\n", "rewrite: not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeRegistries(t, tt.content)
			_, err := Start(context.Background(), Config{Root: dir + "/root", State: dir + "/state", RegistriesFile: p})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.want)
			}
			if _, serr := os.Stat(dir + "/state"); serr == nil {
				t.Error("Start created the state dir before checking registries.yaml")
			}
		})
	}
	if _, err := loadRegistries(filepath.Join(t.TempDir(), "absent.yaml")); err != nil {
		t.Errorf("missing registries file: %v, want none", err)
	}
}

func TestKeyMatches(t *testing.T) {
	tests := []struct {
		key, host, path string
		want            bool
	}{
		{"https://index.docker.io/v1/", "docker.io", "library/busybox", true},
		{"docker.io", "docker.io", "library/busybox", true},
		{"registry.example.com", "registry.example.com", "a/b", true},
		{"registry.example.com:5000", "registry.example.com", "a/b", false},
		{"registry.example.com:5000", "registry.example.com:5000", "a/b", true},
		{"*.example.com", "registry.example.com", "a/b", true},
		{"*.example.com", "example.com", "a/b", false},
		{"registry.example.com/team", "registry.example.com", "team/app", true},
		{"registry.example.com/team", "registry.example.com", "teamx/app", false},
		{"http://registry.example.com/team/", "registry.example.com", "team/app", true},
		{"other.example.com", "registry.example.com", "a", false},
	}
	for _, tt := range tests {
		if got := keyMatches(tt.key, tt.host, tt.path); got != tt.want {
			t.Errorf("keyMatches(%q, %q, %q) = %v, want %v", tt.key, tt.host, tt.path, got, tt.want)
		}
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                     "docker.io/library/busybox:latest",
		"busybox:1.36":                "docker.io/library/busybox:1.36",
		"rancher/k3s":                 "docker.io/rancher/k3s:latest",
		"127.0.0.1:5000/app":          "127.0.0.1:5000/app:latest",
		"quay.io/a/b@sha256:" + sha64: "quay.io/a/b@sha256:" + sha64,
	} {
		if got, err := NormalizeImage(in); err != nil || got != want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeImage("Busybox"); !errors.Is(err, ErrInvalidImageName) {
		t.Errorf("NormalizeImage(Busybox) = %v, want ErrInvalidImageName", err)
	}
}

const sha64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// GC removes unused images, oldest first, until usage is below low, and
// never an image in use. The disk measure is the one seam faked here: the
// test cannot fill the machine's disk.
func TestGCImages(t *testing.T) {
	requireContainerd(t)
	r := startTest(t, testConfig(t))
	ctx := context.Background()
	for _, n := range []string{"appliance.test/a:1", "appliance.test/b:1", "appliance.test/c:1", "appliance.test/d:1"} {
		importBusybox(t, r, n)
	}
	usage := 90
	var measured int
	r.diskUsage = func(string) (int, error) { measured++; return usage, nil }
	removed := func() []string {
		imgs, err := r.ListImages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, i := range imgs {
			have[i.Name] = true
		}
		var out []string
		for _, n := range []string{"appliance.test/a:1", "appliance.test/b:1", "appliance.test/c:1", "appliance.test/d:1"} {
			if !have[n] {
				out = append(out, n)
			}
		}
		return out
	}
	inUse := func(ref string) bool { return ref == "appliance.test/a:1" }

	if err := r.GCImages(ctx, inUse, 95, 80); err != nil {
		t.Fatal(err)
	}
	if got := removed(); len(got) != 0 {
		t.Fatalf("below high threshold GC removed %v", got)
	}
	// Above high: each removal "frees" 5%; 90 -> 85 -> 80 -> 75 < 80 stops
	// after b and c... a is in use, so b, c, d go in creation order until
	// below 80: b (85), c (80), d (75).
	r.diskUsage = func(string) (int, error) { measured++; u := usage; usage -= 5; return u, nil }
	if err := r.GCImages(ctx, inUse, 85, 80); err != nil {
		t.Fatal(err)
	}
	if got := removed(); strings.Join(got, ",") != "appliance.test/b:1,appliance.test/c:1,appliance.test/d:1" {
		t.Fatalf("GC removed %v, want b, c, d (a is in use)", got)
	}
	if err := r.GCImages(ctx, inUse, 50, 60); err == nil {
		t.Fatal("GC with low > high: no error")
	}
}
