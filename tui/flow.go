package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The pod creation flow, as docs/ARCHITECTURE.md draws it: the API server
// stores the pod Pending, the scheduler binds it, the node's kubelet makes the
// sandbox and network, pulls images, starts containers, the pod runs and its
// probes make it Ready.

// Stage is one step of the flow.
type Stage int

// The stages, in order.
const (
	StageStored Stage = iota
	StageScheduled
	StageSandbox
	StagePulled
	StageStarted
	StageRunning
	StageReady
	numStages
)

var stageNames = [numStages]string{"stored", "sched", "network", "pulled", "started", "running", "ready"}

// StageState is how far a stage got.
type StageState int

// Stage states.
const (
	Todo StageState = iota
	Done
	Stuck // the flow waits here for a reason (Insufficient cpu, ImagePullBackOff)
	Failed
)

// StageResult is a stage of one pod's flow.
type StageResult struct {
	State StageState
	// Took is the time since the previous reached stage; Known is false when
	// the stage is done but its time was not recorded (an image already
	// present has no Pulled event with a time in some runtimes).
	Took  time.Duration
	Known bool
}

// Flow is one pod's row in the flow view.
type Flow struct {
	Pod    *Pod
	Stages [numStages]StageResult
	// Reason is why the current stage is stuck or failed, for the row.
	Reason string
	// Total is creation to ready (or to now while it is still on its way).
	Total time.Duration
	Gone  bool
}

// FlowOf computes the flow of a pod from its status and its events.
func FlowOf(p *Pod, ev *podEvents, now time.Time) Flow {
	return flowOf(p, ev, nil, now)
}

// flowOf is FlowOf with the times the console saw each stage reached, which
// time the stages to the millisecond where API timestamps have seconds.
func flowOf(p *Pod, ev *podEvents, seen *[numStages]time.Time, now time.Time) Flow {
	f := Flow{Pod: p}
	if ev == nil {
		ev = &podEvents{}
	}
	at := [numStages]time.Time{StageStored: p.Created}
	at[StageScheduled] = p.ScheduledAt
	at[StageSandbox] = p.SandboxAt
	at[StagePulled] = ev.PulledAt
	at[StageStarted] = p.StartedAt
	if at[StageStarted].IsZero() && !ev.StartedAt.IsZero() && (p.Phase == "Running" || p.Phase == "Succeeded" || p.Phase == "Failed") {
		at[StageStarted] = ev.StartedAt
	}
	running := p.Phase == "Running" || p.Phase == "Succeeded" || p.Phase == "Failed"
	if running {
		at[StageRunning] = at[StageStarted]
		if at[StageRunning].IsZero() {
			at[StageRunning] = at[StageSandbox]
		}
	}
	at[StageReady] = p.ReadyAt
	done := [numStages]bool{StageStored: true}
	done[StageScheduled] = !p.ScheduledAt.IsZero() || p.Node != ""
	done[StageSandbox] = !p.SandboxAt.IsZero() || running
	done[StageStarted] = !p.StartedAt.IsZero() || running
	// The image is pulled once a container started, whether or not a Pulled
	// event says when.
	done[StagePulled] = !ev.PulledAt.IsZero() || done[StageStarted]
	done[StageRunning] = running
	done[StageReady] = !p.ReadyAt.IsZero() || p.Phase == "Succeeded"
	if seen != nil {
		// Watched live: time every stage by one clock, the console's.
		for s := StageScheduled; s < numStages; s++ {
			if !seen[s].IsZero() {
				at[s] = seen[s]
			}
		}
		at[StageStored] = seen[StageStored]
	}
	prev := at[StageStored]
	for s := StageStored; s < numStages; s++ {
		if !done[s] {
			break
		}
		r := StageResult{State: Done}
		// Running has no time of its own: the phase turns Running when a
		// container starts.
		if s != StageRunning && !at[s].IsZero() && !prev.IsZero() {
			r.Took, r.Known = at[s].Sub(prev), true
			if r.Took < 0 {
				r.Took = 0 // reported out of order (a late event)
			} else {
				prev = at[s]
			}
		}
		f.Stages[s] = r
	}
	// Where it waits, and why.
	next := StageStored
	for next < numStages && f.Stages[next].State == Done {
		next++
	}
	if next < numStages {
		switch {
		case next == StageScheduled && (p.Unschedulable != "" || ev.FailedSched != ""):
			f.Reason = p.Unschedulable
			if f.Reason == "" {
				f.Reason = ev.FailedSched
			}
			f.Stages[next].State = Stuck
		case p.WaitingReason != "":
			f.Reason = p.WaitingReason
			if p.WaitingMessage != "" {
				f.Reason += ": " + p.WaitingMessage
			}
			f.Stages[next].State = Stuck
			if next < StagePulled && strings.Contains(p.WaitingReason, "Image") {
				// An image error comes after the sandbox even if the condition lags.
				f.Stages[next].State = Todo
				f.Stages[StagePulled].State = Stuck
			}
		case p.Phase == "Failed":
			f.Reason = "Failed"
			if p.Status != "" && p.Status != "Failed" {
				f.Reason = p.Status
			}
			f.Stages[next].State = Failed
		case p.Phase == "Running" && next == StageReady && ev.Failure != "":
			f.Reason = ev.Failure
			f.Stages[next].State = Stuck
		}
	}
	end := p.FinishedAt
	if done[StageReady] && !at[StageReady].IsZero() {
		end = at[StageReady]
	}
	if end.IsZero() {
		// Still on its way: until now, or until its latest stage when the
		// console's clock (a tick a second) is behind what it watched.
		end = now
		for _, t := range at {
			if t.After(end) {
				end = t
			}
		}
	}
	if !at[StageStored].IsZero() {
		f.Total = max(end.Sub(at[StageStored]), 0)
	}
	return f
}

