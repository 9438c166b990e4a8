package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Image is one named image in our namespace.
type Image struct {
	Name   string // normalized, e.g. docker.io/library/busybox:latest
	Digest string // the manifest (or index) digest
	Size   int64  // bytes of content for this platform (compressed layers, config, manifest)
}

// NormalizeImage turns a user's image reference into the full name the
// runtime stores: "busybox" -> "docker.io/library/busybox:latest", as the
// kubelet and containerd's CRI do.
func NormalizeImage(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidImageName, ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// Import loads an OCI image-layout tar or a `docker save` tar, unpacks every
// image in it into the snapshotter and returns the image names. Names come
// from io.containerd.image.name, then org.opencontainers.image.ref.name when
// that is a full reference; manifests with no name are refused.
func (r *Runtime) Import(ctx context.Context, rd io.Reader) ([]string, error) {
	ctx = r.WithNamespace(ctx)
	imgs, err := r.client.Import(ctx, rd, client.WithImageRefTranslator(func(name string) string {
		// A bare tag ("1") names no repository; skip it rather than guess.
		if !strings.ContainsAny(name, "/:@") {
			return ""
		}
		n, err := NormalizeImage(name)
		if err != nil {
			return ""
		}
		return n
	}))
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w", err)
	}
	if len(imgs) == 0 {
		return nil, errors.New("import image archive: it names no image (docker save NAME:TAG, or an OCI layout with the io.containerd.image.name or org.opencontainers.image.ref.name annotation)")
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := client.NewImage(r.client, img).Unpack(ctx, r.snapshotter); err != nil {
			return nil, fmt.Errorf("import image archive: unpack %s into %s: %w", img.Name, r.snapshotter, err)
		}
		names = append(names, img.Name)
		r.log.Info("image imported", "image", img.Name, "digest", img.Target.Digest)
	}
	return names, nil
}

// ListImages lists the images in our namespace, sorted by name.
func (r *Runtime) ListImages(ctx context.Context) ([]Image, error) {
	ctx = r.WithNamespace(ctx)
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]Image, 0, len(imgs))
	for _, img := range imgs {
		size, err := client.NewImage(r.client, img).Size(ctx)
		if err != nil {
			// Content for another platform, or pruned: still list the name.
			r.log.Debug("image size", "image", img.Name, "err", err)
		}
		out = append(out, Image{Name: img.Name, Digest: img.Target.Digest.String(), Size: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveImage removes an image by name ("busybox" finds
// docker.io/library/busybox:latest). Its content and snapshots go with the
// last name that references them.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	ctx = r.WithNamespace(ctx)
	is := r.client.ImageService()
	err := is.Delete(ctx, ref, images.SynchronousDelete())
	if errdefs.IsNotFound(err) {
		if name, nerr := NormalizeImage(ref); nerr == nil && name != ref {
			err = is.Delete(ctx, name, images.SynchronousDelete())
		}
	}
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %q: %w", ref, ErrImageNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove image %q: %w", ref, err)
	}
	r.log.Info("image removed", "image", ref)
	return nil
}

// EnsureImage makes the image present and unpacked, following the pull
// policy as the kubelet does: IfNotPresent pulls only when absent, Always
// pulls every time, Never fails with ErrImageNeverPull when absent. An empty
// policy is the API default: Always for :latest or no tag, else IfNotPresent.
// Credentials come from the pod's pull secrets (kubernetes.io/dockerconfigjson
// and kubernetes.io/dockercfg), else from registries.yaml. A failed pull
// wraps ErrPullFailed and, if the registry has no such image, ErrImageNotFound.
// onPull, when not nil, is called just before a pull starts (the kubelet's
// "Pulling" event); the image is looked up only once either way.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, pullSecrets []corev1.Secret, onPull func()) (img client.Image, pulled bool, err error) {
	ctx = r.WithNamespace(ctx)
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %q: %w", ErrInvalidImageName, ref, err)
	}
	named = reference.TagNameOnly(named)
	name := named.String()
	switch policy {
	case "":
		policy = corev1.PullIfNotPresent
		if t, ok := named.(reference.Tagged); ok && t.Tag() == "latest" {
			if _, digested := named.(reference.Digested); !digested {
				policy = corev1.PullAlways
			}
		}
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return nil, false, fmt.Errorf("image %q: unknown pull policy %q", ref, policy)
	}
	if policy != corev1.PullAlways {
		img, err := r.client.GetImage(ctx, name)
		switch {
		case err == nil:
			if err := r.ensureUnpacked(ctx, img); err != nil {
				return nil, false, err
			}
			return img, false, nil
		case !errdefs.IsNotFound(err):
			return nil, false, fmt.Errorf("look up image %q: %w", name, err)
		case policy == corev1.PullNever:
			return nil, false, fmt.Errorf("%w: container image %q is not present with pull policy of Never", ErrImageNeverPull, name)
		}
	}
	// Pods starting together often want the same image: one pull serves
	// them all (keyed by name and secrets, so credentials never leak across).
	if onPull != nil {
		onPull()
	}
	key := name + "\x00" + secretsKey(pullSecrets)
	v, err, _ := r.pulls.Do(key, func() (any, error) { return r.pull(ctx, named, pullSecrets) })
	if err != nil {
		return nil, false, err
	}
	return v.(client.Image), true, nil
}

