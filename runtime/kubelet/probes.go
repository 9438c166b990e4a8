package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// prober runs a container instance's startup, liveness and readiness probes,
// as the kubelet does: readiness false until the first success, liveness and
// readiness held back until the startup probe succeeds, a liveness or startup
// failure past its threshold kills the container (the restart policy decides
// the rest).
type prober struct {
	w      *podWorker
	pod    *corev1.Pod
	c      *corev1.Container
	r      *record
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	ready   bool
}

func (w *podWorker) ensureProbes(pod *corev1.Pod, c *corev1.Container, r *record) {
	if _, ok := w.probes[r.id]; ok {
		return
	}
	// Instances that ended take their probers with them.
	for id, p := range w.probes {
		if p.c.Name == c.Name {
			p.stop()
			delete(w.probes, id)
		}
	}
	p := &prober{w: w, pod: pod, c: c.DeepCopy(), r: r,
		started: c.StartupProbe == nil, ready: c.ReadinessProbe == nil}
	w.probes[r.id] = p
	if c.StartupProbe == nil && c.LivenessProbe == nil && c.ReadinessProbe == nil {
		return
	}
	ctx, cancel := context.WithCancel(w.k.ctx)
	p.cancel = cancel
	if c.StartupProbe != nil {
		go p.loop(ctx, "Startup", c.StartupProbe)
	}
	if c.LivenessProbe != nil {
		go p.loop(ctx, "Liveness", c.LivenessProbe)
	}
	if c.ReadinessProbe != nil {
		go p.loop(ctx, "Readiness", c.ReadinessProbe)
	}
}

func (p *prober) stop() {
	if p.cancel != nil {
		p.cancel()
	}
}

func (p *prober) status() (started, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started, p.ready
}

func (p *prober) isStarted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

func (p *prober) loop(ctx context.Context, kind string, pr *corev1.Probe) {
	period := secs(pr.PeriodSeconds, 10)
	success, failure := int(orDefault(pr.SuccessThreshold, 1)), int(orDefault(pr.FailureThreshold, 3))
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	}
	t := time.NewTicker(period)
	defer t.Stop()
	okRun, failRun := 0, 0
	for {
		if kind == "Startup" || p.isStarted() {
			if kind == "Startup" && p.isStarted() {
				return
			}
			err := p.probe(ctx, pr)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				p.w.k.rec.Eventf(p.pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			}
			p.apply(ctx, kind, pr, okRun >= success, failRun >= failure)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *prober) apply(ctx context.Context, kind string, pr *corev1.Probe, succeeded, failed bool) {
	k := p.w.k
	switch kind {
	case "Readiness":
		p.mu.Lock()
		changed := false
		if succeeded && !p.ready {
			p.ready, changed = true, true
		} else if failed && p.ready {
			p.ready, changed = false, true
		}
		p.mu.Unlock()
		if changed {
			p.w.kickNow()
		}
	case "Startup", "Liveness":
		if succeeded && kind == "Startup" {
			p.mu.Lock()
			p.started = true
			p.mu.Unlock()
			p.w.kickNow()
			return
		}
		if failed {
			k.rec.Eventf(p.pod, corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", p.c.Name, lower(kind))
			grace := gracePeriod(p.pod)
			if pr.TerminationGracePeriodSeconds != nil {
				grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
			}
			p.stop()
			go func() {
				// As any stop of a container: its preStop hook first, within
				// the grace period, then SIGTERM, then SIGKILL at its end.
				deadline := time.Now().Add(grace)
				if lc := p.c.Lifecycle; lc != nil && lc.PreStop != nil && grace > 0 {
					hctx, cancel := context.WithDeadline(k.ctx, deadline)
					if err := p.w.runHook(hctx, p.pod, p.c, p.r, lc.PreStop); err != nil {
						k.rec.Eventf(p.pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
					}
					cancel()
				}
				kctx := k.rt.WithNamespace(k.ctx)
				if task, err := p.r.c.Task(kctx, nil); err == nil {
					ch, err := task.Wait(kctx)
					if err == nil {
						_ = task.Kill(kctx, syscall.SIGTERM)
						select {
						case <-ch:
						case <-time.After(time.Until(deadline)):
							_ = task.Kill(kctx, syscall.SIGKILL)
						}
					}
				}
				p.w.kickNow()
			}()
		}
	}
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

func secs(v int32, def int) time.Duration {
	if v <= 0 {
		v = int32(def)
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// probe runs one probe with its timeout.
func (p *prober) probe(ctx context.Context, pr *corev1.Probe) error {
	ctx, cancel := context.WithTimeout(ctx, secs(pr.TimeoutSeconds, 1))
	defer cancel()
	return p.w.k.runHandler(ctx, p.pod, p.c, p.r, pr.ProbeHandler.Exec, pr.ProbeHandler.HTTPGet, pr.ProbeHandler.TCPSocket, pr.ProbeHandler.GRPC)
}

// runHook runs a postStart or preStop hook.
func (w *podWorker) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *record, h *corev1.LifecycleHandler) error {
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		}
	}
	return w.k.runHandler(ctx, pod, c, r, h.Exec, h.HTTPGet, h.TCPSocket, nil)
}

func (k *Kubelet) runHandler(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *record, ex *corev1.ExecAction, hg *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, g *corev1.GRPCAction) error {
	switch {
	case ex != nil:
		var out bytes.Buffer
		code, err := k.execIn(ctx, r, ex.Command, nil, nopCloser{&out}, nopCloser{&out}, false, nil)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", ex.Command, code, trim(out.String()))
		}
		return nil
	case hg != nil:
		host := hg.Host
		if host == "" {
			host = podIPOf(pod, k)
		}
		port, err := resolvePort(hg.Port, c)
		if err != nil {
			return err
		}
		scheme := "http"
		if hg.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), hg.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, h := range hg.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		client := &http.Client{Transport: &http.Transport{
			DialContext:     k.dialer(pod),
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as in Kubernetes
		}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case tcp != nil:
		host := tcp.Host
		if host == "" {
			host = podIPOf(pod, k)
		}
		port, err := resolvePort(tcp.Port, c)
		if err != nil {
			return err
		}
		conn, err := k.dialer(pod)(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s:%d: %w", host, port, err)
		}
		return conn.Close()
	case g != nil:
		addr := net.JoinHostPort(podIPOf(pod, k), strconv.Itoa(int(g.Port)))
		dial := k.dialer(pod)
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return dial(ctx, "tcp", a) }))
		if err != nil {
			return err
		}
		defer conn.Close()
		svc := ""
		if g.Service != nil {
			svc = *g.Service
		}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			return fmt.Errorf("grpc health check: %w", err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("service unhealthy (responded with %q)", resp.Status)
		}
		return nil
	}
	return nil
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

func podIPOf(pod *corev1.Pod, k *Kubelet) string {
	if w := k.workerFor(pod.UID); w != nil && w.podIP != "" {
		return w.podIP
	}
	if pod.Status.PodIP != "" {
		return pod.Status.PodIP
	}
	return k.cfg.NodeIP.String()
}

// dialer reaches pod IPs, and host-network pods, from the node's network
// namespace.
func (k *Kubelet) dialer(pod *corev1.Pod) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if k.net == nil {
		return (&net.Dialer{}).DialContext
	}
	return k.net.DialContext
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, c.Name)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
