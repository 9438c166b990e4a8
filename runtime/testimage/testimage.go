// Package testimage builds a small, real container image for tests: Debian's
// busybox-static as /bin/busybox with its applets linked under /bin. No registry
// is reachable on our build machines, so tests import the image as a tar
// (BusyboxTar, BusyboxDockerTar) or pull it from an in-process registry
// (Registry) to exercise real pulls.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static package installs the binary.
const BusyboxPath = "/bin/busybox"

// requiredApplets must be present in the busybox binary; tests rely on them.
var requiredApplets = []string{
	"sh", "httpd", "wget", "sleep", "cat", "echo", "ls", "env", "id", "hostname",
	"nc", "dd", "head", "true", "false", "ps", "kill", "mkdir", "touch", "grep",
}

var (
	buildOnce sync.Once
	built     v1.Image
	buildErr  error
)

// BusyboxImage returns the image (built once per test binary): one layer with
// /bin/busybox and a symlink per applet, /etc/passwd and /etc/group with root
// and nobody, /tmp, and a config with Cmd ["sh"] for this machine's platform.
func BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildImage() })
	if buildErr != nil {
		t.Fatalf("build busybox image: %v", buildErr)
	}
	return built
}

func buildImage() (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read %s (apt-get install busybox-static): %w", BusyboxPath, err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", BusyboxPath, err)
	}
	applets := strings.Fields(string(out))
	have := map[string]bool{}
	for _, a := range applets {
		have[a] = true
	}
	for _, a := range requiredApplets {
		if !have[a] {
			return nil, fmt.Errorf("%s lacks the applet %q", BusyboxPath, a)
		}
	}
	layerTar, err := layerTar(bin, applets)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

func layerTar(bin []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "root", "proc", "sys", "dev", "var", "var/www"} {
		if err := dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BusyboxTar writes the busybox image as an OCI image-layout tar named name
// (e.g. "appliance.test/busybox:1"; the full name goes into the
// io.containerd.image.name annotation, the tag into
// org.opencontainers.image.ref.name, as `ctr export` does) and returns its path.
func BusyboxTar(t testing.TB, imageName string) string {
	t.Helper()
	ref, err := name.ParseReference(imageName)
	if err != nil {
		t.Fatalf("image name %q: %v", imageName, err)
	}
	img := BusyboxImage(t)
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatalf("write OCI layout: %v", err)
	}
	ann := map[string]string{"io.containerd.image.name": ref.Name(), "org.opencontainers.image.ref.name": ref.Identifier()}
	if err := lp.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
		t.Fatalf("append image to OCI layout: %v", err)
	}
	path := filepath.Join(dir, "busybox-oci.tar")
	if err := tarDir(string(lp), path); err != nil {
		t.Fatalf("tar OCI layout: %v", err)
	}
	return path
}

// BusyboxDockerTar writes the busybox image in `docker save` format (a
// manifest.json naming the repo tags) and returns its path.
func BusyboxDockerTar(t testing.TB, imageName string) string {
	t.Helper()
	tag, err := name.NewTag(imageName)
	if err != nil {
		t.Fatalf("image name %q: %v", imageName, err)
	}
	path := filepath.Join(t.TempDir(), "busybox-docker.tar")
	if err := tarball.WriteToFile(path, tag, BusyboxImage(t)); err != nil {
		t.Fatalf("write docker tar: %v", err)
	}
	return path
}

func tarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// Registry serves an in-process registry (go-containerregistry's) over plain
// HTTP on 127.0.0.1 with the busybox image pushed under each of images
// ("repo:tag" or "repo/path:tag"), and returns its host:port. It stops at
// cleanup.
func Registry(t testing.TB, images ...string) (host string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registry listen: %v", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	host = ln.Addr().String()
	img := BusyboxImage(t)
	for _, im := range images {
		if err := push("http://"+host, im, img); err != nil {
			t.Fatalf("push %s to %s: %v", im, host, err)
		}
	}
	return host
}

// push uploads img as repo:tag through the distribution API (monolithic blob
// uploads, then the manifest). go-containerregistry's remote package would do
// it too, but it drags docker/cli into the module graph.
func push(base, repoTag string, img v1.Image) error {
	repo, tag, ok := strings.Cut(repoTag, ":")
	if !ok || repo == "" || tag == "" {
		return fmt.Errorf("want repo:tag, got %q", repoTag)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	put := func(method, url, contentType string, body []byte) error {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
		}
		return nil
	}
	blob := func(d v1.Hash, data []byte) error {
		return put(http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", base, repo, d), "application/octet-stream", data)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := blob(d, data); err != nil {
			return err
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := blob(cfgName, cfg); err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	return put(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), string(mt), manifest)
}

// Proxy serves the registry at target (host:port, plain HTTP) on a new
// loopback port, counting manifest requests and, if user is set, demanding
// HTTP basic auth with user and pass, as a private registry does. It stops at
// cleanup.
func Proxy(t testing.TB, target, user, pass string) (host string, manifests *atomic.Int32) {
	t.Helper()
	manifests = &atomic.Int32{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(req.URL.Path, "/manifests/") {
			manifests.Add(1)
		}
		rp.ServeHTTP(w, req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), manifests
}
