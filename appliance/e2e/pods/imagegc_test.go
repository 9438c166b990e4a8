package pods

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestImageGarbageCollection: with the disk above --image-gc-high-threshold,
// the kubelet removes images no pod uses and keeps the one a running pod
// uses. The thresholds (1 % and 0 %) are below any real disk's use, so
// collection must run on every machine.
func TestImageGarbageCollection(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t, func(cfg *appliance.Config) {
		cfg.ImageGCHighThreshold, cfg.ImageGCLowThreshold = 1, 0
	})
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, busyboxPod("keeper", "sleep", "3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "keeper", "Running", running)

	// A second name for the same image, used by no pod.
	rt := c.App.Agent().Runtime()
	nctx := rt.WithNamespace(ctx)
	img, err := rt.Client().ImageService().Get(nctx, testcluster.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	const unused = "appliance.test/unused:1"
	if _, err := rt.Client().ImageService().Create(nctx, images.Image{Name: unused, Target: img.Target}); err != nil {
		t.Fatal(err)
	}

	var names []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 45*time.Second, true, func(context.Context) (bool, error) {
		imgs, err := rt.ListImages(ctx)
		if err != nil {
			return false, err
		}
		names = names[:0]
		for _, i := range imgs {
			names = append(names, i.Name)
		}
		return !slices.Contains(names, unused), nil
	})
	if err != nil {
		t.Fatalf("unused image still there after 45 s (images: %v): %v", names, err)
	}
	if !slices.Contains(names, testcluster.BusyboxImage) {
		t.Fatalf("the running pod's image %s was collected too (images left: %v)", testcluster.BusyboxImage, names)
	}
	p, err := c.Client.CoreV1().Pods("default").Get(ctx, "keeper", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !running(p) {
		t.Fatalf("pod keeper not running after collection: %+v", p.Status)
	}
}
