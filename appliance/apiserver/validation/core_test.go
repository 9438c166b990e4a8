package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateNamespace(t *testing.T) {
	valid := func() *corev1.Namespace {
		return &corev1.Namespace{
			ObjectMeta: clusterMeta("team-a"),
			Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		}
	}
	runCreateCases(t, valid, []createCase[*corev1.Namespace]{
		{name: "dns label name", mutate: func(n *corev1.Namespace) { n.Name = "team.a" }, want: []want{invalid("metadata.name")}},
		{name: "too long", mutate: func(n *corev1.Namespace) { n.Name = strings.Repeat("a", 64) }, want: []want{invalid("metadata.name")}},
		{name: "namespace forbidden", mutate: func(n *corev1.Namespace) { n.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
		{name: "bad spec finalizer", mutate: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"custom"} }, want: []want{invalid("spec.finalizers[0]")}},
	})
	t.Run("name message", func(t *testing.T) {
		ns := valid()
		ns.Name = strings.Repeat("a", 64)
		expectDetail(t, Validate(ns), "must be no more than 63 characters")
	})
	runUpdateCases(t, valid, ValidateStatusUpdate, []updateCase[*corev1.Namespace]{
		{name: "terminating without deletion", mutate: func(n, _ *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating }, want: []want{invalid("status.phase")}},
		{name: "terminating while deleted", mutate: func(n, o *corev1.Namespace) {
			now := metav1.Now()
			o.DeletionTimestamp, n.DeletionTimestamp = &now, &now
			n.Status.Phase = corev1.NamespaceTerminating
		}},
	})
}

func TestValidateConfigMap(t *testing.T) {
	valid := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"app.properties": "a=b", "MODE": "prod"}, BinaryData: map[string][]byte{"logo.png": {1, 2}}}
	}
	runCreateCases(t, valid, []createCase[*corev1.ConfigMap]{
		{name: "bad key", mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }, want: []want{invalid("data[a/b]")}},
		{name: "key in both", mutate: func(c *corev1.ConfigMap) { c.BinaryData["MODE"] = []byte("x") }, want: []want{invalid("data[MODE]")}},
		{name: "too big", mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", 1<<20) }, want: []want{tooLong("[]")}},
		{name: "namespace required", mutate: func(c *corev1.ConfigMap) { c.Namespace = "" }, want: []want{required("metadata.namespace")}},
	})
	immutable := func() *corev1.ConfigMap {
		c := valid()
		c.Immutable = ptr.To(true)
		return c
	}
	runUpdateCases(t, immutable, ValidateUpdate, []updateCase[*corev1.ConfigMap]{
		{name: "labels may change", mutate: func(n, _ *corev1.ConfigMap) { n.Labels = map[string]string{"a": "b"} }},
		{name: "data may not change", mutate: func(n, _ *corev1.ConfigMap) { n.Data["MODE"] = "dev" }, want: []want{forbidden("data")}},
		{name: "binaryData may not change", mutate: func(n, _ *corev1.ConfigMap) { n.BinaryData = nil }, want: []want{forbidden("binaryData")}},
		{name: "immutable may not be unset", mutate: func(n, _ *corev1.ConfigMap) { n.Immutable = nil }, want: []want{forbidden("immutable")}},
	})
}

func TestValidateSecret(t *testing.T) {
	valid := func() *corev1.Secret {
		return &corev1.Secret{ObjectMeta: meta("creds"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("s3cr3t")}}
	}
	runCreateCases(t, valid, []createCase[*corev1.Secret]{
		{name: "bad key", mutate: func(s *corev1.Secret) { s.Data["a:b"] = nil }, want: []want{invalid("data[a:b]")}},
		{name: "bad stringData key", mutate: func(s *corev1.Secret) { s.StringData = map[string]string{"a b": "x"} }, want: []want{invalid("stringData[a b]")}},
		{name: "too big", mutate: func(s *corev1.Secret) { s.Data["big"] = make([]byte, 1<<20+1) }, want: []want{tooLong("data")}},
		{
			name:   "tls needs cert and key",
			mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS },
			want:   []want{required("data[tls.crt]"), required("data[tls.key]")},
		},
		{
			name: "tls keys may come from stringData",
			mutate: func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeTLS
				s.StringData = map[string]string{"tls.crt": "c", "tls.key": "k"}
			},
		},
		{name: "dockerconfigjson must be JSON", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte("{not json")}
		}, want: []want{invalid("data[.dockerconfigjson]")}},
		{name: "dockerconfigjson required", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson }, want: []want{required("data[.dockerconfigjson]")}},
		{name: "basic auth", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth; s.Data = nil }, want: []want{required("data[username]"), required("data[password]")}},
		{name: "ssh auth", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeSSHAuth }, want: []want{required("data[ssh-privatekey]")}},
		{name: "service account token", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken }, want: []want{required("metadata.annotations[kubernetes.io/service-account.name]")}},
		{name: "custom type", mutate: func(s *corev1.Secret) { s.Type = "example.com/custom" }},
	})
	immutable := func() *corev1.Secret {
		s := valid()
		s.Immutable = ptr.To(true)
		return s
	}
	runUpdateCases(t, immutable, ValidateUpdate, []updateCase[*corev1.Secret]{
		{name: "data may not change", mutate: func(n, _ *corev1.Secret) { n.Data["password"] = []byte("other") }, want: []want{forbidden("data")}},
		{name: "type is immutable", mutate: func(n, _ *corev1.Secret) { n.Type = "example.com/other" }, want: []want{invalid("type")}},
		{name: "immutable may not be unset", mutate: func(n, _ *corev1.Secret) { n.Immutable = ptr.To(false) }, want: []want{forbidden("immutable")}},
	})
}

