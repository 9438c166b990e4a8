package kubelet

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/runtime/logs/driver"
	"github.com/appliance/appliance/runtime/reexec"
)

// Labels on every containerd container, so a restarted kubelet finds its pods'
// containers again and knows what each one was.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodName       = "io.kubernetes.pod.name"
	labelContainerName = "io.kubernetes.container.name"
	labelKind          = "appliance.dev/kind" // sandbox, init or app
	labelRestart       = "appliance.dev/restart"
	labelNetNS         = "appliance.dev/netns"
	labelPodIP         = "appliance.dev/pod-ip"
	labelLogPath       = "appliance.dev/log-path"
	labelStartedAt     = "appliance.dev/started-at"
	labelFinishedAt    = "appliance.dev/finished-at"
	labelExitCode      = "appliance.dev/exit-code"
	labelReason        = "appliance.dev/reason"
	labelImage         = "appliance.dev/image"
	labelImageDigest   = "appliance.dev/image-digest" // the image's target (manifest or index) digest, for imageID
	labelCgroup        = "appliance.dev/cgroup"
	labelInteractive   = "appliance.dev/interactive" // "stdin" or "tty": FIFOs instead of the log driver

	kindSandbox = "sandbox"
	kindInit    = "init"
	kindApp     = "app"

	runcRuntime = "io.containerd.runc.v2"
)

// record is one containerd container of a pod, and what its task is doing.
type record struct {
	id       string
	labels   map[string]string
	c        containerd.Container
	restart  int
	running  bool
	pid      uint32
	created  time.Time
	started  time.Time
	finished time.Time
	exitCode int32
	reason   string
	exited   bool // finished, exit recorded in labels
	// waitStart waits until a new sandbox's pause process has started and
	// says whether it did; nil for containers and for sandboxes found running.
	waitStart func() error
}

// sandboxStarted waits for a sandbox created by this sync to start.
func (r *record) sandboxStarted() error {
	if r.waitStart == nil {
		return nil
	}
	return r.waitStart()
}

func (r *record) name() string { return r.labels[labelContainerName] }

// listPod loads the pod's containers from containerd. Tasks that stopped are
// deleted here, their exit status kept in the container's labels.
func (k *Kubelet) listPod(ctx context.Context, uid types.UID) (*cList, error) {
	ctx = k.rt.WithNamespace(ctx)
	cs, err := k.rt.Client().Containers(ctx, fmt.Sprintf(`labels."%s"==%s`, labelPodUID, uid))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	l := &cList{containers: map[string][]*record{}}
	var sandboxes []*record
	for _, c := range cs {
		r, err := k.loadRecord(ctx, c)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if r.labels[labelKind] == kindSandbox {
			sandboxes = append(sandboxes, r)
			continue
		}
		l.containers[r.name()] = append(l.containers[r.name()], r)
	}
	for _, rs := range l.containers {
		sort.Slice(rs, func(i, j int) bool { return rs[i].restart > rs[j].restart })
	}
	sort.Slice(sandboxes, func(i, j int) bool { return sandboxes[i].created.After(sandboxes[j].created) })
	if len(sandboxes) > 0 {
		l.sandbox = sandboxes[0]
		for _, old := range sandboxes[1:] {
			k.removeContainer(ctx, old)
		}
	}
	return l, nil
}

