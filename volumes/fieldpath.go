package volumes

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldPath returns the value of a downward API fieldRef for pod, formatted as the
// kubelet formats it for env vars and downwardAPI files: label and annotation maps
// become sorted `key="value"` lines (Go-quoted values, no trailing newline), IP lists
// are comma-joined, and a subscript of a missing key is the empty string.
func FieldPath(pod *corev1.Pod, fieldPath string) (string, error) {
	if pod == nil {
		return "", fmt.Errorf("field path %q: no pod", fieldPath)
	}
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.labels":
			return pod.Labels[key], nil
		case "metadata.annotations":
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("unsupported field path %q", fieldPath)
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, 0, len(pod.Status.HostIPs))
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported field path %q", fieldPath)
}

// splitSubscript splits `metadata.labels['key']` into its path and key.
func splitSubscript(fieldPath string) (path, key string, ok bool) {
	i := strings.Index(fieldPath, "[")
	if i < 0 {
		return "", "", false
	}
	rest := fieldPath[i+1:]
	if len(rest) < 3 || !strings.HasSuffix(rest, "]") {
		return "", "", false
	}
	quoted := rest[:len(rest)-1]
	if len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
		return "", "", false
	}
	return fieldPath[:i], quoted[1 : len(quoted)-1], true
}

// formatMap formats a label or annotation map as Kubernetes' fieldpath.FormatMap does.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, m[k])
	}
	return string(b)
}

// ResourceField returns the value of a downward API resourceFieldRef for the named
// container of pod. As the kubelet does, limits the container does not set default to
// the node's allocatable, the result is divided by the divisor (1 when unset) and
// rounded up, cpu in millicores so "limits.cpu" with divisor 1m gives millicores.
func ResourceField(pod *corev1.Pod, containerName string, ref *corev1.ResourceFieldSelector, nodeAllocatable corev1.ResourceList) (string, error) {
	if pod == nil || ref == nil {
		return "", fmt.Errorf("resource field: no pod or selector")
	}
	if ref.ContainerName != "" {
		containerName = ref.ContainerName
	}
	c := FindContainer(pod, containerName)
	if c == nil {
		return "", fmt.Errorf("resource field %q: container %q not found in pod %s/%s", ref.Resource, containerName, pod.Namespace, pod.Name)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	limit := func(name corev1.ResourceName) resource.Quantity {
		if q, ok := c.Resources.Limits[name]; ok {
			return q
		}
		if q, ok := nodeAllocatable[name]; ok {
			return q
		}
		return resource.Quantity{}
	}
	request := func(name corev1.ResourceName) resource.Quantity {
		return c.Resources.Requests[name]
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource %q", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	switch rn {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		if !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			return "", fmt.Errorf("unsupported container resource %q", ref.Resource)
		}
	}
	var q resource.Quantity
	if kind == "limits" {
		if rn == corev1.ResourceCPU || rn == corev1.ResourceMemory || rn == corev1.ResourceEphemeralStorage {
			q = limit(rn)
		} else {
			q = c.Resources.Limits[rn]
		}
	} else {
		q = request(rn)
	}
	if rn == corev1.ResourceCPU {
		v := int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))
		return strconv.FormatInt(v, 10), nil
	}
	if divisor.Value() == 0 {
		return "", fmt.Errorf("resource field %q: divisor %s is below 1", ref.Resource, divisor.String())
	}
	v := int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))
	return strconv.FormatInt(v, 10), nil
}

// FindContainer is the pod's container (or init container) called name.
func FindContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
