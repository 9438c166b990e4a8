package simulate_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/appliance/scheduler"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestScale registers 500 hollow nodes and runs 5,000 pods on them through the
// scheduler, then removes the nodes. It takes a few minutes on two cores, so it
// runs only with APPLIANCE_SCALE_TEST=1; docs/PERFORMANCE.md's benchmark is the
// measured version of it.
func TestScale(t *testing.T) {
	if os.Getenv("APPLIANCE_SCALE_TEST") == "" {
		t.Skip("set APPLIANCE_SCALE_TEST=1 to run")
	}
	const nodes, pods = 500, 5000
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := time.Now()
	sim, err := simulate.Start(ctx, simulate.Config{REST: c.REST, Nodes: nodes, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Logf("%d nodes registered in %s", nodes, time.Since(start).Round(time.Millisecond))

	s, err := scheduler.New(scheduler.Config{REST: c.REST, Log: testLogger(t), SchedulerName: testScheduler})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	start = time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%d", i), Namespace: "default", Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%20)}},
					Spec: corev1.PodSpec{SchedulerName: testScheduler, Containers: []corev1.Container{{Name: "app", Image: "nginx",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
				}
				if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d creates failed", failed.Load())
	}
	t.Logf("%d pods created in %s", pods, time.Since(start).Round(time.Millisecond))

	deadline := time.Now().Add(10 * time.Minute)
	for {
		list, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running", ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == pods {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d pods running", len(list.Items), pods)
		}
		time.Sleep(500 * time.Millisecond) // poll interval
	}
	t.Logf("%d pods running %s after the first create (%.0f pods/s end to end)", pods, time.Since(start).Round(time.Millisecond), pods/time.Since(start).Seconds())

	start = time.Now()
	sim.Close()
	t.Logf("nodes removed in %s", time.Since(start).Round(time.Millisecond))
}
