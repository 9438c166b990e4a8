package volumes

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// memSources is an in-memory Sources with the API's NotFound errors.
type memSources struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (s *memSources) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cm, ok := s.configMaps[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (s *memSources) Secret(ns, name string) (*corev1.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[ns+"/"+name]; ok {
		return sec.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (s *memSources) putConfigMap(ns, name string, data map[string]string, binary map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.configMaps == nil {
		s.configMaps = map[string]*corev1.ConfigMap{}
	}
	s.configMaps[ns+"/"+name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data, BinaryData: binary}
}

func (s *memSources) putSecret(ns, name string, data map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]*corev1.Secret{}
	}
	s.secrets[ns+"/"+name] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount tmpfs")
	}
}

// newTestManager returns a manager on a temp root; everything mounted under it is
// unmounted before the directory is removed.
func newTestManager(t *testing.T) (*Manager, *memSources, string) {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() {
		if err := unmountAll(root); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	src := &memSources{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return New(root, src, log), src, root
}

func ptr[T any](v T) *T { return &v }

func podWith(vols ...corev1.Volume) *corev1.Pod {
	p := testPod()
	p.Spec.Volumes = vols
	return p
}

// mountEntry finds dir in /proc/self/mountinfo and returns its fs type and super options.
func mountEntry(t *testing.T, dir string) (fstype, superOpts string, ok bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, found := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !found || len(f) < 5 || unescapeMountinfo(f[4]) != dir {
			continue
		}
		pf := strings.Fields(post)
		if len(pf) < 3 {
			t.Fatalf("odd mountinfo line %q", line)
		}
		fstype, superOpts, ok = pf[0], pf[2], true
	}
	return fstype, superOpts, ok
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	mps, err := mountPoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	return mps
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestEmptyDirOnDisk(t *testing.T) {
	m, _, root := newTestManager(t)
	pod := podWith(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "pods", string(pod.UID), "volumes", "kubernetes.io~empty-dir", "scratch")
	if paths["scratch"] != want {
		t.Fatalf("path = %q, want %q", paths["scratch"], want)
	}
	if got := fileMode(t, want); got != 0o777 {
		t.Fatalf("emptyDir mode = %o, want 777", got)
	}
	if err := os.WriteFile(filepath.Join(want, "kept"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A second Setup keeps what containers wrote.
	if _, err := m.Setup(context.Background(), pod, nil); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(want, "kept")) != "x" {
		t.Fatal("second Setup lost emptyDir content")
	}
	if _, _, ok := mountEntry(t, want); ok {
		t.Fatal("disk emptyDir must not be a mount")
	}
}

func TestEmptyDirMemoryIsSizedTmpfsAndTeardownUnmounts(t *testing.T) {
	requireRoot(t)
	m, _, root := newTestManager(t)
	pod := podWith(corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("16Mi")),
	}}})
	node := &corev1.Node{Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}
	paths, err := m.Setup(context.Background(), pod, node)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["shm"]
	fstype, opts, ok := mountEntry(t, dir)
	if !ok || fstype != "tmpfs" {
		t.Fatalf("%s: mounted=%v type=%q, want tmpfs", dir, ok, fstype)
	}
	if !strings.Contains(opts, "size=16384k") {
		t.Fatalf("tmpfs options %q, want size=16384k", opts)
	}
	// Idempotent: no second tmpfs stacked on the first.
	if _, err := m.Setup(context.Background(), pod, node); err != nil {
		t.Fatal(err)
	}
	if n := len(mountsUnder(t, root)); n != 1 {
		t.Fatalf("%d mounts under root after two Setups, want 1", n)
	}
	uids, err := m.Pods()
	if err != nil || len(uids) != 1 || uids[0] != pod.UID {
		t.Fatalf("Pods() = %v, %v; want [%s]", uids, err, pod.UID)
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, root); len(left) != 0 {
		t.Fatalf("mounts left after Teardown: %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "pods", string(pod.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pod dir after Teardown: %v", err)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if uids, err := m.Pods(); err != nil || len(uids) != 0 {
		t.Fatalf("Pods() after Teardown = %v, %v", uids, err)
	}
	if err := m.Teardown("../etc"); err == nil {
		t.Fatal("Teardown accepted a uid with a path in it")
	}
}