func TestValidateServiceAccount(t *testing.T) {
	valid := func() *corev1.ServiceAccount { return &corev1.ServiceAccount{ObjectMeta: meta("builder")} }
	runCreateCases(t, valid, []createCase[*corev1.ServiceAccount]{
		{name: "bad name", mutate: func(s *corev1.ServiceAccount) { s.Name = "-builder" }, want: []want{invalid("metadata.name")}},
		{name: "generateName is checked", mutate: func(s *corev1.ServiceAccount) { s.GenerateName = "Bad-" }, want: []want{invalid("metadata.generateName")}},
	})
}

func TestValidateNode(t *testing.T) {
	valid := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: clusterMeta("node-1"),
			Spec: corev1.NodeSpec{
				PodCIDR:  "10.244.0.0/24",
				PodCIDRs: []string{"10.244.0.0/24", "fd00:10:244::/64"},
				Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
			},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}},
		}
	}
	runCreateCases(t, valid, []createCase[*corev1.Node]{
		{name: "namespace forbidden", mutate: func(n *corev1.Node) { n.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
		{name: "bad cidr", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/33"} }, want: []want{invalid("spec.podCIDRs[0]")}},
		{name: "two cidrs of one family", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/24", "10.245.0.0/24"} }, want: []want{invalid("spec.podCIDRs")}},
		{
			name: "taints",
			mutate: func(n *corev1.Node) {
				n.Spec.Taints = append(n.Spec.Taints,
					corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
					corev1.Taint{Key: "bad key", Effect: corev1.TaintEffectNoExecute},
					corev1.Taint{Key: "a", Effect: ""},
					corev1.Taint{Key: "b", Value: "has space", Effect: "Later"},
				)
			},
			want: []want{
				duplicate("spec.taints[1]"),
				invalid("spec.taints[2].key"),
				required("spec.taints[3].effect"),
				invalid("spec.taints[4].value"),
				notSupported("spec.taints[4].effect"),
			},
		},
		{name: "pods must be whole", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1500m") }, want: []want{invalid("status.capacity[pods]")}},
	})
	runUpdateCases(t, valid, ValidateUpdate, []updateCase[*corev1.Node]{
		{name: "taints may change", mutate: func(n, _ *corev1.Node) { n.Spec.Taints = nil; n.Spec.Unschedulable = true }},
		{name: "podCIDRs may be set once", mutate: func(n, o *corev1.Node) { o.Spec.PodCIDRs = nil; o.Spec.PodCIDR = "" }},
		{name: "podCIDRs are then immutable", mutate: func(n, _ *corev1.Node) { n.Spec.PodCIDRs = []string{"10.250.0.0/24"}; n.Spec.PodCIDR = "10.250.0.0/24" }, want: []want{forbidden("spec.podCIDRs")}},
		{name: "providerID is immutable once set", mutate: func(n, o *corev1.Node) { o.Spec.ProviderID = "kind://a"; n.Spec.ProviderID = "kind://b" }, want: []want{forbidden("spec.providerID")}},
	})
	runUpdateCases(t, valid, ValidateStatusUpdate, []updateCase[*corev1.Node]{
		{name: "duplicate addresses", mutate: func(n, _ *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, want: []want{duplicate("status.addresses[1]")}},
	})
}

func TestValidatePersistentVolume(t *testing.T) {
	runCreateCases(t, validPV, []createCase[*corev1.PersistentVolume]{
		{name: "no access modes", mutate: func(p *corev1.PersistentVolume) { p.Spec.AccessModes = nil }, want: []want{required("spec.accessModes")}},
		{name: "bad access mode", mutate: func(p *corev1.PersistentVolume) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
		}, want: []want{notSupported("spec.accessModes")}},
		{name: "ReadWriteOncePod alone", mutate: func(p *corev1.PersistentVolume) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce}
		}, want: []want{forbidden("spec.accessModes")}},
		{name: "no capacity", mutate: func(p *corev1.PersistentVolume) { p.Spec.Capacity = nil }, want: []want{required("spec.capacity"), notSupported("spec.capacity")}},
		{name: "zero capacity", mutate: func(p *corev1.PersistentVolume) { p.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") }, want: []want{invalid("spec.capacity[storage]")}},
		{name: "no source", mutate: func(p *corev1.PersistentVolume) { p.Spec.HostPath = nil }, want: []want{required("spec")}},
		{name: "two sources", mutate: func(p *corev1.PersistentVolume) {
			p.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/export"}
		}, want: []want{forbidden("spec.nfs")}},
		{name: "local needs node affinity", mutate: func(p *corev1.PersistentVolume) {
			p.Spec.HostPath = nil
			p.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}, want: []want{required("spec.nodeAffinity")}},
		{name: "bad reclaim policy", mutate: func(p *corev1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = "Shred" }, want: []want{notSupported("spec.persistentVolumeReclaimPolicy")}},
		{name: "csi", mutate: func(p *corev1.PersistentVolume) {
			p.Spec.HostPath = nil
			p.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", NodePublishSecretRef: &corev1.SecretReference{Name: "s"}}
		}, want: []want{required("spec.csi.volumeHandle"), required("spec.csi.nodePublishSecretRef.namespace")}},
	})
	runUpdateCases(t, validPV, ValidateUpdate, []updateCase[*corev1.PersistentVolume]{
		{name: "capacity may change", mutate: func(n, _ *corev1.PersistentVolume) {
			n.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("20Gi")
		}},
		{name: "source is immutable", mutate: func(n, _ *corev1.PersistentVolume) { n.Spec.HostPath.Path = "/mnt/other" }, want: []want{forbidden("spec.persistentvolumesource")}},
	})
}

func TestValidatePersistentVolumeClaim(t *testing.T) {
	runCreateCases(t, validPVC, []createCase[*corev1.PersistentVolumeClaim]{
		{name: "no access modes", mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = nil }, want: []want{required("spec.accessModes")}},
		{name: "no storage request", mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil }, want: []want{required("spec.resources[storage]")}},
		{name: "zero storage request", mutate: func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, want: []want{invalid("spec.resources[storage]")}},
		{name: "bad selector", mutate: func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b c"}}
		}, want: []want{invalid("spec.selector.matchLabels")}},
		{name: "bad volume mode", mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeMode = ptr.To[corev1.PersistentVolumeMode]("Tape") }, want: []want{notSupported("spec.volumeMode")}},
		{name: "bad data source", mutate: func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "Snapshot", Name: "s"}
		}, want: []want{invalid("spec.dataSource")}},
	})
	bound := func() *corev1.PersistentVolumeClaim {
		p := validPVC()
		p.Spec.VolumeName = "pv-1"
		p.Spec.StorageClassName = ptr.To("standard")
		p.Status.Phase = corev1.ClaimBound
		p.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		return p
	}
	runUpdateCases(t, bound, ValidateUpdate, []updateCase[*corev1.PersistentVolumeClaim]{
		{name: "storage may grow", mutate: func(n, _ *corev1.PersistentVolumeClaim) {
			n.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}},
		{name: "storage may not shrink", mutate: func(n, _ *corev1.PersistentVolumeClaim) {
			n.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
		}, want: []want{forbidden("spec.resources.requests.storage")}},
		{name: "access modes are immutable", mutate: func(n, _ *corev1.PersistentVolumeClaim) {
			n.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, want: []want{forbidden("spec")}},
		{name: "volumeName is immutable once set", mutate: func(n, _ *corev1.PersistentVolumeClaim) { n.Spec.VolumeName = "pv-2" }, want: []want{forbidden("spec")}},
	})
	runUpdateCases(t, validPVC, ValidateUpdate, []updateCase[*corev1.PersistentVolumeClaim]{
		{name: "volumeName may be set once", mutate: func(n, _ *corev1.PersistentVolumeClaim) { n.Spec.VolumeName = "pv-1" }},
		{name: "storageClassName may be set once", mutate: func(n, _ *corev1.PersistentVolumeClaim) { n.Spec.StorageClassName = ptr.To("fast") }},
		{name: "unbound claims may not resize", mutate: func(n, _ *corev1.PersistentVolumeClaim) {
			n.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, want: []want{forbidden("spec")}},
	})
}

func TestValidateEndpoints(t *testing.T) {
	valid := func() *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5", NodeName: ptr.To("node-1")}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		}}}
	}
	runCreateCases(t, valid, []createCase[*corev1.Endpoints]{
		{name: "no addresses", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }, want: []want{required("subsets[0]")}},
		{name: "loopback", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" }, want: []want{invalid("subsets[0].addresses[0].ip")}},
		{name: "not an ip", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "web" }, want: []want{invalid("subsets[0].addresses[0].ip"), invalid("subsets[0].addresses[0].ip")}},
		{name: "ports need names", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" }, want: []want{required("subsets[0].ports[1].name")}},
		{name: "bad port", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0; e.Subsets[0].Ports[0].Protocol = "" }, want: []want{invalid("subsets[0].ports[0].port"), required("subsets[0].ports[0].protocol")}},
	})
}