func (k *Kubelet) loadRecord(ctx context.Context, c containerd.Container) (*record, error) {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return nil, err
	}
	r := &record{id: c.ID(), labels: info.Labels, c: c, created: info.CreatedAt}
	r.restart, _ = strconv.Atoi(info.Labels[labelRestart])
	r.started = parseTime(info.Labels[labelStartedAt])
	if fin := info.Labels[labelFinishedAt]; fin != "" {
		r.exited = true
		r.finished = parseTime(fin)
		code, _ := strconv.Atoi(info.Labels[labelExitCode])
		r.exitCode = int32(code)
		r.reason = info.Labels[labelReason]
		return r, nil
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		if r.started.IsZero() {
			return r, nil // created, never started
		}
		// The task is gone without an exit record (containerd lost it, e.g. a
		// reboot): it counts as exited with an unknown code.
		return k.recordExit(ctx, r, 255, time.Now(), "Unknown")
	}
	if err != nil {
		return nil, err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, err
	}
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		r.running = true
		r.pid = task.Pid()
		k.reattach(ctx, r)
		return r, nil
	case containerd.Stopped:
		reason := ""
		if k.oomKilled(r) {
			reason = "OOMKilled"
		}
		es, err := task.Delete(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("delete task %s: %w", r.id, err)
		}
		code, at := st.ExitStatus, st.ExitTime
		if es != nil {
			code, at = es.ExitCode(), es.ExitTime()
		}
		return k.recordExit(ctx, r, code, at, reason)
	default: // created but not started
		r.pid = task.Pid()
		return r, nil
	}
}

func (k *Kubelet) recordExit(ctx context.Context, r *record, code uint32, at time.Time, reason string) (*record, error) {
	if at.IsZero() || at.Year() < 2000 {
		at = time.Now()
	}
	if reason == "" {
		reason = "Error"
		if code == 0 {
			reason = "Completed"
		}
	}
	r.exited, r.exitCode, r.finished, r.reason, r.running = true, int32(code), at, reason, false
	_, err := r.c.SetLabels(ctx, map[string]string{
		labelFinishedAt: at.UTC().Format(time.RFC3339Nano),
		labelExitCode:   strconv.Itoa(int(code)),
		labelReason:     reason,
	})
	if err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("record exit of %s: %w", r.id, err)
	}
	if r.labels[labelKind] != kindSandbox {
		k.rec.oomForget(r.id)
	}
	return r, nil
}

// oomKilled tells whether the kernel's OOM killer ended the container: an OOM
// event from containerd, or the cgroup's own counter (v1 memory.oom_control,
// v2 memory.events).
func (k *Kubelet) oomKilled(r *record) bool {
	if k.rec.oomSeen(r.id) {
		return true
	}
	cg := r.labels[labelCgroup]
	if cg == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", cg, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", cg, "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(v) != "0" {
				return true
			}
		}
	}
	return false
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// removeContainer kills the task if any and deletes the container and its
// snapshot.
func (k *Kubelet) removeContainer(ctx context.Context, r *record) {
	ctx = k.rt.WithNamespace(ctx)
	if task, err := r.c.Task(ctx, nil); err == nil {
		_ = task.Kill(ctx, syscall.SIGKILL)
		if ch, err := task.Wait(ctx); err == nil {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
			}
		}
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
	}
	if err := r.c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		k.log.Warn("delete container", "id", r.id, "err", err)
	}
}

// stopContainer sends SIGTERM (or the image's stop signal), waits up to grace,
// then SIGKILL, and records the exit.
func (k *Kubelet) stopContainer(ctx context.Context, r *record, grace time.Duration) {
	ctx = k.rt.WithNamespace(ctx)
	task, err := r.c.Task(ctx, nil)
	if err != nil {
		return
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return
	}
	_ = task.Kill(ctx, syscall.SIGTERM)
	select {
	case <-ch:
	case <-time.After(grace):
		_ = task.Kill(ctx, syscall.SIGKILL)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
		}
	}
	_, _ = k.loadRecord(ctx, r.c) // records the exit, deletes the task
}

