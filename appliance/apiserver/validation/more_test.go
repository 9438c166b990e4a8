package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Every kind: a valid object passes create, update and status update, and a
// change of namespace is caught on update.
func TestAllKinds(t *testing.T) {
	kinds := []struct {
		name       string
		valid      func() runtime.Object
		namespaced bool
		// moveErrs are further errors when the namespace changes.
		moveErrs []want
	}{
		{"Pod", func() runtime.Object { return validPod() }, true, nil},
		{"PodTemplate", func() runtime.Object { return &corev1.PodTemplate{ObjectMeta: meta("t"), Template: validTemplate()} }, true, nil},
		{"Service", func() runtime.Object { return validService() }, true, nil},
		{"Namespace", func() runtime.Object {
			return &corev1.Namespace{ObjectMeta: clusterMeta("ns"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
		}, false, nil},
		{"ConfigMap", func() runtime.Object { return &corev1.ConfigMap{ObjectMeta: meta("cm")} }, true, nil},
		{"Secret", func() runtime.Object { return &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeOpaque} }, true, nil},
		{"ServiceAccount", func() runtime.Object { return &corev1.ServiceAccount{ObjectMeta: meta("sa")} }, true, nil},
		{"Node", func() runtime.Object { return &corev1.Node{ObjectMeta: clusterMeta("node-1")} }, false, nil},
		{"PersistentVolume", func() runtime.Object { return validPV() }, false, nil},
		{"PersistentVolumeClaim", func() runtime.Object { return validPVC() }, true, nil},
		{"Endpoints", func() runtime.Object { return &corev1.Endpoints{ObjectMeta: meta("ep")} }, true, nil},
		{"Event", func() runtime.Object {
			return &corev1.Event{ObjectMeta: meta("e"), InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
		}, true, []want{invalid("involvedObject.namespace")}},
		{"LimitRange", func() runtime.Object { return &corev1.LimitRange{ObjectMeta: meta("lr")} }, true, nil},
		{"ResourceQuota", func() runtime.Object { return &corev1.ResourceQuota{ObjectMeta: meta("q")} }, true, nil},
		{"ReplicationController", func() runtime.Object {
			tmpl := validTemplate()
			return &corev1.ReplicationController{ObjectMeta: meta("rc"), Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1), Selector: map[string]string{"app": "web"}, Template: &tmpl}}
		}, true, nil},
		{"Deployment", func() runtime.Object { return validDeployment() }, true, nil},
		{"ReplicaSet", func() runtime.Object { return validReplicaSet() }, true, nil},
		{"StatefulSet", func() runtime.Object { return validStatefulSet() }, true, nil},
		{"DaemonSet", func() runtime.Object { return validDaemonSet() }, true, nil},
		{"ControllerRevision", func() runtime.Object { return validControllerRevision() }, true, nil},
		{"Job", func() runtime.Object { return validJob() }, true, nil},
		{"CronJob", func() runtime.Object { return validCronJob() }, true, nil},
		{"HorizontalPodAutoscaler", func() runtime.Object { return validHPA() }, true, nil},
		{"Ingress", func() runtime.Object { return validIngress() }, true, nil},
		{"IngressClass", func() runtime.Object { return validIngressClass() }, false, nil},
		{"StorageClass", func() runtime.Object { return validStorageClass() }, false, nil},
		{"Role", func() runtime.Object { return validRole() }, true, nil},
		{"ClusterRole", func() runtime.Object { return validClusterRole() }, false, nil},
		{"RoleBinding", func() runtime.Object { return validRoleBinding() }, true, nil},
		{"ClusterRoleBinding", func() runtime.Object { return validClusterRoleBinding() }, false, nil},
		{"Lease", func() runtime.Object { return validLease() }, true, nil},
		{"EndpointSlice", func() runtime.Object { return validEndpointSlice() }, true, nil},
		{"PriorityClass", func() runtime.Object { return validPriorityClass() }, false, nil},
		{"PodDisruptionBudget", func() runtime.Object { return validPDB() }, true, nil},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			expectErrors(t, Validate(k.valid()))
			expectErrors(t, ValidateUpdate(k.valid(), k.valid()))
			expectErrors(t, ValidateStatusUpdate(k.valid(), k.valid()))

			obj := k.valid()
			m := obj.(metav1.Object)
			if k.namespaced {
				m.SetNamespace("")
				expectErrors(t, Validate(obj), required("metadata.namespace"))
				m.SetNamespace("other")
				expectErrors(t, ValidateUpdate(obj, k.valid()), append(k.moveErrs, invalid("metadata.namespace"))...)
			} else {
				m.SetNamespace("default")
				expectErrors(t, Validate(obj), forbidden("metadata.namespace"))
			}

			obj = k.valid()
			obj.(metav1.Object).SetResourceVersion("")
			expectErrors(t, ValidateUpdate(obj, k.valid()), invalid("metadata.resourceVersion"))
		})
	}
}

