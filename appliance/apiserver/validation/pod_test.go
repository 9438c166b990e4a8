package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidatePod(t *testing.T) {
	runCreateCases(t, validPod, []createCase[*corev1.Pod]{
		{
			name:   "missing name",
			mutate: func(p *corev1.Pod) { p.Name = "" },
			want:   []want{required("metadata.name")},
		},
		{
			name:   "missing namespace",
			mutate: func(p *corev1.Pod) { p.Namespace = "" },
			want:   []want{required("metadata.namespace")},
		},
		{
			name:   "bad name",
			mutate: func(p *corev1.Pod) { p.Name = "Web_0" },
			want:   []want{invalid("metadata.name")},
		},
		{
			name:   "bad label",
			mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"app": strings.Repeat("x", 64)} },
			want:   []want{invalid("metadata.labels")},
		},
		{
			name:   "unqualified finalizer",
			mutate: func(p *corev1.Pod) { p.Finalizers = []string{"cleanup"} },
			want:   []want{invalid("metadata.finalizers[0]")},
		},
		{
			name:   "no containers",
			mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want:   []want{required("spec.containers")},
		},
		{
			name: "duplicate container names",
			mutate: func(p *corev1.Pod) {
				c := validContainer("web")
				c.Ports = nil
				p.Spec.Containers = append(p.Spec.Containers, c)
			},
			want: []want{duplicate("spec.containers[1].name")},
		},
		{
			name:   "container name not a DNS label",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" },
			want:   []want{invalid("spec.containers[0].name")},
		},
		{
			name:   "missing image",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want:   []want{required("spec.containers[0].image")},
		},
		{
			name:   "image with whitespace",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			want:   []want{invalid("spec.containers[0].image")},
		},
		{
			name: "not defaulted",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].TerminationMessagePolicy = ""
				p.Spec.Containers[0].ImagePullPolicy = ""
				p.Spec.RestartPolicy = ""
				p.Spec.DNSPolicy = ""
				p.Spec.TerminationGracePeriodSeconds = nil
			},
			want: []want{
				required("spec.containers[0].terminationMessagePolicy"),
				required("spec.containers[0].imagePullPolicy"),
				required("spec.restartPolicy"),
				required("spec.dnsPolicy"),
				required("spec.terminationGracePeriodSeconds"),
			},
		},
		{
			name: "bad enum values",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].ImagePullPolicy = "Sometimes"
				p.Spec.RestartPolicy = "Maybe"
				p.Spec.DNSPolicy = "Google"
			},
			want: []want{
				notSupported("spec.containers[0].imagePullPolicy"),
				notSupported("spec.restartPolicy"),
				notSupported("spec.dnsPolicy"),
			},
		},
		{
			name: "bad ports",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{
					{Name: "http", ContainerPort: 70000, Protocol: corev1.ProtocolTCP},
					{Name: "http", ContainerPort: 81, Protocol: "ICMP"},
					{ContainerPort: 0, Protocol: corev1.ProtocolUDP},
					{Name: "this-port-name-is-long", ContainerPort: 82, Protocol: corev1.ProtocolTCP},
					{ContainerPort: 83, HostPort: 65536, Protocol: corev1.ProtocolTCP},
				}
			},
			want: []want{
				invalid("spec.containers[0].ports[0].containerPort"),
				duplicate("spec.containers[0].ports[1].name"),
				notSupported("spec.containers[0].ports[1].protocol"),
				required("spec.containers[0].ports[2].containerPort"),
				invalid("spec.containers[0].ports[3].name"),
				invalid("spec.containers[0].ports[4].hostPort"),
			},
		},
		{
			name: "host port conflict",
			mutate: func(p *corev1.Pod) {
				c := validContainer("sidecar")
				c.Ports = []corev1.ContainerPort{{ContainerPort: 9090, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
				p.Spec.Containers[0].Ports[0].HostPort = 8080
				p.Spec.Containers = append(p.Spec.Containers, c)
			},
			want: []want{duplicate("spec.containers[1].ports[0].hostPort")},
		},
		{
			name: "hostNetwork requires hostPort == containerPort",
			mutate: func(p *corev1.Pod) {
				p.Spec.HostNetwork = true
			},
			want: []want{invalid("spec.containers[0].ports[0].hostPort")},
		},
		{
			name: "bad env",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{
					{Name: ""},
					{Name: "A=B"},
					{Name: "X", Value: "v", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "Y", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.restartPolicy"}}},
					{Name: "Z", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "a/b"}}},
					{Name: "W", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}},
				}
			},
			want: []want{
				required("spec.containers[0].env[0].name"),
				invalid("spec.containers[0].env[1].name"),
				invalid("spec.containers[0].env[2].valueFrom"),
				notSupported("spec.containers[0].env[3].valueFrom.fieldRef.fieldPath"),
				invalid("spec.containers[0].env[4].valueFrom.secretKeyRef.key"),
				notSupported("spec.containers[0].env[5].valueFrom.resourceFieldRef.resource"),
			},
		},
		{
			name: "valid downward API env",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}},
					{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
					{Name: "CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
				}
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
			},
		},
		{
			name: "envFrom needs exactly one source",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{}}
			},
			want: []want{invalid("spec.containers[0].envFrom")},
		},
		{
			name: "volumes",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{
					{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "none"},
					{Name: "two", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
					{Name: "Bad_Name", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptr.To[int32](01000)}}},
				}
			},
			want: []want{
				duplicate("spec.volumes[1].name"),
				required("spec.volumes[2]"),
				forbidden("spec.volumes[3].emptyDir"),
				invalid("spec.volumes[4].name"),
				required("spec.volumes[5].configMap.name"),
				invalid("spec.volumes[5].configMap.defaultMode"),
			},
		},
		{
			name: "volume mounts",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
					{Name: "missing", MountPath: "/a"},
					{Name: "data", MountPath: ""},
					{Name: "data", MountPath: "/b", SubPath: "../etc"},
					{Name: "data", MountPath: "/b"},
				}
			},
			want: []want{
				notFound("spec.containers[0].volumeMounts[0].name"),
				required("spec.containers[0].volumeMounts[1].mountPath"),
				invalid("spec.containers[0].volumeMounts[2].subPath"),
				invalid("spec.containers[0].volumeMounts[3].mountPath"),
			},
		},
		{
			name: "projected and secret volumes",
			mutate: func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
				p.Spec.Volumes = append(p.Spec.Volumes,
					corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					}}}},
					corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []corev1.KeyToPath{{Key: "k", Path: "/abs"}}}}},
				)
			},
			want: []want{invalid("spec.volumes[2].secret.items[0].path")},
		},
		{
			name: "service account token needs service account",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](60)}},
				}}}})
			},
			want: []want{
				forbidden("spec.volumes[1].projected.sources[0].serviceAccountToken"),
				invalid("spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds"),
			},
		},
		{
			name: "resources",
			mutate: func(p *corev1.Pod) {
				r := &p.Spec.Containers[0].Resources
				r.Requests[corev1.ResourceCPU] = resource.MustParse("2")
				r.Requests[corev1.ResourceMemory] = resource.MustParse("-1")
				r.Limits["example.com/gpu"] = resource.MustParse("1")
				r.Requests["example.com/gpu"] = resource.MustParse("2")
				r.Limits["bogus"] = resource.MustParse("1")
			},
			want: []want{
				invalid("spec.containers[0].resources.requests[cpu]"),
				invalid("spec.containers[0].resources.requests[memory]"),
				invalid("spec.containers[0].resources.requests[example.com/gpu]"),
				invalid("spec.containers[0].resources.limits[bogus]"), // not standard,
				invalid("spec.containers[0].resources.limits[bogus]"), // nor a container resource
			},
		},
		{
			name: "extended resource must be an integer and have a limit",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests["example.com/fpga"] = resource.MustParse("500m")
			},
			want: []want{
				invalid("spec.containers[0].resources.requests[example.com/fpga]"),
				required("spec.containers[0].resources.limits"),
			},
		},
		{
			name: "probes",
			mutate: func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
				c.ReadinessProbe.FailureThreshold = -1
				c.LivenessProbe = &corev1.Probe{SuccessThreshold: 2, PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3}
				c.StartupProbe = &corev1.Probe{
					ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(0)}},
					SuccessThreshold: 1,
				}
			},
			want: []want{
				forbidden("spec.containers[0].readinessProbe.httpGet"),
				invalid("spec.containers[0].readinessProbe.failureThreshold"),
				required("spec.containers[0].livenessProbe"),
				invalid("spec.containers[0].livenessProbe.successThreshold"),
				invalid("spec.containers[0].startupProbe.tcpSocket.port"),
			},
		},
		{
			name: "lifecycle",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
					PreStop:   &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}},
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{}},
				}
			},
			want: []want{
				invalid("spec.containers[0].lifecycle.preStop.sleep"),
				required("spec.containers[0].lifecycle.postStart.exec.command"),
			},
		},
		{
			name: "init containers",
			mutate: func(p *corev1.Pod) {
				init := validContainer("web")
				init.Ports = nil
				init.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
				sidecar := validContainer("proxy")
				sidecar.Ports = nil
				sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
				p.Spec.InitContainers = []corev1.Container{init, sidecar}
			},
			want: []want{
				duplicate("spec.initContainers[0].name"),
				forbidden("spec.initContainers[0].readinessProbe"),
			},
		},
		{
			name: "restartPolicy on a regular container",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			},
			want: []want{forbidden("spec.containers[0].restartPolicy")},
		},
		{
			name: "ephemeral containers on create",
			mutate: func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
			},
			want: []want{forbidden("spec.ephemeralContainers")},
		},
		{
			name: "security contexts",
			mutate: func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{
					RunAsUser:      ptr.To[int64](-1),
					FSGroup:        ptr.To[int64](1 << 40),
					Sysctls:        []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}, {Name: "Bad Name"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost},
				}
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].Ports[0].HostPort = 80
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
					Privileged:               ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					ProcMount:                ptr.To(corev1.UnmaskedProcMount),
				}
			},
			want: []want{
				invalid("spec.securityContext.runAsUser"),
				invalid("spec.securityContext.fsGroup"),
				invalid("spec.securityContext.sysctls[0].name"),
				invalid("spec.securityContext.sysctls[1].name"),
				required("spec.securityContext.seccompProfile.localhostProfile"),
				invalid("spec.containers[0].securityContext"),
				invalid("spec.containers[0].securityContext.procMount"),
			},
		},
		{
			name: "tolerations",
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{
					{Key: "", Operator: corev1.TolerationOpEqual, Value: "x"},
					{Key: "a", Operator: corev1.TolerationOpExists, Value: "x"},
					{Key: "b", Operator: "Maybe"},
					{Key: "c", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](10)},
					{Key: "d", Operator: corev1.TolerationOpExists, Effect: "Sometimes"},
					{Operator: corev1.TolerationOpExists},
				}
			},
			want: []want{
				invalid("spec.tolerations[0].operator"),
				invalid("spec.tolerations[1].operator"),
				notSupported("spec.tolerations[2].operator"),
				invalid("spec.tolerations[3].effect"),
				notSupported("spec.tolerations[4].effect"),
			},
		},
		{
			name: "node selector and affinity",
			mutate: func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux", "bad key!": "x"}
				p.Spec.Affinity = &corev1.Affinity{
					NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchExpressions: []corev1.NodeSelectorRequirement{
								{Key: "zone", Operator: corev1.NodeSelectorOpIn},
								{Key: "disk", Operator: "Like", Values: []string{"ssd"}},
							},
						}}},
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 0}},
					},
					PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}},
						}},
					},
				}
			},
			want: []want{
				invalid("spec.nodeSelector"),
				required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"),
				invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator"),
				invalid("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"),
				required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values"),
				required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"),
			},
		},
		{
			name: "topology spread",
			mutate: func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
					{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule},
					{MaxSkew: 1, TopologyKey: "", WhenUnsatisfiable: "Whenever"},
				}
			},
			want: []want{
				invalid("spec.topologySpreadConstraints[0].maxSkew"),
				required("spec.topologySpreadConstraints[1].topologyKey"),
				notSupported("spec.topologySpreadConstraints[1].whenUnsatisfiable"),
			},
		},
		{
			name: "dns",
			mutate: func(p *corev1.Pod) {
				p.Spec.DNSPolicy = corev1.DNSNone
				p.Spec.Hostname = "Web"
				p.Spec.Subdomain = "svc.example"
			},
			want: []want{
				required("spec.dnsConfig"),
				invalid("spec.hostname"),
				invalid("spec.subdomain"),
			},
		},
		{
			name: "misc spec fields",
			mutate: func(p *corev1.Pod) {
				p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0)
				p.Spec.ServiceAccountName = "Builder"
				p.Spec.PriorityClassName = "High_Priority"
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}, {Name: "example.com/gate"}}
				p.Spec.NodeName = "node-1"
			},
			want: []want{
				invalid("spec.activeDeadlineSeconds"),
				invalid("spec.serviceAccountName"),
				invalid("spec.priorityClassName"),
				duplicate("spec.schedulingGates[1]"),
				forbidden("spec.nodeName"),
			},
		},
		{
			name: "windows pod with linux settings",
			mutate: func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}
			},
			want: []want{forbidden("spec.securityContext.runAsUser")},
		},
	})
}