func secretsKey(secrets []corev1.Secret) string {
	var b strings.Builder
	for _, s := range secrets {
		fmt.Fprintf(&b, "%s/%s@%s,", s.Namespace, s.Name, s.ResourceVersion)
	}
	return b.String()
}

func (r *Runtime) ensureUnpacked(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, r.snapshotter)
	if err != nil {
		return fmt.Errorf("image %q: check unpacked: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.snapshotter); err != nil {
		return fmt.Errorf("image %q: unpack into %s: %w", img.Name(), r.snapshotter, err)
	}
	return nil
}

// pull tries each matching pull-secret credential in turn (most specific
// first), or, with none, the registries.yaml credentials; as the kubelet does,
// the last error is returned.
func (r *Runtime) pull(ctx context.Context, named reference.Named, secrets []corev1.Secret) (client.Image, error) {
	name := named.String()
	creds, err := secretCredentials(secrets, reference.Domain(named), reference.Path(named))
	if err != nil {
		return nil, &pullError{image: name, err: err}
	}
	attempts := []*credential{nil}
	if len(creds) > 0 {
		attempts = attempts[:0]
		for i := range creds {
			attempts = append(attempts, &creds[i])
		}
	}
	for _, cred := range attempts {
		resolver := docker.NewResolver(docker.ResolverOptions{Hosts: r.registries.hosts(cred)})
		var img client.Image
		img, err = r.client.Pull(ctx, name,
			client.WithResolver(resolver),
			client.WithPullUnpack,
			client.WithPullSnapshotter(r.snapshotter))
		if err == nil {
			r.log.Info("image pulled", "image", name, "digest", img.Target().Digest)
			return img, nil
		}
	}
	r.log.Warn("pull image", "image", name, "err", err)
	return nil, &pullError{image: name, notFound: errdefs.IsNotFound(err), err: err}
}

// pullError is ErrPullFailed and, when the registry has no such image,
// ErrImageNotFound; its text is fit for the kubelet's Failed event.
type pullError struct {
	image    string
	notFound bool
	err      error
}

func (e *pullError) Error() string {
	return fmt.Sprintf("failed to pull image %q: %v", e.image, e.err)
}

func (e *pullError) Unwrap() error { return e.err }

func (e *pullError) Is(target error) bool {
	return target == ErrPullFailed || (e.notFound && target == ErrImageNotFound)
}

// GCImages removes images when the filesystem holding Root is above
// highPercent used: images for which inUse is false, oldest first, until
// usage is below lowPercent, as the kubelet's image garbage collector does
// (it orders by last use; containerd records creation, which we use). With
// no Root (an existing containerd) there is nothing to measure and it does
// nothing.
func (r *Runtime) GCImages(ctx context.Context, inUse func(ref string) bool, highPercent, lowPercent int) error {
	if lowPercent < 0 || highPercent > 100 || lowPercent > highPercent {
		return fmt.Errorf("image gc: want 0 <= low (%d) <= high (%d) <= 100", lowPercent, highPercent)
	}
	root, err := r.imageRoot(ctx)
	if err != nil {
		return fmt.Errorf("image gc: %w", err)
	}
	usage, err := r.diskUsage(root)
	if err != nil {
		return fmt.Errorf("image gc: %w", err)
	}
	if usage <= highPercent {
		return nil
	}
	ctx = r.WithNamespace(ctx)
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		return fmt.Errorf("image gc: list images: %w", err)
	}
	sort.SliceStable(imgs, func(i, j int) bool { return imgs[i].CreatedAt.Before(imgs[j].CreatedAt) })
	r.log.Info("image gc: disk above threshold", "root", root, "used-percent", usage, "high-percent", highPercent, "low-percent", lowPercent)
	for _, img := range imgs {
		if usage < lowPercent {
			break
		}
		if inUse(img.Name) {
			continue
		}
		if err := r.client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("image gc: remove %s: %w", img.Name, err)
		}
		r.log.Info("image gc: removed", "image", img.Name)
		if usage, err = r.diskUsage(root); err != nil {
			return fmt.Errorf("image gc: %w", err)
		}
	}
	return nil
}

// imageRoot is the directory whose filesystem holds the images: our own
// containerd's root, or for an existing containerd the root that its
// snapshotter (where layers are unpacked), else its content store, reports
// through the introspection service.
func (r *Runtime) imageRoot(ctx context.Context) (string, error) {
	if r.cfg.Root != "" {
		return r.cfg.Root, nil
	}
	r.mu.Lock()
	root := r.extRoot
	r.mu.Unlock()
	if root != "" {
		return root, nil
	}
	resp, err := r.client.IntrospectionService().Plugins(ctx, `type=="io.containerd.snapshotter.v1"`, `type=="io.containerd.content.v1"`)
	if err != nil {
		return "", fmt.Errorf("find containerd's image root: %w", err)
	}
	for _, p := range resp.Plugins {
		if p.InitErr == nil && p.Exports["root"] != "" && (p.ID == r.snapshotter || root == "") {
			root = p.Exports["root"]
		}
	}
	if root == "" {
		return "", fmt.Errorf("containerd at %s reports no snapshotter or content root", r.Socket())
	}
	r.mu.Lock()
	r.extRoot = root
	r.mu.Unlock()
	return root, nil
}

func statfsUsage(path string) (int, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	if st.Blocks == 0 {
		return 0, nil
	}
	// As the kubelet's eviction signals: used = capacity - available.
	used := st.Blocks - st.Bavail
	return int((used*100 + st.Blocks - 1) / st.Blocks), nil
}