func TestValidatePodVolumes(t *testing.T) {
	vol := func(name string, src corev1.VolumeSource) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
		}
	}
	runCreateCases(t, validPod, []createCase[*corev1.Pod]{
		{name: "hostPath", mutate: vol("h", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: ptr.To(corev1.HostPathDirectory)}})},
		{name: "hostPath backsteps and type", mutate: vol("h", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc", Type: ptr.To[corev1.HostPathType]("Pipe")}}),
			want: []want{invalid("spec.volumes[1].hostPath.path"), notSupported("spec.volumes[1].hostPath.type")}},
		{name: "emptyDir size", mutate: vol("e", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("-1Gi"))}}),
			want: []want{forbidden("spec.volumes[1].emptyDir.sizeLimit")}},
		{name: "nfs", mutate: vol("n", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Path: "export"}}),
			want: []want{required("spec.volumes[1].nfs.server"), invalid("spec.volumes[1].nfs.path")}},
		{name: "pvc", mutate: vol("c", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}),
			want: []want{required("spec.volumes[1].persistentVolumeClaim.claimName")}},
		{name: "csi", mutate: vol("c", corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "Bad Driver"}}),
			want: []want{invalid("spec.volumes[1].csi.driver")}},
		{name: "iscsi", mutate: vol("i", corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.1:3260", IQN: "abc", Lun: 300}}),
			want: []want{invalid("spec.volumes[1].iscsi.iqn"), invalid("spec.volumes[1].iscsi.lun")}},
		{name: "fc", mutate: vol("f", corev1.VolumeSource{FC: &corev1.FCVolumeSource{TargetWWNs: []string{"500a0982991b8dc5"}}}),
			want: []want{required("spec.volumes[1].fc.lun")}},
		{name: "flexVolume", mutate: vol("f", corev1.VolumeSource{FlexVolume: &corev1.FlexVolumeSource{Driver: "example/lvm", Options: map[string]string{"kubernetes.io/x": "y"}}}),
			want: []want{invalid("spec.volumes[1].flexVolume.options[kubernetes.io/x]")}},
		{name: "flocker", mutate: vol("f", corev1.VolumeSource{Flocker: &corev1.FlockerVolumeSource{}}),
			want: []want{required("spec.volumes[1].flocker")}},
		{name: "downwardAPI", mutate: vol("d", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1Mi")}},
			{Path: "none"},
		}}}), want: []want{
			notSupported("spec.volumes[1].downwardAPI.items[1].fieldRef.fieldPath"),
			required("spec.volumes[1].downwardAPI.items[2].resourceFieldRef.containerName"),
			invalid("spec.volumes[1].downwardAPI.items[2].resourceFieldRef.divisor"),
			required("spec.volumes[1].downwardAPI.items[3]"),
		}},
		{name: "projected duplicate paths", mutate: vol("p", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}, Items: []corev1.KeyToPath{{Key: "k", Path: "f"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "b"}, Items: []corev1.KeyToPath{{Key: "k", Path: "f"}}}},
		}}}), want: []want{invalid("spec.volumes[1].projected")}},
		{name: "ephemeral", mutate: vol("scratch", corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
			Spec:       validPVCSpec(),
		}}})},
		{name: "ephemeral template", mutate: vol("scratch", corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: "fixed"},
		}}}), want: []want{
			forbidden("spec.volumes[1].ephemeral.volumeClaimTemplate.metadata"),
			required("spec.volumes[1].ephemeral.volumeClaimTemplate.spec.accessModes"),
			required("spec.volumes[1].ephemeral.volumeClaimTemplate.spec.resources[storage]"),
		}},
		{name: "image volume", mutate: vol("img", corev1.VolumeSource{Image: &corev1.ImageVolumeSource{PullPolicy: corev1.PullIfNotPresent}}),
			want: []want{required("spec.volumes[1].image.reference")}},
		{name: "block device needs a claim", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "data", DevicePath: "/dev/xvda"}, {Name: "disk", DevicePath: "/dev/xvdb"}}
		}, want: []want{
			invalid("spec.containers[0].volumeMounts[0].name"),  // also a device
			invalid("spec.containers[0].volumeDevices[0].name"), // also a mount
			invalid("spec.containers[0].volumeDevices[0].name"), // not a claim
			notFound("spec.containers[0].volumeDevices[1].name"),
		}},
		{name: "mount options", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts[0].MountPropagation = ptr.To(corev1.MountPropagationBidirectional)
			p.Spec.Containers[0].VolumeMounts[0].RecursiveReadOnly = ptr.To(corev1.RecursiveReadOnlyEnabled)
		}, want: []want{
			forbidden("spec.containers[0].volumeMounts[0].mountPropagation"),
			forbidden("spec.containers[0].volumeMounts[0].recursiveReadOnly"),
			forbidden("spec.containers[0].volumeMounts[0].recursiveReadOnly"),
		}},
	})
}