func TestConfigMapFilesModesAndItems(t *testing.T) {
	m, src, _ := newTestManager(t)
	src.putConfigMap("shop", "cfg", map[string]string{"a.conf": "alpha", "b.conf": "beta"}, map[string][]byte{"bin": {0, 1, 2}})
	pod := podWith(
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600)),
		}}},
		corev1.Volume{Name: "some", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{
				{Key: "a.conf", Path: "etc/app/a.conf", Mode: ptr(int32(0o400))},
				{Key: "b.conf", Path: "b"},
			},
		}}},
	)
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := paths["all"]
	if !strings.HasSuffix(all, "/volumes/kubernetes.io~configmap/all") {
		t.Fatalf("configMap path %q", all)
	}
	for k, want := range map[string]string{"a.conf": "alpha", "b.conf": "beta", "bin": "\x00\x01\x02"} {
		if got := readFile(t, filepath.Join(all, k)); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
		if got := fileMode(t, filepath.Join(all, k)); got != 0o600 {
			t.Errorf("%s mode = %o, want 600 (defaultMode)", k, got)
		}
		// User-visible names are symlinks through ..data, as in Kubernetes.
		if target, err := os.Readlink(filepath.Join(all, k)); err != nil || target != filepath.Join("..data", k) {
			t.Errorf("%s link = %q, %v; want ..data/%s", k, target, err, k)
		}
	}
	some := paths["some"]
	if got := readFile(t, filepath.Join(some, "etc/app/a.conf")); got != "alpha" {
		t.Errorf("item path content %q", got)
	}
	if got := fileMode(t, filepath.Join(some, "etc/app/a.conf")); got != 0o400 {
		t.Errorf("item mode = %o, want 400", got)
	}
	if got := fileMode(t, filepath.Join(some, "b")); got != 0o644 {
		t.Errorf("default mode = %o, want 644", got)
	}
	if _, err := os.Lstat(filepath.Join(some, "bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key not listed in items was projected: %v", err)
	}
	if _, _, ok := mountEntry(t, all); ok {
		t.Error("configMap volume must be on disk, not a mount")
	}
}

func TestConfigMapUpdateSeenThroughBindMount(t *testing.T) {
	requireRoot(t)
	m, src, _ := newTestManager(t)
	src.putConfigMap("shop", "cfg", map[string]string{"greeting": "hello", "old": "gone soon"}, nil)
	pod := podWith(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
	}}})
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["cfg"]
	dataLink, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}

	// What a container gets: a bind mount of the volume directory.
	ctr := t.TempDir()
	if err := unix.Mount(dir, ctr, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(ctr, unix.MNT_DETACH) })

	// Same content: nothing rewritten.
	if _, err := m.Setup(context.Background(), pod, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again != dataLink {
		t.Fatalf("unchanged configMap rewritten: %s -> %s", dataLink, again)
	}

	src.putConfigMap("shop", "cfg", map[string]string{"greeting": "bonjour", "new": "here"}, nil)
	if _, err := m.Setup(context.Background(), pod, nil); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{dir, ctr} {
		if got := readFile(t, filepath.Join(base, "greeting")); got != "bonjour" {
			t.Errorf("%s/greeting = %q after update, want bonjour", base, got)
		}
		if got := readFile(t, filepath.Join(base, "new")); got != "here" {
			t.Errorf("%s/new = %q", base, got)
		}
		if _, err := os.Lstat(filepath.Join(base, "old")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/old still there after the key was removed: %v", base, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, dataLink)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old version dir %s not removed: %v", dataLink, err)
	}
}