func TestValidatePodUpdate(t *testing.T) {
	runUpdateCases(t, validPod, ValidateUpdate, []updateCase[*corev1.Pod]{
		{
			name:   "image may change",
			mutate: func(n, _ *corev1.Pod) { n.Spec.Containers[0].Image = "nginx:1.28" },
		},
		{
			name:   "labels may change",
			mutate: func(n, _ *corev1.Pod) { n.Labels = map[string]string{"tier": "front"} },
		},
		{
			name: "activeDeadlineSeconds may be set and lowered",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.ActiveDeadlineSeconds = ptr.To[int64](100)
				n.Spec.ActiveDeadlineSeconds = ptr.To[int64](50)
			},
		},
		{
			name: "activeDeadlineSeconds may not be raised",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.ActiveDeadlineSeconds = ptr.To[int64](50)
				n.Spec.ActiveDeadlineSeconds = ptr.To[int64](100)
			},
			want: []want{invalid("spec.activeDeadlineSeconds")},
		},
		{
			name: "tolerations may be added",
			mutate: func(n, _ *corev1.Pod) {
				n.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}
			},
		},
		{
			name: "tolerations may not be removed",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}
			},
			want: []want{forbidden("spec.tolerations")},
		},
		{
			name: "scheduling gates may be removed, not added",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
				n.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/b"}}
			},
			want: []want{forbidden("spec.schedulingGates[0].name")},
		},
		{
			name: "gated pods may gain node selectors",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
				n.Spec.SchedulingGates = o.Spec.SchedulingGates
				n.Spec.NodeSelector = map[string]string{"zone": "a"}
			},
		},
		{
			name: "terminationGracePeriodSeconds from negative to 1",
			mutate: func(n, o *corev1.Pod) {
				o.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1)
				n.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
			},
		},
		{
			name:   "other fields are forbidden",
			mutate: func(n, _ *corev1.Pod) { n.Spec.Containers[0].Env = nil },
			want:   []want{forbidden("spec")},
		},
		{
			name: "containers may not be added",
			mutate: func(n, _ *corev1.Pod) {
				c := validContainer("sidecar")
				c.Ports = nil
				n.Spec.Containers = append(n.Spec.Containers, c)
			},
			want: []want{forbidden("spec.containers")},
		},
		{
			name:   "image may not be removed",
			mutate: func(n, _ *corev1.Pod) { n.Spec.Containers[0].Image = "" },
			want:   []want{required("spec.containers[0].image"), required("spec.containers[0].image")},
		},
		{
			name:   "namespace is immutable",
			mutate: func(n, _ *corev1.Pod) { n.Namespace = "other" },
			want:   []want{invalid("metadata.namespace")},
		},
		{
			name:   "resourceVersion is required",
			mutate: func(n, _ *corev1.Pod) { n.ResourceVersion = "" },
			want:   []want{invalid("metadata.resourceVersion")},
		},
	})

	t.Run("message lists the updatable fields", func(t *testing.T) {
		old, pod := validPod(), validPod()
		pod.Spec.Containers[0].Env = nil
		expectDetail(t, ValidateUpdate(pod, old), "pod updates may not change fields other than `spec.containers[*].image`")
	})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	terminated := func(o *corev1.Pod) {
		o.Spec.RestartPolicy = corev1.RestartPolicyNever
		o.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	}
	runUpdateCases(t, validPod, ValidateStatusUpdate, []updateCase[*corev1.Pod]{
		{
			name: "ips and conditions",
			mutate: func(n, _ *corev1.Pod) {
				n.Status.PodIP = "10.244.0.5"
				n.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
				n.Status.HostIP = "192.168.1.10"
				n.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.10"}}
				n.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: "example.com/custom", Status: corev1.ConditionTrue}}
			},
		},
		{
			name: "bad ips",
			mutate: func(n, _ *corev1.Pod) {
				n.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "10.244.0.6"}}
				n.Status.HostIP = "192.168.1.10"
				n.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.11"}}
			},
			want: []want{invalid("status.podIPs"), invalid("status.hostIPs[0].ip")},
		},
		{
			name:   "bad condition type",
			mutate: func(n, _ *corev1.Pod) { n.Status.Conditions = []corev1.PodCondition{{Type: "not a type"}} },
			want:   []want{invalid("status.conditions[0].type")},
		},
		{
			name:   "nodeName may not change through status",
			mutate: func(n, _ *corev1.Pod) { n.Spec.NodeName = "node-2" },
			want:   []want{forbidden("status.nodeName")},
		},
		{
			name: "terminated containers stay terminated",
			mutate: func(n, o *corev1.Pod) {
				terminated(o)
				n.Spec.RestartPolicy = corev1.RestartPolicyNever
				n.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			},
			want: []want{forbidden("status.containerStatuses[0].state")},
		},
		{
			name: "qosClass is immutable",
			mutate: func(n, o *corev1.Pod) {
				o.Status.QOSClass = corev1.PodQOSBurstable
				n.Status.QOSClass = corev1.PodQOSGuaranteed
			},
			want: []want{invalid("status.qosClass")},
		},
	})
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PodTemplateSpec)
		want   []want
	}{
		{name: "valid", mutate: func(*corev1.PodTemplateSpec) {}},
		{
			name: "bad labels and annotations",
			mutate: func(t *corev1.PodTemplateSpec) {
				t.Labels = map[string]string{"a": "b c"}
				t.Annotations = map[string]string{"no spaces": ""}
			},
			want: []want{invalid("tmpl.metadata.labels"), invalid("tmpl.metadata.annotations")},
		},
		{
			name:   "ephemeral containers",
			mutate: func(t *corev1.PodTemplateSpec) { t.Spec.EphemeralContainers = []corev1.EphemeralContainer{{}} },
			want: []want{
				forbidden("tmpl.spec.ephemeralContainers"),
				required("tmpl.spec.ephemeralContainers[0].name"),
				required("tmpl.spec.ephemeralContainers[0].image"),
				required("tmpl.spec.ephemeralContainers[0].imagePullPolicy"),
				required("tmpl.spec.ephemeralContainers[0].terminationMessagePolicy"),
			},
		},
		{
			name:   "hostPort 0 is fine with hostNetwork in a template",
			mutate: func(t *corev1.PodTemplateSpec) { t.Spec.HostNetwork = true },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := validTemplate()
			tc.mutate(&tmpl)
			expectErrors(t, ValidatePodTemplateSpec(&tmpl, field.NewPath("tmpl")), tc.want...)
		})
	}
}

func TestValidatePodTemplate(t *testing.T) {
	valid := func() *corev1.PodTemplate {
		return &corev1.PodTemplate{ObjectMeta: meta("web"), Template: validTemplate()}
	}
	runCreateCases(t, valid, []createCase[*corev1.PodTemplate]{
		{
			name:   "bad template",
			mutate: func(p *corev1.PodTemplate) { p.Template.Spec.Containers = nil },
			want:   []want{required("template.spec.containers")},
		},
	})
}
