package errors_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
)

// watchFrom opens a watch on the ConfigMaps of ns from rv and reports how the
// server answered: gone is the Status of a 410 (as an HTTP error or, as Kubernetes
// sends it, as the watch's first ERROR event); otherwise err says why not (history
// replayed, another error).
func watchFrom(client kubernetes.Interface, ns, rv string) (gone *metav1.Status, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		var s apierrors.APIStatus
		if errors.As(err, &s) && s.Status().Code == http.StatusGone {
			st := s.Status()
			return &st, nil
		}
		return nil, err
	}
	defer w.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			return nil, errors.New("watch closed without an event")
		}
		if ev.Type == watch.Error {
			if st, ok := ev.Object.(*metav1.Status); ok && st.Code == http.StatusGone {
				return st, nil
			}
			return nil, fmt.Errorf("watch error event: %+v", ev.Object)
		}
		return nil, fmt.Errorf("history from %s still served (first event %s)", rv, ev.Type)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func expectExpired(t *testing.T, st *metav1.Status) {
	t.Helper()
	if st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("watch answer: code %d reason %q, want 410 Expired (message %q)", st.Code, st.Reason, st.Message)
	}
}

// compacted reports whether etcd no longer holds revision rev.
func compacted(cli *clientv3.Client, key string, rev int64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Get(ctx, key, clientv3.WithRev(rev))
	if errors.Is(err, rpctypes.ErrCompacted) {
		return true, nil
	}
	if err == nil {
		return false, fmt.Errorf("revision %d still readable", rev)
	}
	return false, err
}

// TestWatchGoneAfterCompactionAndRestart: a client holds the resourceVersion of an
// older read; etcd compacts past it and the server restarts (a new watch cache,
// listed at a newer revision). Its watch must get 410 Gone with reason Expired, not
// a silent gap; and the refusal changes nothing. The server runs as a child process
// so that a failed restart cannot take the test binary down with it.
func TestWatchGoneAfterCompactionAndRestart(t *testing.T) {
	pc := testcluster.NewProcessConfig(t)
	p1 := testcluster.StartProcess(t, pc)
	ctx := context.Background()
	const ns = "watch-restart"
	createNamespace(t, p1.Client, ns)
	cm, err := p1.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target"}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv0 := cm.ResourceVersion
	for i := 1; i <= 5; i++ {
		cm.Data["v"] = fmt.Sprint(i)
		if cm, err = p1.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	cli := testcluster.EtcdClient(t, pc.DataDir, pc.EtcdClientPort)
	key := "/registry/core/configmaps/" + ns + "/target"
	head, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Kvs) != 1 {
		t.Fatalf("etcd key %s: %d values, want 1", key, len(head.Kvs))
	}
	if _, err := cli.Compact(ctx, head.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact etcd at %d: %v", head.Header.Revision, err)
	}
	var rev0 int64
	fmt.Sscan(rv0, &rev0)
	if ok, err := compacted(cli, key, rev0); !ok {
		t.Fatalf("revision %s not compacted: %v", rv0, err)
	}
	cli.Close()

	if err := p1.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p1.WaitExit(30 * time.Second) {
		t.Fatalf("server did not stop on SIGTERM")
	}
	p2 := testcluster.StartProcess(t, pc)
	var gone *metav1.Status
	poll(t, 30*time.Second, 100*time.Millisecond, "watch from compacted rv "+rv0+" answers 410", func() (bool, error) {
		st, err := watchFrom(p2.Client, ns, rv0)
		gone = st
		return st != nil, err
	})
	expectExpired(t, gone)

	got, err := p2.Client.CoreV1().ConfigMaps(ns).Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["v"] != "5" || got.ResourceVersion != cm.ResourceVersion {
		t.Fatalf("after restart: v=%q rv=%s, want v=5 rv=%s", got.Data["v"], got.ResourceVersion, cm.ResourceVersion)
	}
	expectConfigMaps(t, p2.Client, ns, "target")
	// A watch from the current resourceVersion is fine.
	w, err := p2.Client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: got.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from the current rv: %v", err)
	}
	w.Stop()
}

// TestWatchGoneAfterCompactionChurn: the running server compacts etcd on its own
// (short CompactionInterval) while objects keep changing; once the watch cache no
// longer holds the old revision either, a watch from it gets 410 Gone (Expired).
//
// The watch cache keeps at least 75 s of events (k8s.io/apiserver's
// EventsHistoryWindow, which it does not allow below 75 s) and doubles its size
// while full of fresher events, so the old revision leaves it only when the cache
// is full and its oldest event is older than that. A steady, low write rate (5/s)
// fills a 400-event cache at about 80 s; faster writes would grow it further and
// take longer. This test therefore takes about 80 s; -short skips it.
func TestWatchGoneAfterCompactionChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~80 s: the watch cache keeps 75 s of history")
	}
	c := testcluster.Start(t, testcluster.APIOnly, func(cfg *appliance.Config) { cfg.CompactionInterval = time.Second })
	ctx := context.Background()
	const ns = "watch-churn"
	createNamespace(t, c.Client, ns)
	cms := c.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target"}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv0 := cm.ResourceVersion
	var rev0 int64
	fmt.Sscan(rv0, &rev0)
	cli := c.EtcdClient(t)
	key := "/registry/core/configmaps/" + ns + "/target"

	start := time.Now()
	writes, etcdCompacted := 0, false
	var gone *metav1.Status
	poll(t, 4*time.Minute, 200*time.Millisecond, "watch from rv "+rv0+" answers 410", func() (bool, error) {
		cm.Data["v"] = fmt.Sprint(writes + 1)
		next, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update %d: %v", writes+1, err)
		}
		cm, writes = next, writes+1
		if !etcdCompacted {
			if etcdCompacted, _ = compacted(cli, key, rev0); etcdCompacted {
				t.Logf("etcd compacted past %s after %s", rv0, time.Since(start).Round(time.Millisecond))
			}
		}
		st, err := watchFrom(c.Client, ns, rv0)
		if st != nil && !etcdCompacted {
			t.Fatalf("410 before etcd compacted rv %s", rv0)
		}
		gone = st
		return st != nil, err
	})
	t.Logf("410 after %s and %d updates", time.Since(start).Round(time.Millisecond), writes)
	expectExpired(t, gone)
	got, err := cms.Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != cm.ResourceVersion || got.Data["v"] != fmt.Sprint(writes) {
		t.Fatalf("after the 410: v=%q rv=%s, want v=%d rv=%s", got.Data["v"], got.ResourceVersion, writes, cm.ResourceVersion)
	}
	expectConfigMaps(t, c.Client, ns, "target")
}