func TestValidatePodSpecMore(t *testing.T) {
	runCreateCases(t, validPod, []createCase[*corev1.Pod]{
		{name: "dns config", mutate: func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{
				Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "not-an-ip"},
				Searches:    []string{"svc.cluster.local.", "bad_label!"},
				Options:     []corev1.PodDNSConfigOption{{Name: ""}},
			}
		}, want: []want{
			invalid("spec.dnsConfig.nameservers"),
			invalid("spec.dnsConfig.nameservers[3]"),
			invalid("spec.dnsConfig.searches[1]"),
			required("spec.dnsConfig.options[0]"),
		}},
		{name: "host users", mutate: func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr.To(false)
			p.Spec.HostPID = true
			p.Spec.HostIPC = true
		}, want: []want{forbidden("spec.hostPID"), forbidden("spec.hostIPC")}},
		{name: "resource claims", mutate: func(p *corev1.Pod) {
			p.Spec.ResourceClaims = []corev1.PodResourceClaim{
				{Name: "gpu", ResourceClaimTemplateName: ptr.To("gpu-template")},
				{Name: "gpu", ResourceClaimName: ptr.To("a"), ResourceClaimTemplateName: ptr.To("b")},
				{Name: ""},
			}
			p.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}, {Name: "fpga"}}
		}, want: []want{
			duplicate("spec.resourceClaims[1].name"),
			invalid("spec.resourceClaims[1]"),
			required("spec.resourceClaims[2].name"),
			invalid("spec.resourceClaims[2]"),
			notFound("spec.containers[0].resources.claims[1]"),
		}},
		{name: "pod-level resources", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, want: []want{invalid("spec.resources.requests[cpu]"), notSupported("spec.resources.requests[ephemeral-storage]")}},
		{name: "hugepages", mutate: func(p *corev1.Pod) {
			r := &p.Spec.Containers[0].Resources
			r.Limits["hugepages-2Mi"] = resource.MustParse("3Mi")
			r.Requests["hugepages-2Mi"] = resource.MustParse("3Mi")
		}, want: []want{invalid("spec.containers[0].resources.limits[hugepages-2Mi]"), invalid("spec.containers[0].resources.requests[hugepages-2Mi]")}},
		{name: "resize policy", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{
				{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
				{ResourceName: corev1.ResourceCPU, RestartPolicy: "Sometimes"},
				{ResourceName: "gpu", RestartPolicy: corev1.RestartContainer},
			}
		}, want: []want{
			duplicate("spec.containers[0].resizePolicy[1]"),
			notSupported("spec.containers[0].resizePolicy[1].restartPolicy"),
			notSupported("spec.containers[0].resizePolicy[2].resourceName"),
		}},
		{name: "apparmor and windows options", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost},
				WindowsOptions:  &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr.To(`a\b\c`)},
			}
		}, want: []want{
			required("spec.containers[0].securityContext.appArmorProfile.localhostProfile"),
			invalid("spec.containers[0].securityContext.windowsOptions.runAsUserName"),
		}},
		{name: "linux pod with windows options", mutate: func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}
		}, want: []want{forbidden("spec.containers[0].securityContext.windowsOptions")}},
		{name: "bad os", mutate: func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} }, want: []want{notSupported("spec.os")}},
		{name: "stop signal", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: ptr.To[corev1.Signal]("KILL")}
		}, want: []want{invalid("spec.containers[0].lifecycle.stopSignal")}},
		{name: "file key env", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "data", Path: "/abs"}}}}
		}, want: []want{invalid("spec.containers[0].env[0].valueFrom.fileKeyRef.path"), required("spec.containers[0].env[0].valueFrom.fileKeyRef.key")}},
		{name: "node selector terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.labels", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
					MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}},
						{Key: "gpu", Operator: corev1.NodeSelectorOpExists, Values: []string{"x"}},
					},
				}},
			}}}
		}, want: []want{
			required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values"),
			invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key"),
			forbidden("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values"),
		}},
	})
}