func TestValidateEvent(t *testing.T) {
	valid := func() *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     meta("web-0.17b2f6a2c9d8e3f1"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
			Reason:         "Started",
			Message:        "Started container web",
			Type:           corev1.EventTypeNormal,
		}
	}
	runCreateCases(t, valid, []createCase[*corev1.Event]{
		{name: "namespace mismatch", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, want: []want{invalid("involvedObject.namespace")}},
		{name: "cluster-scoped object in default", mutate: func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }},
		{name: "cluster-scoped object elsewhere", mutate: func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			e.Namespace = "team-a"
		}, want: []want{invalid("involvedObject.namespace")}},
		{name: "new-style events need reporting fields", mutate: func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(metav1.Now().Time)
			e.Reason = ""
		}, want: []want{required("source"), required("reportingInstance"), required("action"), required("reason")}},
		{name: "new-style event", mutate: func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(metav1.Now().Time)
			e.ReportingController = "kubelet"
			e.ReportingInstance = "node-1"
			e.Action = "Start"
		}},
		{name: "namespace required", mutate: func(e *corev1.Event) { e.Namespace = ""; e.InvolvedObject.Namespace = "" }, want: []want{required("metadata.namespace")}},
	})
}

func TestValidateReplicationController(t *testing.T) {
	valid := func() *corev1.ReplicationController {
		tmpl := validTemplate()
		return &corev1.ReplicationController{ObjectMeta: meta("web"), Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](1), Selector: map[string]string{"app": "web"}, Template: &tmpl,
		}}
	}
	runCreateCases(t, valid, []createCase[*corev1.ReplicationController]{
		{name: "no selector", mutate: func(r *corev1.ReplicationController) { r.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "selector mismatch", mutate: func(r *corev1.ReplicationController) { r.Spec.Selector = map[string]string{"app": "db"} }, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "negative replicas", mutate: func(r *corev1.ReplicationController) { r.Spec.Replicas = ptr.To[int32](-1) }, want: []want{invalid("spec.replicas")}},
		{name: "restartPolicy", mutate: func(r *corev1.ReplicationController) { r.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, want: []want{notSupported("spec.template.spec.restartPolicy")}},
	})
}

func TestValidateLimitRangeAndQuota(t *testing.T) {
	validLR := func() *corev1.LimitRange {
		return &corev1.LimitRange{ObjectMeta: meta("limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Min:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
		}}}}
	}
	runCreateCases(t, validLR, []createCase[*corev1.LimitRange]{
		{name: "min above max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3") }, want: []want{
			invalid("spec.limits[0].min[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]"), invalid("spec.limits[0].default[cpu]"),
		}},
		{name: "bad type", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = "Node" }, want: []want{invalid("spec.limits[0].type")}},
	})
	validQuota := func() *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: meta("quota"), Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("4"),
		}}}
	}
	runCreateCases(t, validQuota, []createCase[*corev1.ResourceQuota]{
		{name: "negative", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("-1") }, want: []want{invalid("spec.hard[pods]")}},
		{name: "unknown resource", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard["gpus"] = resource.MustParse("1") }, want: []want{invalid("spec.hard[gpus]")}},
		{name: "conflicting scopes", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort}
		}, want: []want{invalid("spec.scopes")}},
	})
}
