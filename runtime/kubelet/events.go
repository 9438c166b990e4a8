package kubelet

import (
	"context"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// eventLoop turns containerd's task events into pod syncs: an exit resyncs the
// pod at once (restart, status), an OOM is remembered so the exit reads
// OOMKilled. The subscription is renewed if containerd restarts.
func (k *Kubelet) eventLoop(ctx context.Context) {
	for ctx.Err() == nil {
		evs, errs := k.rt.Client().Subscribe(ctx, `topic=="/tasks/exit"`, `topic=="/tasks/oom"`)
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					k.log.Debug("containerd events", "err", err)
				}
				break loop
			case e := <-evs:
				if e == nil || e.Namespace != k.rt.Namespace() {
					continue
				}
				v, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					continue
				}
				switch ev := v.(type) {
				case *apievents.TaskExit:
					if ev.ID == ev.ContainerID {
						k.kickContainer(ctx, ev.ContainerID)
					}
				case *apievents.TaskOOM:
					k.rec.oomMark(ev.ContainerID)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (k *Kubelet) kickContainer(ctx context.Context, id string) {
	c, err := k.rt.Client().LoadContainer(k.rt.WithNamespace(ctx), id)
	if err != nil {
		return
	}
	labels, err := c.Labels(k.rt.WithNamespace(ctx))
	if err != nil {
		return
	}
	if w := k.workerFor(types.UID(labels[labelPodUID])); w != nil {
		w.kickNow()
	}
}

// oom remembers containers the kernel's OOM killer hit.
type oomSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (r *recorder) oomMark(id string) {
	r.oom.mu.Lock()
	defer r.oom.mu.Unlock()
	if r.oom.ids == nil {
		r.oom.ids = map[string]bool{}
	}
	r.oom.ids[id] = true
}

func (r *recorder) oomSeen(id string) bool {
	r.oom.mu.Lock()
	defer r.oom.mu.Unlock()
	return r.oom.ids[id]
}

func (r *recorder) oomForget(id string) {
	r.oom.mu.Lock()
	defer r.oom.mu.Unlock()
	delete(r.oom.ids, id)
}

// collectImages removes unused images when the disk is above the high
// threshold (85 % full by default), down to the low one (80 %), as the
// kubelet's image garbage collector does.
func (k *Kubelet) collectImages(ctx context.Context, store cache.Store) {
	used := map[string]bool{}
	for _, obj := range store.List() {
		p := obj.(*corev1.Pod)
		for _, c := range p.Spec.InitContainers {
			used[c.Image] = true
		}
		for _, c := range p.Spec.Containers {
			used[c.Image] = true
		}
	}
	if err := k.rt.GCImages(ctx, func(ref string) bool { return used[ref] || imageInUse(used, ref) }, k.cfg.ImageGCHighPercent, k.cfg.ImageGCLowPercent); err != nil {
		k.log.Warn("image garbage collection", "err", err)
	}
}

func imageInUse(used map[string]bool, ref string) bool {
	for u := range used {
		if normalizeRef(u) == ref {
			return true
		}
	}
	return false
}

// normalizeRef is the full reference containerd stores ("busybox" ->
// docker.io/library/busybox:latest).
func normalizeRef(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(n).String()
}