// pauseSpec is the sandbox: the appliance binary as /pause in a read-only rootfs
// of its own, holding new network (or the host's), IPC and UTS namespaces.
func (k *Kubelet) createSandbox(ctx context.Context, pod *corev1.Pod, netns, podIP, cgroup string) (*record, error) {
	ctx = k.rt.WithNamespace(ctx)
	id := fmt.Sprintf("%s-sandbox-%d", shortUID(pod.UID), time.Now().UnixNano()%1e9)
	mounts := []specs.Mount{{Destination: "/" + reexec.Pause, Type: "bind", Source: k.cfg.Executable, Options: []string{"rbind", "ro"}}}
	if dynamic(k.cfg.Executable) {
		for _, d := range []string{"/lib", "/lib64", "/usr/lib"} {
			if _, err := os.Stat(d); err == nil {
				mounts = append(mounts, specs.Mount{Destination: d, Type: "bind", Source: d, Options: []string{"rbind", "ro"}})
			}
		}
	}
	hostname, _ := podHostname(pod)
	opts := []oci.SpecOpts{
		oci.WithRootFSPath(k.pauseRoot), oci.WithRootFSReadonly(),
		oci.WithProcessArgs("/" + reexec.Pause),
		oci.WithMounts(mounts),
		oci.WithCgroup(filepath.Join(cgroup, id)),
		oci.WithCPUShares(2),
		oci.WithNoNewPrivileges,
		// As containerd's CRI: the pause process outlives a pod's OOMs.
		withOOMScoreAdj(sandboxOOMScoreAdj),
	}
	if pod.Spec.HostNetwork {
		// The node's network and its name: host network and UTS namespaces.
		opts = append(opts, k.nodeNetwork(), oci.WithHostNamespace(specs.UTSNamespace),
			oci.WithHostHostsFile, oci.WithHostResolvconf)
	} else {
		opts = append(opts, oci.WithHostname(hostname))
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns}))
	}
	if pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	}
	if pod.Spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	labels := podLabels(pod, "POD", kindSandbox, 0)
	labels[labelNetNS] = netns
	labels[labelPodIP] = podIP
	labels[labelCgroup] = filepath.Join(cgroup, id)
	labels[labelStartedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	c, err := k.rt.Client().NewContainer(ctx, id,
		containerd.WithRuntime(runcRuntime, nil),
		containerd.WithContainerLabels(labels),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		_ = c.Delete(ctx)
		return nil, fmt.Errorf("create sandbox task: %w", err)
	}
	// The pause process starts while the kubelet creates the pod's first
	// containers: they only need its namespaces, which exist once the task
	// is created. A container's own start waits for it (sandboxStarted).
	r := &record{id: id, labels: labels, c: c, running: true, pid: task.Pid(), started: time.Now(), created: time.Now()}
	r.waitStart = sync.OnceValue(func() error {
		if err := task.Start(ctx); err != nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
			_ = c.Delete(ctx)
			return fmt.Errorf("start sandbox: %w", err)
		}
		return nil
	})
	go r.waitStart()
	return r, nil
}

// dynamic reports whether the executable needs the host's shared libraries.
func dynamic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// containerID names one instance of a pod's container in containerd.
func containerID(uid types.UID, name string, restart int) string {
	return fmt.Sprintf("%s-%s-%d", shortUID(uid), name, restart)
}

