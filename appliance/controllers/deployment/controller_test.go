package deployment

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCacheBehind: a sync waits while the cache lacks a ReplicaSet write of
// ours, and forgets the write once seen or too old.
func TestCacheBehind(t *testing.T) {
	at := func(name string, gen int64) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen}}
	}
	tests := []struct {
		name      string
		written   []*appsv1.ReplicaSet
		cache     []*appsv1.ReplicaSet
		elapsed   time.Duration
		want      bool
		wantAfter bool // asked again right after
	}{
		{name: "nothing written", cache: []*appsv1.ReplicaSet{at("a", 1)}},
		{name: "cache has it", written: []*appsv1.ReplicaSet{at("a", 2)}, cache: []*appsv1.ReplicaSet{at("a", 2)}},
		{name: "cache has newer", written: []*appsv1.ReplicaSet{at("a", 2)}, cache: []*appsv1.ReplicaSet{at("a", 3)}},
		{name: "older generation in cache", written: []*appsv1.ReplicaSet{at("a", 2)}, cache: []*appsv1.ReplicaSet{at("a", 1)}, want: true, wantAfter: true},
		{name: "created, not in cache yet", written: []*appsv1.ReplicaSet{at("b", 1)}, cache: []*appsv1.ReplicaSet{at("a", 1)}, want: true, wantAfter: true},
		{name: "given up after the TTL", written: []*appsv1.ReplicaSet{at("b", 1)}, elapsed: writtenTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			c := &Controller{written: map[string]map[string]writtenRS{}, now: func() time.Time { return now }}
			for _, rs := range tt.written {
				c.noteWritten("ns/web", rs)
			}
			now = now.Add(tt.elapsed)
			if got := c.cacheBehind("ns/web", tt.cache); got != tt.want {
				t.Errorf("cacheBehind = %v, want %v", got, tt.want)
			}
			if got := c.cacheBehind("ns/web", tt.cache); got != tt.wantAfter {
				t.Errorf("second cacheBehind = %v, want %v", got, tt.wantAfter)
			}
			if got := c.cacheBehind("other/web", tt.cache); got {
				t.Error("another Deployment is held back")
			}
		})
	}
}
