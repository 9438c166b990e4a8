package tui

import (
	"sort"
	"strings"
	"time"
)

// The data layer: informers turn Kubernetes objects into the plain structs
// below (convert.go), and the console's views read only these. So views are
// tested, snapshotted and benchmarked without an API server.

// Pod is what the console shows of a pod.
type Pod struct {
	Namespace, Name, UID string
	Node, IP             string
	Phase                string
	// Status is kubectl's STATUS column: the phase, or the reason a container
	// waits or ended (ContainerCreating, CrashLoopBackOff, Completed, ...),
	// Init:n/m, Terminating.
	Status       string
	Ready, Total int
	Restarts     int
	Created      time.Time
	Deleting     bool
	// Owner is the controller: kind and name (ReplicaSet web-5d4f..., Job x).
	OwnerKind, OwnerName string
	Containers           []string
	CPUMilli, MemBytes   int64 // requests, summed over containers

	// The pod creation flow, from the pod's own status.
	ScheduledAt    time.Time // PodScheduled=True
	Unschedulable  string    // PodScheduled=False message (0/2 nodes are available: ...)
	SandboxAt      time.Time // PodReadyToStartContainers=True
	StartedAt      time.Time // the last container's running startedAt, once all started
	ReadyAt        time.Time // Ready=True
	FinishedAt     time.Time // Succeeded or Failed: the last container's finishedAt
	WaitingReason  string    // the first container waiting for a reason other than ContainerCreating
	WaitingMessage string
	// ContainerWaiting is the reason each not-running container waits (for
	// the logs view's "why is it empty").
	ContainerWaiting map[string]string
}

// Key is namespace/name.
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// Node is what the console shows of a node.
type Node struct {
	Name               string
	Ready              string // Ready, NotReady, Unknown
	CPUMilli, MemBytes int64  // allocatable
	MaxPods            int64
	Unschedulable      bool   // cordoned
	InternalIP         string // the InternalIP address, "" if none
	Created            time.Time
}

// Workload is a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob.
type Workload struct {
	Kind, Namespace, Name string
	Desired, Ready        int32
	Updated, Available    int32
	OwnerKind, OwnerName  string
	Created               time.Time
	// Suspended CronJobs; Complete or Failed Jobs.
	Note string
}

// Key is kind/namespace/name.
func (w *Workload) Key() string { return w.Kind + "/" + w.Namespace + "/" + w.Name }

// Service is a Service with the count of its ready endpoints.
type Service struct {
	Namespace, Name string
	Type            string
	ClusterIP       string
	ExternalIPs     []string
	Ports           string
}

// Ingress is an Ingress, with kubectl's columns.
type Ingress struct {
	Namespace, Name string
	Class           string
	Hosts           string
	Address         string
	// Ports is "80", or "80, 443" when the Ingress terminates TLS, as
	// kubectl get ingress prints it.
	Ports   string
	Created time.Time
}

// EndpointSlice counts the ready endpoints of one slice of a service.
type EndpointSlice struct {
	Namespace, Name, Service string
	Ready                    int
}

// Event is a Kubernetes event, reduced.
type Event struct {
	Namespace, Name string
	Type, Reason    string
	Message         string
	ObjKind         string
	ObjName         string
	ObjUID          string
	Count           int32
	Last            time.Time
}

// Lease is a coordination Lease: leader election (kube-system) or a node's
// heartbeat (kube-node-lease).
type Lease struct {
	Namespace, Name string
	Holder          string
	Renewed         time.Time
	Duration        time.Duration
}

// Fresh reports whether the holder renewed it within its duration (40 s for
// node leases as the node lifecycle controller reads them, 15 s for leader
// election) at now.
func (l *Lease) Fresh(now time.Time) bool {
	d := l.Duration
	if d <= 0 {
		d = 40 * time.Second
	}
	return !l.Renewed.IsZero() && now.Sub(l.Renewed) <= d
}

// Kinds of Change.Obj.
const (
	KindPod           = "Pod"
	KindNode          = "Node"
	KindService       = "Service"
	KindIngress       = "Ingress"
	KindEndpointSlice = "EndpointSlice"
	KindEvent         = "Event"
	KindLease         = "Lease"
	KindNamespace     = "Namespace"
	// KindProblem is a resource the console cannot list or watch: Key is
	// the resource (pods), Obj what went wrong ("forbidden"); Deleted when
	// it works again.
	KindProblem = "Problem"
)

// Change is one informer notification: the new value of an object (a *Pod,
// *Node, *Workload, ...), or its deletion.
type Change struct {
	Kind    string
	Key     string
	Deleted bool
	Obj     any
	// At is when the console received it (zero: when applied). API
	// timestamps have whole seconds; what the console watched happen live is
	// timed by these instead, to the millisecond.
	At time.Time
}

// BatchMsg carries the changes that arrived during one frame: informers may
// deliver thousands a second, the console renders once per batch.
type BatchMsg struct{ Changes []Change }