func shortUID(uid types.UID) string {
	s := strings.ReplaceAll(string(uid), "-", "")
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

func podLabels(pod *corev1.Pod, container, kind string, restart int) map[string]string {
	return map[string]string{
		labelPodUID:        string(pod.UID),
		labelPodNamespace:  pod.Namespace,
		labelPodName:       pod.Name,
		labelContainerName: container,
		labelKind:          kind,
		labelRestart:       strconv.Itoa(restart),
	}
}

// startContainer creates and starts one instance of a pod's container, its
// output going to the CRI log file through the log driver.
// leftover is a container of the same id that listPod found (a start that
// failed half-way), or nil.
func (k *Kubelet) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, kind string, restart int, sb *record, leftover *record, img containerd.Image, volumes map[string]string) (*record, error) {
	ctx = k.rt.WithNamespace(ctx)
	id := containerID(pod.UID, c.Name, restart)
	// A leftover of the same id (a start that failed half-way) goes first.
	if leftover != nil {
		k.removeContainer(ctx, leftover)
	}
	cgroup := filepath.Join(filepath.Dir(sb.labels[labelCgroup]), id)
	opts, err := k.containerSpec(ctx, pod, c, sb, img, volumes, cgroup)
	if err != nil {
		return nil, err
	}
	logDir := logs.PodLogDir(k.cfg.PodLogsDir, pod.Namespace, pod.Name, pod.UID)
	logPath := logs.Path(logDir, c.Name, restart)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	labels := podLabels(pod, c.Name, kind, restart)
	labels[labelLogPath] = logPath
	labels[labelImage] = c.Image
	labels[labelImageDigest] = img.Target().Digest.String()
	labels[labelCgroup] = cgroup
	// The start time goes in with the other labels: one metadata write (an
	// fsync in containerd's database) less per container than labelling
	// after the start; it is earlier than the process start by the task's
	// creation, well under the second Kubernetes reports.
	labels[labelStartedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	interactive := c.Stdin || c.TTY
	if interactive {
		labels[labelInteractive] = "stdin"
		if c.TTY {
			labels[labelInteractive] = "tty"
		}
	}
	cont, err := k.rt.Client().NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(k.rt.Snapshotter()),
		containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime(runcRuntime, nil),
		containerd.WithContainerLabels(labels),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return nil, &configError{fmt.Errorf("create container: %w", err)}
	}
	var task containerd.Task
	if interactive {
		task, err = k.newInteractiveTask(ctx, cont, id, logPath, c.TTY, c.StdinOnce)
	} else {
		task, err = cont.NewTask(ctx, cio.BinaryIO(k.logDriver, driver.Args(logPath, 10<<20, 5)))
	}
	if err != nil {
		_ = cont.Delete(ctx, containerd.WithSnapshotCleanup)
		return nil, fmt.Errorf("create task: %w", err)
	}
	if err := sb.sandboxStarted(); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = cont.Delete(ctx, containerd.WithSnapshotCleanup)
		return nil, err
	}
	now := time.Now()
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = cont.Delete(ctx, containerd.WithSnapshotCleanup)
		return nil, fmt.Errorf("start container: %w", err)
	}
	return &record{id: id, labels: labels, c: cont, restart: restart, running: true, pid: task.Pid(), started: now, created: now}, nil
}

// configError is a container that cannot be created as specified
// (CreateContainerConfigError / CreateContainerError).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func isConfigError(err error) bool {
	var ce *configError
	return errors.As(err, &ce)
}

// removeOrphans deletes the containers, networks, volumes and logs of pods that
// no longer exist: deleted while the kubelet was down.
func (k *Kubelet) removeOrphans(ctx context.Context, live map[types.UID]bool) error {
	nctx := k.rt.WithNamespace(ctx)
	cs, err := k.rt.Client().Containers(nctx)
	if err != nil {
		return err
	}
	gone := map[types.UID]bool{}
	for _, c := range cs {
		labels, err := c.Labels(nctx)
		if err != nil {
			continue
		}
		uid := types.UID(labels[labelPodUID])
		if uid == "" || live[uid] {
			continue
		}
		gone[uid] = true
		r := &record{id: c.ID(), labels: labels, c: c}
		k.removeContainer(ctx, r)
		if labels[labelKind] == kindSandbox && labels[labelNetNS] != "" {
			if err := k.net.Detach(ctx, string(uid), labels[labelNetNS]); err != nil {
				k.log.Warn("detach network of deleted pod", "uid", uid, "err", err)
			}
		}
		k.log.Info("removed container of deleted pod", "pod", labels[labelPodNamespace]+"/"+labels[labelPodName], "container", labels[labelContainerName])
	}
	if allocs, err := k.net.Allocations(); err == nil {
		for id := range allocs {
			if !live[types.UID(id)] {
				_ = k.net.Detach(ctx, id, filepath.Join(k.cfg.RunDir, "netns", id))
			}
		}
	}
	if uids, err := k.vols.Pods(); err == nil {
		for _, uid := range uids {
			if !live[uid] {
				gone[uid] = true
				if err := k.vols.Teardown(uid); err != nil {
					k.log.Warn("remove volumes of deleted pod", "uid", uid, "err", err)
				}
			}
		}
	}
	for uid := range gone {
		removePodCgroups(uid)
	}
	return nil
}