// flowWindow is how long a pod's row stays in the flow view after the pod
// settled (turned Ready, Succeeded or Failed, or was deleted), counted from
// then, not from its creation: a pod that ran for days and just finished is
// news, one that turned Ready days ago is not.
const flowWindow = 10 * time.Minute

// FlowItem is a pod in the flow view; its Flow is computed only when drawn.
type FlowItem struct {
	Pod  *Pod
	Gone bool
}

// podSettledAt says whether a pod has left the flow (it is Ready, or it
// finished) and when, from its own status: the Ready condition's
// transition, or the last container's finishedAt (zero if none says).
func podSettledAt(p *Pod) (time.Time, bool) {
	switch {
	case p.Phase == "Succeeded" || p.Phase == "Failed":
		return p.FinishedAt, true
	case !p.ReadyAt.IsZero():
		return p.ReadyAt, true
	}
	return time.Time{}, false
}

// Flows returns the pods of the flow view, newest first: those still on
// their way or stuck (Pending, waiting for an image, crash-looping, never
// Ready), however old, and those that settled or were deleted less than
// window ago.
func (s *Store) Flows(ns, filter string, now time.Time, window time.Duration) []FlowItem {
	var out []FlowItem
	add := func(p *Pod, goneAt time.Time) {
		if ns != "" && p.Namespace != ns {
			return
		}
		at, settled := podSettledAt(p)
		if settled && at.IsZero() {
			at = s.settledSeen[p.UID]
		}
		gone := !goneAt.IsZero()
		if gone {
			settled, at = true, goneAt
		}
		if settled && now.Sub(at) > window {
			return
		}
		if !matches(filter, p.Name, p.Namespace, p.Node, p.Status) {
			return
		}
		out = append(out, FlowItem{Pod: p, Gone: gone})
	}
	for _, p := range s.Pods {
		add(p, time.Time{})
	}
	for _, g := range s.Gone {
		add(g.Pod, g.At)
	}
	slices.SortFunc(out, func(x, y FlowItem) int {
		a, b := x.Pod, y.Pod
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Flow computes an item's flow.
func (s *Store) Flow(it FlowItem, now time.Time) Flow {
	f := flowOf(it.Pod, s.podEvents[it.Pod.UID], s.observed[it.Pod.UID], now)
	f.Gone = it.Gone
	return f
}

// shortDuration prints a stage time compactly: 850ms, 2.1s, 1m05s, 2h03m.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second && d%time.Second != 0:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// age prints an age as kubectl does (5s, 3m, 2h, 4d).
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