// Health is the state of the control-plane parts that are probed rather than
// watched: the API server's /readyz and etcd's check in it.
type Health struct {
	// Err is set when the API server could not be reached or refused the
	// credentials; the console says so and keeps retrying.
	Err       string
	APIServer string // "ok" or what /readyz said
	Etcd      string // "ok" or the etcd check's failure
	At        time.Time
}

// HealthMsg is a probe's result.
type HealthMsg Health

// maxEvents bounds the events kept (the newest win).
const maxEvents = 1000

// Store holds the cluster as plain structs. Only the model's Update changes
// it; Version changes whenever something does, so views rebuild their rows
// only then.
type Store struct {
	Pods       map[string]*Pod
	Nodes      map[string]*Node
	Workloads  map[string]*Workload
	Services   map[string]*Service
	Ingresses  map[string]*Ingress
	Slices     map[string]*EndpointSlice
	Leases     map[string]*Lease
	Namespaces map[string]bool
	Events     map[string]*Event
	// Problems are the resources the console cannot list or watch (a user
	// forbidden to list pods sees an empty list otherwise): resource -> why.
	Problems map[string]string
	Health   Health
	Version  uint64

	// Gone keeps deleted pods for the flow view a while (flowWindow).
	Gone map[string]gonePod
	// settledSeen is when the console first saw a pod finished without a
	// container's finishedAt to tell when (an evicted pod), by UID.
	settledSeen map[string]time.Time
	// podEvents: what events tell about a pod's flow, by pod UID.
	podEvents map[string]*podEvents
	// observed: when the console saw each stage of a pod reached, by UID,
	// for pods it saw created.
	observed map[string]*[numStages]time.Time
}

type gonePod struct {
	Pod *Pod
	At  time.Time
}

// podEvents is the part of a pod's flow only events record.
type podEvents struct {
	PulledAt    time.Time
	StartedAt   time.Time
	FailedSched string
	Failure     string // the last Warning (Failed, BackOff, ...) reason: message
}

// NewStore is an empty store.
func NewStore() *Store {
	return &Store{
		Pods: map[string]*Pod{}, Nodes: map[string]*Node{}, Workloads: map[string]*Workload{},
		Services: map[string]*Service{}, Ingresses: map[string]*Ingress{}, Slices: map[string]*EndpointSlice{},
		Leases: map[string]*Lease{}, Namespaces: map[string]bool{}, Events: map[string]*Event{}, Problems: map[string]string{},
		Gone: map[string]gonePod{}, podEvents: map[string]*podEvents{}, observed: map[string]*[numStages]time.Time{},
		settledSeen: map[string]time.Time{},
	}
}

// Apply applies a batch of changes; now stamps deletions.
func (s *Store) Apply(changes []Change, now time.Time) {
	for _, c := range changes {
		s.apply(c, now)
	}
	if len(changes) > 0 {
		s.Version++
	}
	if len(s.Events) > maxEvents {
		s.trimEvents()
	}
}

func (s *Store) apply(c Change, now time.Time) {
	if !c.At.IsZero() {
		now = c.At
	}
	switch c.Kind {
	case KindPod:
		if c.Deleted {
			if p, ok := s.Pods[c.Key]; ok {
				s.Gone[p.UID] = gonePod{Pod: p, At: now}
				delete(s.Pods, c.Key)
				delete(s.observed, p.UID)
				delete(s.settledSeen, p.UID)
			}
			return
		}
		p, ok := c.Obj.(*Pod)
		if !ok {
			return
		}
		s.Pods[c.Key] = p
		s.observe(p, now)
		if at, ok := podSettledAt(p); ok && at.IsZero() {
			if _, seen := s.settledSeen[p.UID]; !seen {
				s.settledSeen[p.UID] = now
			}
		} else {
			delete(s.settledSeen, p.UID)
		}
	case KindNode:
		put(s.Nodes, c)
	case KindService:
		put(s.Services, c)
	case KindIngress:
		put(s.Ingresses, c)
	case KindEndpointSlice:
		put(s.Slices, c)
	case KindLease:
		put(s.Leases, c)
	case KindProblem:
		if why, ok := c.Obj.(string); ok && !c.Deleted {
			s.Problems[c.Key] = why
		} else {
			delete(s.Problems, c.Key)
		}
	case KindNamespace:
		if c.Deleted {
			delete(s.Namespaces, c.Key)
		} else {
			s.Namespaces[c.Key] = true
		}
	case KindEvent:
		if c.Deleted {
			delete(s.Events, c.Key)
			return
		}
		e, ok := c.Obj.(*Event)
		if !ok {
			return
		}
		s.Events[c.Key] = e
		if e.ObjKind == "Pod" && e.ObjUID != "" {
			s.notePodEvent(e)
			if o := s.observed[e.ObjUID]; o != nil && e.Reason == "Pulled" && o[StagePulled].IsZero() {
				o[StagePulled] = now
			}
		}
	default:
		if _, ok := kindOrder[c.Kind]; ok {
			put(s.Workloads, c)
		}
		// A kind the console does not know is ignored, never a panic.
	}
}

