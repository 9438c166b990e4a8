package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

const (
	// nodeRoleLabelPrefix marks a role in a node label's key: node-role.kubernetes.io/<role>.
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	// nodeRoleLabel carries a role in its value.
	nodeRoleLabel = "kubernetes.io/role"
	// nodeUnreachablePodReason is the pod reason set when its node is lost.
	nodeUnreachablePodReason = "NodeLost"
)

func init() {
	register("", "pods", &convertor[*corev1.Pod]{columns: podColumns, cells: podCells, conditions: podConditions})
	register("", "namespaces", newConvertor(namespaceColumns, namespaceCells))
	register("", "services", newConvertor(serviceColumns, serviceCells))
	register("", "endpoints", newConvertor(endpointsColumns, endpointsCells))
	register("", "configmaps", newConvertor(configMapColumns, configMapCells))
	register("", "secrets", newConvertor(secretColumns, secretCells))
	register("", "serviceaccounts", newConvertor(serviceAccountColumns, serviceAccountCells))
	register("", "nodes", newConvertor(nodeColumns, nodeCells))
	register("", "persistentvolumes", newConvertor(persistentVolumeColumns, persistentVolumeCells))
	register("", "persistentvolumeclaims", newConvertor(persistentVolumeClaimColumns, persistentVolumeClaimCells))
	register("", "events", newConvertor(eventColumns, eventCells))
}

// Pods.

var podColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
	col("Status", "string", "The aggregate status of the containers in this pod."),
	col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
	ageColumn,
	wide(col("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"])),
	wide(col("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"])),
	wide(col("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"])),
	wide(col("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"])),
}

func podConditions(pod *corev1.Pod) []metav1.TableRowCondition {
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	case corev1.PodFailed:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodFailed), Message: "The pod failed."}}
	}
	return nil
}

func isRestartableInitContainer(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func podConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// laterTermination returns the later of last and the finish time of the
// container's last termination.
func laterTermination(last metav1.Time, cs *corev1.ContainerStatus) metav1.Time {
	if t := cs.LastTerminationState.Terminated; t != nil && last.Before(&t.FinishedAt) {
		return t.FinishedAt
	}
	return last
}

// podCells computes READY, STATUS and RESTARTS the way kubectl does.
func podCells(pod *corev1.Pod) []any {
	restarts, sidecarRestarts := 0, 0
	var lastRestart, lastSidecarRestart metav1.Time
	total := len(pod.Spec.Containers)
	ready := 0

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}

	initContainers := make(map[string]*corev1.Container, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		initContainers[c.Name] = c
		if isRestartableInitContainer(c) {
			total++
		}
	}

	initializing := false
	for i := range pod.Status.InitContainerStatuses {
		cs := &pod.Status.InitContainerStatuses[i]
		restarts += int(cs.RestartCount)
		lastRestart = laterTermination(lastRestart, cs)
		sidecar := isRestartableInitContainer(initContainers[cs.Name])
		if sidecar {
			sidecarRestarts += int(cs.RestartCount)
			lastSidecarRestart = laterTermination(lastSidecarRestart, cs)
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecar && cs.Started != nil && *cs.Started:
			if cs.Ready {
				ready++
			}
			continue
		case cs.State.Terminated != nil:
			switch t := cs.State.Terminated; {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(pod, corev1.PodInitialized) {
		restarts, lastRestart = sidecarRestarts, lastSidecarRestart
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := &pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			lastRestart = laterTermination(lastRestart, cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				reason = cs.State.Terminated.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", cs.State.Terminated.Signal)
			case cs.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		// A pod whose last container completed while another still runs is running.
		if reason == "Completed" && hasRunning {
			if podConditionTrue(pod, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		if pod.Status.Reason == nodeUnreachablePodReason {
			reason = "Unknown"
		} else if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			reason = "Terminating"
		}
	}

	restartsCell := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsCell = fmt.Sprintf("%d (%s ago)", restarts, age(lastRestart))
	}

	podIP := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	readinessGates := "<none>"
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		trueGates := 0
		for _, gate := range pod.Spec.ReadinessGates {
			if podConditionTrue(pod, gate.ConditionType) {
				trueGates++
			}
		}
		readinessGates = fmt.Sprintf("%d/%d", trueGates, n)
	}

	return []any{
		pod.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartsCell, age(pod.CreationTimestamp),
		orNone(podIP), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), readinessGates,
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// Namespaces.

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Status", "string", "The status of the namespace"),
	ageColumn,
}

func namespaceCells(ns *corev1.Namespace) []any {
	return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
}

// Services.

var serviceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
	col("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
	col("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
	col("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
	ageColumn,
	wide(col("Selector", "string", corev1.ServiceSpec{}.SwaggerDoc()["selector"])),
}

func serviceCells(svc *corev1.Service) []any {
	clusterIP := svc.Spec.ClusterIP
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return []any{
		svc.Name, string(svc.Spec.Type), orNone(clusterIP), serviceExternalIP(svc),
		orNone(servicePorts(svc.Spec.Ports)), age(svc.CreationTimestamp), labels.FormatLabels(svc.Spec.Selector),
	}
}

// ingressPoints returns the sorted, de-duplicated addresses of load-balancer
// ingress points, comma separated; each point is given as its IP or else its
// hostname.
func ingressPoints(addrs []string) string {
	set := sets.New[string]()
	for _, a := range addrs {
		if a != "" {
			set.Insert(a)
		}
	}
	return strings.Join(sets.List(set), ",")
}

func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var addrs []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, firstNonEmpty(in.IP, in.Hostname))
		}
		lb := ingressPoints(addrs)
		if len(svc.Spec.ExternalIPs) > 0 {
			var all []string
			if lb != "" {
				all = strings.Split(lb, ",")
			}
			return strings.Join(append(all, svc.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

// Endpoints.

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn,
}

func endpointsCells(ep *corev1.Endpoints) []any {
	return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp)}
}

// formatEndpoints lists up to three ip:port pairs (bare IPs for port-less
// subsets) and how many more there are.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				list = append(list, addr.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				list = append(list, net.JoinHostPort(addr.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	return joinWithMore(list, count, 3)
}

// ConfigMaps, Secrets, ServiceAccounts.

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn,
}

func configMapCells(cm *corev1.ConfigMap) []any {
	return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	col("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn,
}

func secretCells(s *corev1.Secret) []any {
	return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
}

var serviceAccountColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
	ageColumn,
}

func serviceAccountCells(sa *corev1.ServiceAccount) []any {
	return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
}

// Nodes.

var nodeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Status", "string", "The status of the node"),
	col("Roles", "string", "The roles of the node"),
	ageColumn,
	col("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
	wide(col("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"])),
	wide(col("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"])),
	wide(col("OS-Image", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"])),
	wide(col("Kernel-Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"])),
	wide(col("Container-Runtime", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"])),
}

func nodeCells(node *corev1.Node) []any {
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = []string{string(c.Type)}
			} else {
				status = []string{"Not" + string(c.Type)}
			}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}

	roles := sets.New[string]()
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			if role := strings.TrimPrefix(k, nodeRoleLabelPrefix); role != "" {
				roles.Insert(role)
			}
		case k == nodeRoleLabel && v != "":
			roles.Insert(v)
		}
	}

	info := node.Status.NodeInfo
	return []any{
		node.Name, strings.Join(status, ","), orNone(strings.Join(sets.List(roles), ",")),
		age(node.CreationTimestamp), info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}
}

