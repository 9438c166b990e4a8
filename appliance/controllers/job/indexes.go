package job

import (
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Indexed Jobs: every pod carries its completion index in the annotation (and,
// as Kubernetes does since PodIndexLabel, the label)
// batch.kubernetes.io/job-completion-index, sees it as JOB_COMPLETION_INDEX
// and is reachable as <job>-<index> through a headless service. The Job is
// complete when every index in [0, completions) has a succeeded pod; the
// succeeded indexes are kept in status.completedIndexes as "1,3-5,7".

// noIndex is the index of a pod without a valid completion index annotation.
const noIndex = -1

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// completionIndex reads a pod's index from its annotation, noIndex if absent
// or malformed (a user may have edited it).
func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// validIndex: the pod has an index below completions (completions may shrink
// for elastic Indexed Jobs, leaving pods above it).
func validIndex(p *corev1.Pod, completions int) bool {
	i := completionIndex(p)
	return i != noIndex && i < completions
}

// interval is a closed range of indexes.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent ranges: the compact
// form status.completedIndexes is written in.
type intervals []interval

// parseIntervals reads "1,3-5,7", dropping what is malformed or not below
// completions, as Kubernetes does when reading the status back.
func parseIntervals(s string, completions int) intervals {
	var out []int
	if s == "" {
		return nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				continue
			}
		}
		for i := first; i <= min(last, completions-1); i++ {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return intervals(nil).with(out)
}

// with returns the union of ivs and the given indexes.
func (ivs intervals) with(indexes []int) intervals {
	all := make([]int, 0, ivs.total()+len(indexes))
	for _, iv := range ivs {
		for i := iv.first; i <= iv.last; i++ {
			all = append(all, i)
		}
	}
	all = append(all, indexes...)
	slices.Sort(all)
	all = slices.Compact(all)
	var out intervals
	for _, i := range all {
		if n := len(out); n > 0 && out[n-1].last+1 == i {
			out[n-1].last = i
			continue
		}
		out = append(out, interval{i, i})
	}
	return out
}

func (ivs intervals) has(i int) bool {
	_, found := slices.BinarySearchFunc(ivs, i, func(iv interval, i int) int {
		switch {
		case iv.last < i:
			return -1
		case iv.first > i:
			return 1
		}
		return 0
	})
	return found
}

func (ivs intervals) total() int {
	n := 0
	for _, iv := range ivs {
		n += iv.last - iv.first + 1
	}
	return n
}

func (ivs intervals) String() string {
	var b strings.Builder
	for i, iv := range ivs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		if iv.last != iv.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.last))
		}
	}
	return b.String()
}

// pendingIndexes returns up to count indexes below completions that have
// neither succeeded nor a pod working on them, lowest first.
func pendingIndexes(succeeded intervals, busy []*corev1.Pod, count, completions int) []int {
	taken := map[int]bool{}
	for _, p := range busy {
		if i := completionIndex(p); i != noIndex {
			taken[i] = true
		}
	}
	var out []int
	for i := 0; i < completions && len(out) < count; i++ {
		if !taken[i] && !succeeded.has(i) {
			out = append(out, i)
		}
	}
	return out
}

// duplicateIndexPods splits active pods of an Indexed Job into those to remove
// (no valid index, or a second pod for the same index, keeping the one that is
// furthest along) and those to keep.
func duplicateIndexPods(pods []*corev1.Pod, completions int) (rm, keep []*corev1.Pod) {
	byIndex := map[int][]*corev1.Pod{}
	var order []int
	for _, p := range pods {
		i := completionIndex(p)
		if i == noIndex || i >= completions {
			rm = append(rm, p)
			continue
		}
		if _, ok := byIndex[i]; !ok {
			order = append(order, i)
		}
		byIndex[i] = append(byIndex[i], p)
	}
	slices.Sort(order)
	for _, i := range order {
		group := byIndex[i]
		slices.SortStableFunc(group, removalOrder)
		rm = append(rm, group[:len(group)-1]...)
		keep = append(keep, group[len(group)-1])
	}
	return rm, keep
}

// indexEnv is the JOB_COMPLETION_INDEX variable every container of an
// Indexed Job's pod gets, read through the downward API from the annotation.
func addIndexEnv(spec *corev1.PodSpec) {
	add := func(cs []corev1.Container) {
		for i := range cs {
			if slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_COMPLETION_INDEX" }) {
				continue
			}
			cs[i].Env = append(cs[i].Env, corev1.EnvVar{
				Name: "JOB_COMPLETION_INDEX",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
					FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
				}},
			})
		}
	}
	add(spec.InitContainers)
	add(spec.Containers)
}

// maxGeneratedNameLength: the API server appends 5 random characters to a
// generateName, and names stay within 63.
const maxGeneratedNameLength = 63 - 5

// indexedGenerateName is "<job>-<index>-", the job name shortened if needed
// so the index survives, as Kubernetes names Indexed Job pods.
func indexedGenerateName(job string, index int) string {
	suffix := "-" + strconv.Itoa(index) + "-"
	if len(job)+len(suffix) > maxGeneratedNameLength {
		job = job[:maxGeneratedNameLength-len(suffix)]
	}
	return job + suffix
}