// put stores or deletes c's object; an object of the wrong type is ignored.
func put[T any](m map[string]*T, c Change) {
	if c.Deleted {
		delete(m, c.Key)
		return
	}
	if o, ok := c.Obj.(*T); ok {
		m[c.Key] = o
	}
}

// observe notes when stages of a pod the console saw created are reached.
// A pod first seen more than a second after its creation (the initial list)
// is timed by its API timestamps only.
func (s *Store) observe(p *Pod, now time.Time) {
	o := s.observed[p.UID]
	if o == nil {
		if now.Sub(p.Created) > time.Second || now.Before(p.Created.Add(-time.Second)) {
			return
		}
		o = &[numStages]time.Time{StageStored: now}
		s.observed[p.UID] = o
	}
	running := p.Phase == "Running" || p.Phase == "Succeeded" || p.Phase == "Failed"
	reached := [numStages]bool{
		StageScheduled: p.Node != "",
		StageSandbox:   !p.SandboxAt.IsZero(),
		StageStarted:   !p.StartedAt.IsZero(),
		StageRunning:   running,
		StageReady:     !p.ReadyAt.IsZero(),
	}
	for st := StageScheduled; st < numStages; st++ {
		if reached[st] && o[st].IsZero() {
			o[st] = now
		}
	}
}

func (s *Store) notePodEvent(e *Event) {
	pe := s.podEvents[e.ObjUID]
	if pe == nil {
		pe = &podEvents{}
		s.podEvents[e.ObjUID] = pe
	}
	switch e.Reason {
	case "Pulled":
		if e.Last.After(pe.PulledAt) {
			pe.PulledAt = e.Last
		}
	case "Started":
		if e.Last.After(pe.StartedAt) {
			pe.StartedAt = e.Last
		}
	case "FailedScheduling":
		pe.FailedSched = e.Message
	case "Scheduled":
		pe.FailedSched = ""
	default:
		if e.Type == "Warning" {
			pe.Failure = e.Reason + ": " + e.Message
		}
	}
}

func (s *Store) trimEvents() {
	evs := make([]*Event, 0, len(s.Events))
	for _, e := range s.Events {
		evs = append(evs, e)
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Last.After(evs[j].Last) })
	for _, e := range evs[maxEvents:] {
		delete(s.Events, e.Namespace+"/"+e.Name)
	}
}

// Prune forgets deleted pods whose rows have been in the flow view for
// flowWindow, with their event notes.
func (s *Store) Prune(now time.Time) {
	changed := false
	for uid, g := range s.Gone {
		if now.Sub(g.At) > flowWindow {
			delete(s.Gone, uid)
			delete(s.podEvents, uid)
			delete(s.observed, uid)
			changed = true
		}
	}
	if changed {
		s.Version++
	}
}

// EventsSorted returns the events, newest first, in namespace ns ("" all).
func (s *Store) EventsSorted(ns string, warningsOnly bool) []*Event {
	out := make([]*Event, 0, len(s.Events))
	for _, e := range s.Events {
		if ns != "" && e.Namespace != ns {
			continue
		}
		if warningsOnly && e.Type != "Warning" {
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.After(out[j].Last)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// PodsOf returns the pods a workload controls, directly or through its
// ReplicaSets (Deployment) or Jobs (CronJob), sorted by name.
func (s *Store) PodsOf(w *Workload) []*Pod {
	owners := map[string]bool{w.Kind + "/" + w.Name: true}
	if w.Kind == "Deployment" || w.Kind == "CronJob" {
		child := "ReplicaSet"
		if w.Kind == "CronJob" {
			child = "Job"
		}
		for _, o := range s.Workloads {
			if o.Kind == child && o.Namespace == w.Namespace && o.OwnerKind == w.Kind && o.OwnerName == w.Name {
				owners[child+"/"+o.Name] = true
			}
		}
	}
	var out []*Pod
	for _, p := range s.Pods {
		if p.Namespace == w.Namespace && owners[p.OwnerKind+"/"+p.OwnerName] {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ReadyEndpoints counts a service's ready endpoints over its slices.
func (s *Store) ReadyEndpoints(ns, svc string) int {
	n := 0
	for _, sl := range s.Slices {
		if sl.Namespace == ns && sl.Service == svc {
			n += sl.Ready
		}
	}
	return n
}

// NodeUsage is what the pods bound to a node request.
type NodeUsage struct {
	CPUMilli, MemBytes int64
	Pods               int
}

// Usage sums the requests of the non-terminated pods per node.
func (s *Store) Usage() map[string]NodeUsage {
	u := make(map[string]NodeUsage, len(s.Nodes))
	for _, p := range s.Pods {
		if p.Node == "" || p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		n := u[p.Node]
		n.CPUMilli += p.CPUMilli
		n.MemBytes += p.MemBytes
		n.Pods++
		u[p.Node] = n
	}
	return u
}

// matches reports whether any of fields contains the filter (case-insensitive).
func matches(filter string, fields ...string) bool {
	if filter == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), filter) {
			return true
		}
	}
	return false
}