func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// PersistentVolumes and claims.

var persistentVolumeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Capacity", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]),
	col("Access Modes", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]),
	col("Reclaim Policy", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]),
	col("Status", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]),
	col("Claim", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]),
	col("StorageClass", "string", "StorageClass of the pv"),
	col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
	col("Reason", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]),
	ageColumn,
	wide(col("VolumeMode", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"])),
}

// betaStorageClassAnnotation is the deprecated way of naming a volume's class.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func persistentVolumeCells(pv *corev1.PersistentVolume) []any {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	class, ok := pv.Annotations[betaStorageClassAnnotation]
	if !ok {
		class = pv.Spec.StorageClassName
	}
	return []any{
		pv.Name, capacity.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, stringPtrOr(pv.Spec.VolumeAttributesClassName, "<unset>"),
		pv.Status.Reason, age(pv.CreationTimestamp), volumeModeString(pv.Spec.VolumeMode),
	}
}

var persistentVolumeClaimColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Status", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]),
	col("Volume", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]),
	col("Capacity", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]),
	col("Access Modes", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]),
	col("StorageClass", "string", "StorageClass of the pvc"),
	col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
	ageColumn,
	wide(col("VolumeMode", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"])),
}

func persistentVolumeClaimCells(pvc *corev1.PersistentVolumeClaim) []any {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, accessModes := "", ""
	if pvc.Spec.VolumeName != "" {
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
		accessModes = accessModesString(pvc.Status.AccessModes)
	}
	class, ok := pvc.Annotations[betaStorageClassAnnotation]
	if !ok {
		class = stringPtrOr(pvc.Spec.StorageClassName, "")
	}
	return []any{
		pvc.Name, phase, pvc.Spec.VolumeName, capacity, accessModes, class,
		stringPtrOr(pvc.Spec.VolumeAttributesClassName, "<unset>"), age(pvc.CreationTimestamp),
		volumeModeString(pvc.Spec.VolumeMode),
	}
}

// accessModesString abbreviates access modes in kubectl's fixed order.
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		for _, have := range modes {
			if have == m.mode {
				out = append(out, m.short)
				break
			}
		}
	}
	return strings.Join(out, ",")
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func stringPtrOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// Events.

var eventColumns = []metav1.TableColumnDefinition{
	col("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
	col("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
	col("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
	col("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
	wide(col("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"])),
	wide(col("Source", "string", corev1.Event{}.SwaggerDoc()["source"])),
	col("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
	wide(col("First Seen", "string", corev1.Event{}.SwaggerDoc()["firstTimestamp"])),
	wide(col("Count", "string", corev1.Event{}.SwaggerDoc()["count"])),
	wide(nameColumn),
}

func eventCells(ev *corev1.Event) []any {
	first := age(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		first = microAge(ev.EventTime)
	}
	last := age(ev.LastTimestamp)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count := ev.Count
	if ev.Series != nil {
		last = microAge(ev.Series.LastObservedTime)
		count = ev.Series.Count
	} else if count == 0 {
		// Singleton events from the events.k8s.io API carry no count.
		count = 1
	}

	object := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		object += "/" + ev.InvolvedObject.Name
	}

	source := firstNonEmpty(ev.Source.Component, ev.ReportingController)
	if host := firstNonEmpty(ev.Source.Host, ev.ReportingInstance); host != "" {
		source += ", " + host
	}

	return []any{
		last, ev.Type, ev.Reason, object, ev.InvolvedObject.FieldPath, source,
		strings.TrimSpace(ev.Message), first, int64(count), ev.Name,
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// containerCells lays out the names and the images of containers, comma separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
