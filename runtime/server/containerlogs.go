package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/appliance/appliance/runtime/logs"
)

// containerLogs serves GET /containerLogs/{namespace}/{pod}/{container} with
// v1.PodLogOptions in the query, as the kubelet does: 400 for a query that
// does not parse, 422 for options that are invalid together, 404 for an
// unknown pod or container.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	opts, previous, err := parseLogOptions(q, time.Now())
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errInvalidLogOptions) {
			code = http.StatusUnprocessableEntity
		}
		http.Error(w, err.Error(), code)
		return
	}
	path, running, err := s.p.LogPath(ns, pod, container, previous)
	if err != nil {
		s.writeError(w, fmt.Errorf("container %q in pod %s/%s: %w", container, ns, pod, err))
		return
	}
	if !opts.Follow || running == nil {
		running = func() bool { return false }
	}
	w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: w}
	if err := logs.Read(r.Context(), path, opts, fw, fw, running); err != nil {
		if fw.wrote {
			s.log.Debug("container logs ended", "namespace", ns, "pod", pod, "container", container, "err", err)
			return
		}
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		s.writeError(w, err)
	}
}

// writeError answers before any body was written: 404 for ErrNotFound,
// else 400 (the kubelet's answer for log and stream failures).
func (s *Server) writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

// flushWriter sends each write at once, so followers see lines as they come.
type flushWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.wrote = f.wrote || n > 0
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

var errInvalidLogOptions = errors.New("invalid log options")

// parseLogOptions reads the kubelet's query parameters: follow, previous,
// tailLines, sinceSeconds, sinceTime, timestamps, limitBytes. Booleans parse
// as apimachinery's query decoding does ("true", "1", ... ; empty is true).
func parseLogOptions(q url.Values, now time.Time) (logs.ReadOptions, bool, error) {
	var opts logs.ReadOptions
	var err error
	boolParam := func(name string) bool {
		if err != nil || !q.Has(name) {
			return false
		}
		v := q.Get(name)
		if v == "" {
			return true
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			err = fmt.Errorf("query parameter %s=%q: not a boolean", name, v)
		}
		return b
	}
	intParam := func(name string) *int64 {
		if err != nil || !q.Has(name) {
			return nil
		}
		n, perr := strconv.ParseInt(q.Get(name), 10, 64)
		if perr != nil {
			err = fmt.Errorf("query parameter %s=%q: not an integer", name, q.Get(name))
			return nil
		}
		return &n
	}
	opts.Follow = boolParam("follow")
	previous := boolParam("previous")
	opts.Timestamps = boolParam("timestamps")
	opts.TailLines = intParam("tailLines")
	opts.LimitBytes = intParam("limitBytes")
	sinceSeconds := intParam("sinceSeconds")
	var sinceTime time.Time
	if err == nil && q.Get("sinceTime") != "" {
		if sinceTime, err = time.Parse(time.RFC3339, q.Get("sinceTime")); err != nil {
			err = fmt.Errorf("query parameter sinceTime=%q: not an RFC 3339 time: %w", q.Get("sinceTime"), err)
		}
	}
	if err != nil {
		return opts, false, err
	}
	// ValidatePodLogOptions' rules.
	var invalid []error
	if opts.TailLines != nil && *opts.TailLines < 0 {
		invalid = append(invalid, errors.New("tailLines must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		invalid = append(invalid, errors.New("limitBytes must be greater than 0"))
	}
	if sinceSeconds != nil && *sinceSeconds < 1 {
		invalid = append(invalid, errors.New("sinceSeconds must be greater than 0"))
	}
	if sinceSeconds != nil && !sinceTime.IsZero() {
		invalid = append(invalid, errors.New("at most one of sinceTime or sinceSeconds may be specified"))
	}
	if len(invalid) > 0 {
		return opts, false, fmt.Errorf("%w: %w", errInvalidLogOptions, errors.Join(invalid...))
	}
	switch {
	case sinceSeconds != nil:
		opts.Since = now.Add(-time.Duration(*sinceSeconds) * time.Second)
	case !sinceTime.IsZero():
		opts.Since = sinceTime
	}
	return opts, previous, nil
}