func TestConfigMapMissingAndOptional(t *testing.T) {
	m, src, _ := newTestManager(t)
	src.putConfigMap("shop", "partial", map[string]string{"a": "1"}, nil)
	cmVol := func(name, cm string, optional *bool, items ...corev1.KeyToPath) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Optional: optional, Items: items,
		}}}
	}
	tests := []struct {
		name string
		vol  corev1.Volume
		err  string
	}{
		{"missing", cmVol("v", "nope", nil), `volume "v": configmap "nope" not found`},
		{"missing not optional", cmVol("v", "nope", ptr(false)), `configmap "nope" not found`},
		{"missing optional", cmVol("v", "nope", ptr(true)), ""},
		{"missing key", cmVol("v", "partial", nil, corev1.KeyToPath{Key: "b", Path: "b"}), `configmap "partial" references non-existent key "b"`},
		{"missing key optional", cmVol("v", "partial", ptr(true), corev1.KeyToPath{Key: "b", Path: "b"}), ""},
		{"item path escapes", cmVol("v", "partial", nil, corev1.KeyToPath{Key: "a", Path: "../a"}), `must not start with '..'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := podWith(tt.vol)
			pod.UID = types.UID("uid-" + strings.ReplaceAll(tt.name, " ", "-"))
			paths, err := m.Setup(context.Background(), pod, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want containing %q", err, tt.err)
				}
				if strings.Contains(tt.err, "not found") && !apierrors.IsNotFound(err) {
					t.Fatalf("error %v does not unwrap to NotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(paths["v"])
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), "..") {
					t.Errorf("optional volume has user file %s", e.Name())
				}
			}
		})
	}
}

func TestSecretIsTmpfs(t *testing.T) {
	requireRoot(t)
	m, src, root := newTestManager(t)
	src.putSecret("shop", "creds", map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")})
	pod := podWith(corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "creds", DefaultMode: ptr(int32(0o440)),
		Items: []corev1.KeyToPath{{Key: "pass", Path: "db/password", Mode: ptr(int32(0o400))}, {Key: "user", Path: "username"}},
	}}})
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["creds"]
	if !strings.HasSuffix(dir, "/volumes/kubernetes.io~secret/creds") {
		t.Fatalf("secret path %q", dir)
	}
	if fstype, _, ok := mountEntry(t, dir); !ok || fstype != "tmpfs" {
		t.Fatalf("secret volume mounted=%v type=%q, want tmpfs", ok, fstype)
	}
	if got := readFile(t, filepath.Join(dir, "db/password")); got != "s3cret" {
		t.Errorf("password = %q", got)
	}
	if got := fileMode(t, filepath.Join(dir, "db/password")); got != 0o400 {
		t.Errorf("password mode %o, want 400", got)
	}
	if got := fileMode(t, filepath.Join(dir, "username")); got != 0o440 {
		t.Errorf("username mode %o, want 440", got)
	}

	src.putSecret("shop", "creds", map[string][]byte{"user": []byte("root"), "pass": []byte("n3w")})
	if _, err := m.Setup(context.Background(), pod, nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "db/password")); got != "n3w" {
		t.Errorf("password after update = %q", got)
	}
	if n := len(mountsUnder(t, root)); n != 1 {
		t.Errorf("%d mounts after refresh, want 1", n)
	}

	missing := podWith(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope"}}})
	missing.UID = "other"
	if _, err := m.Setup(context.Background(), missing, nil); err == nil || !strings.Contains(err.Error(), `volume "s": secret "nope" not found`) {
		t.Fatalf("missing secret error = %v", err)
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(missing.UID); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, root); len(left) != 0 {
		t.Fatalf("mounts left after Teardown: %v", left)
	}
}

func TestDownwardAPIVolume(t *testing.T) {
	m, _, _ := newTestManager(t)
	pod := podWith(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "meta/name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr(int32(0o400))},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			{Path: "side-cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "side", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		},
	}}})
	node := &corev1.Node{Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}
	paths, err := m.Setup(context.Background(), pod, node)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["info"]
	if !strings.HasSuffix(dir, "/volumes/kubernetes.io~downward-api/info") {
		t.Fatalf("downwardAPI path %q", dir)
	}
	want := map[string]string{"labels": "app=\"web\"\ntier=\"front\"", "meta/name": "web", "mem": "64", "side-cpu": "2000"}
	for p, w := range want {
		if got := readFile(t, filepath.Join(dir, p)); got != w {
			t.Errorf("%s = %q, want %q", p, got, w)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "meta/name")); got != 0o400 {
		t.Errorf("mode %o, want 400", got)
	}

	pod.Labels["release"] = "canary"
	if _, err := m.Setup(context.Background(), pod, node); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "labels")); got != "app=\"web\"\nrelease=\"canary\"\ntier=\"front\"" {
		t.Errorf("labels after relabel = %q", got)
	}

	bad := podWith(corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}},
	}}})
	bad.UID = "bad"
	if _, err := m.Setup(context.Background(), bad, node); err == nil || !strings.Contains(err.Error(), `volume "bad": downwardAPI "x": unsupported field path "spec.bogus"`) {
		t.Fatalf("bad fieldPath error = %v", err)
	}
}

func TestProjectedVolume(t *testing.T) {
	requireRoot(t)
	m, src, root := newTestManager(t)
	src.putConfigMap("shop", "cfg", map[string]string{"ca.crt": "CA"}, nil)
	src.putSecret("shop", "tls", map[string][]byte{"tls.key": []byte("KEY")})
	pod := podWith(corev1.Volume{Name: "all-in-one", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o440)),
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"},
				Items: []corev1.KeyToPath{{Key: "tls.key", Path: "keys/tls.key", Mode: ptr(int32(0o400))}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			}}},
		},
	}}})
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["all-in-one"]
	if !strings.HasSuffix(dir, "/volumes/kubernetes.io~projected/all-in-one") {
		t.Fatalf("projected path %q", dir)
	}
	if fstype, _, ok := mountEntry(t, dir); !ok || fstype != "tmpfs" {
		t.Fatalf("projected volume mounted=%v type=%q, want tmpfs", ok, fstype)
	}
	for p, w := range map[string]string{"ca.crt": "CA", "keys/tls.key": "KEY", "namespace": "shop"} {
		if got := readFile(t, filepath.Join(dir, p)); got != w {
			t.Errorf("%s = %q, want %q", p, got, w)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "ca.crt")); got != 0o440 {
		t.Errorf("ca.crt mode %o, want 440", got)
	}
	if got := fileMode(t, filepath.Join(dir, "keys/tls.key")); got != 0o400 {
		t.Errorf("tls.key mode %o, want 400", got)
	}

	token := podWith(corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
	}}})
	token.UID = "token"
	_, err = m.Setup(context.Background(), token, nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `volume "kube-api-access": projected serviceAccountToken (path "token") is not supported yet`) {
		t.Fatalf("serviceAccountToken error = %v", err)
	}
	for _, uid := range []types.UID{pod.UID, token.UID} {
		if err := m.Teardown(uid); err != nil {
			t.Fatal(err)
		}
	}
	if left := mountsUnder(t, root); len(left) != 0 {
		t.Fatalf("mounts left after Teardown: %v", left)
	}
}

func TestHostPathTypes(t *testing.T) {
	requireRoot(t)
	host := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(host, "dir"), 0o755))
	must(os.WriteFile(filepath.Join(host, "file"), []byte("x"), 0o644))
	must(unix.Mknod(filepath.Join(host, "chr"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(host, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))))
	ln, err := net.Listen("unix", filepath.Join(host, "sock"))
	must(err)
	t.Cleanup(func() { ln.Close() })

	tests := []struct {
		name, path string
		typ        corev1.HostPathType
		err        string
		isDir      bool
		isFile     bool
	}{
		{name: "unset type checks nothing", path: "missing", typ: corev1.HostPathUnset},
		{name: "directory", path: "dir", typ: corev1.HostPathDirectory},
		{name: "directory missing", path: "missing", typ: corev1.HostPathDirectory, err: "does not exist"},
		{name: "directory on file", path: "file", typ: corev1.HostPathDirectory, err: "is not a directory"},
		{name: "directory or create makes it", path: "new/sub", typ: corev1.HostPathDirectoryOrCreate, isDir: true},
		{name: "directory or create on file", path: "file", typ: corev1.HostPathDirectoryOrCreate, err: "is not a directory"},
		{name: "file", path: "file", typ: corev1.HostPathFile},
		{name: "file on dir", path: "dir", typ: corev1.HostPathFile, err: "is not a file"},
		{name: "file or create makes it", path: "dir/created", typ: corev1.HostPathFileOrCreate, isFile: true},
		{name: "file or create needs the parent", path: "nodir/created", typ: corev1.HostPathFileOrCreate, err: "create file"},
		{name: "socket", path: "sock", typ: corev1.HostPathSocket},
		{name: "socket on file", path: "file", typ: corev1.HostPathSocket, err: "is not a socket file"},
		{name: "char device", path: "chr", typ: corev1.HostPathCharDev},
		{name: "char device on block", path: "blk", typ: corev1.HostPathCharDev, err: "is not a character device"},
		{name: "block device", path: "blk", typ: corev1.HostPathBlockDev},
		{name: "block device on char", path: "chr", typ: corev1.HostPathBlockDev, err: "is not a block device"},
		{name: "unknown type", path: "dir", typ: "Weird", err: `unknown type "Weird"`},
	}
	m, _, _ := newTestManager(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(host, tt.path)
			pod := podWith(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: p, Type: ptr(tt.typ)}}})
			paths, err := m.Setup(context.Background(), pod, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `volume "h"`) {
					t.Fatalf("error = %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if paths["h"] != p {
				t.Fatalf("hostPath volume path = %q, want the host path %q", paths["h"], p)
			}
			if tt.isDir {
				if st, err := os.Stat(p); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
					t.Fatalf("DirectoryOrCreate left %v, %v", st, err)
				}
			}
			if tt.isFile {
				if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
					t.Fatalf("FileOrCreate left %v, %v", st, err)
				}
			}
		})
	}
	if _, err := m.Setup(context.Background(), podWith(corev1.Volume{Name: "rel", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "var/log"}}}), nil); err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("relative hostPath error = %v", err)
	}
}

func TestUnsupportedVolumeKindsFailClearly(t *testing.T) {
	m, _, _ := newTestManager(t)
	pod := podWith(
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
		corev1.Volume{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}}},
	)
	paths, err := m.Setup(context.Background(), pod, nil)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error = %v, want ErrUnsupported", err)
	}
	for _, want := range []string{
		`volume "data": persistentVolumeClaim volumes are not supported yet`,
		`volume "share": nfs volumes are not supported yet`,
		`volume "huge": emptyDir medium "HugePages" is not supported yet`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if paths["scratch"] == "" {
		t.Error("a supported volume next to unsupported ones was not set up")
	}
}

func TestFSGroupOwnership(t *testing.T) {
	requireRoot(t)
	m, src, _ := newTestManager(t)
	src.putSecret("shop", "creds", map[string][]byte{"key": []byte("k")})
	pod := podWith(
		corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "creds", DefaultMode: ptr(int32(0o400)),
			Items: []corev1.KeyToPath{{Key: "key", Path: "tls/key"}},
		}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	gidOf := func(p string) (uint32, os.FileMode) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Gid, st.Mode()
	}
	for _, p := range []string{filepath.Join(paths["creds"], "tls/key"), filepath.Join(paths["creds"], "tls")} {
		if gid, _ := gidOf(p); gid != 2000 {
			t.Errorf("%s gid = %d, want fsGroup 2000", p, gid)
		}
	}
	if _, mode := gidOf(filepath.Join(paths["creds"], "tls/key")); mode.Perm() != 0o440 {
		t.Errorf("secret file mode %o with fsGroup, want 440", mode.Perm())
	}
	gid, mode := gidOf(paths["scratch"])
	if gid != 2000 || mode&os.ModeSetgid == 0 || mode.Perm() != 0o777 {
		t.Errorf("emptyDir gid=%d mode=%v, want 2000 and setgid 777", gid, mode)
	}
	// The group bits are part of the payload, so a refresh does not rewrite.
	before, _ := os.Readlink(filepath.Join(paths["creds"], "..data"))
	if _, err := m.Setup(context.Background(), pod, nil); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(paths["creds"], "..data")); after != before {
		t.Errorf("unchanged secret rewritten with fsGroup: %s -> %s", before, after)
	}
}

func TestRootThroughSymlinkMountsOnce(t *testing.T) {
	requireRoot(t)
	real := t.TempDir()
	t.Cleanup(func() {
		if err := unmountAll(real); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	link := filepath.Join(t.TempDir(), "kubelet")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	m := New(link, &memSources{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pod := podWith(corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
	for range 2 {
		if _, err := m.Setup(context.Background(), pod, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(mountsUnder(t, real)); n != 1 {
		t.Fatalf("%d tmpfs mounts after two Setups through a symlinked root, want 1", n)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, real); len(left) != 0 {
		t.Fatalf("mounts left: %v", left)
	}
}
