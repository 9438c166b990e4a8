package server

import (
	"context"
	"encoding/json"
	"net/http"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// StatsProvider is implemented by a Provider that reports resource usage: the
// kubelet's /stats/summary, which metrics-server and `kubectl top` read.
type StatsProvider interface {
	Summary(ctx context.Context) (*statsv1alpha1.Summary, error)
}

func (s *Server) statsSummary(w http.ResponseWriter, r *http.Request) {
	sp, ok := s.p.(StatsProvider)
	if !ok {
		http.Error(w, "stats are not available on this node", http.StatusNotFound)
		return
	}
	sum, err := sp.Summary(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sum)
}