func TestGatedPodAffinityUpdate(t *testing.T) {
	gated := func() *corev1.Pod {
		p := validPod()
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}},
		}}}
		return p
	}
	terms := func(p *corev1.Pod) []corev1.NodeSelectorTerm {
		return p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	runUpdateCases(t, gated, ValidateUpdate, []updateCase[*corev1.Pod]{
		{name: "requirements may be added", mutate: func(n, _ *corev1.Pod) {
			terms(n)[0].MatchExpressions = append(terms(n)[0].MatchExpressions, corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpExists})
		}},
		{name: "requirements may not change", mutate: func(n, _ *corev1.Pod) {
			terms(n)[0].MatchExpressions[0].Values = []string{"b"}
		}, want: []want{invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]")}},
		{name: "node selector may not lose entries", mutate: func(n, o *corev1.Pod) {
			o.Spec.NodeSelector = map[string]string{"a": "b"}
			n.Spec.NodeSelector = nil
		}, want: []want{invalid("spec.nodeSelector")}},
		{name: "ungated pods may not change affinity", mutate: func(n, o *corev1.Pod) {
			o.Spec.SchedulingGates, n.Spec.SchedulingGates = nil, nil
			terms(n)[0].MatchExpressions = append(terms(n)[0].MatchExpressions, corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpExists})
		}, want: []want{forbidden("spec")}},
	})
}

func TestValidateUpdatesMore(t *testing.T) {
	runUpdateCases(t, validPVC, ValidateStatusUpdate, []updateCase[*corev1.PersistentVolumeClaim]{
		{name: "capacity", mutate: func(n, _ *corev1.PersistentVolumeClaim) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("-1")}
		}, want: []want{invalid("status.capacity[storage]")}},
	})
	quota := func() *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}}
	}
	runUpdateCases(t, quota, ValidateUpdate, []updateCase[*corev1.ResourceQuota]{
		{name: "scopes are immutable", mutate: func(n, _ *corev1.ResourceQuota) { n.Spec.Scopes = nil }, want: []want{invalid("spec.scopes")}},
	})
	runUpdateCases(t, quota, ValidateStatusUpdate, []updateCase[*corev1.ResourceQuota]{
		{name: "used", mutate: func(n, _ *corev1.ResourceQuota) {
			n.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1.5")}
		}, want: []want{invalid("status.used[pods]")}},
	})
}
