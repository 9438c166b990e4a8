package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestValidateDeployment(t *testing.T) {
	runCreateCases(t, validDeployment, []createCase[*appsv1.Deployment]{
		{name: "selector required", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "selector must match template", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
		}, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "bad selector", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
		}, want: []want{invalid("spec.selector.matchExpressions[0].operator"), invalid("spec.selector")}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, want: []want{invalid("spec.replicas")}},
		{name: "restartPolicy must be Always", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, want: []want{notSupported("spec.template.spec.restartPolicy")}},
		{name: "activeDeadlineSeconds not supported", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
		}, want: []want{forbidden("spec.template.spec.activeDeadlineSeconds")}},
		{name: "template is validated", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, want: []want{required("spec.template.spec.containers[0].image")}},
		{name: "both surge and unavailable zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromString("0%"))}
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "bad surge and unavailable", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromString("110%")), MaxSurge: ptr.To(intstr.FromString("lots"))}
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable"), invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "negative surge", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-1))
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "recreate with rolling update params", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, want: []want{forbidden("spec.strategy.rollingUpdate")}},
		{name: "strategy type", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, want: []want{notSupported("spec.strategy.type")}},
		{name: "rolling update not defaulted", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate = nil }, want: []want{required("spec.strategy.rollingUpdate")}},
		{name: "counters", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 700
			d.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
		}, want: []want{invalid("spec.progressDeadlineSeconds"), invalid("spec.revisionHistoryLimit")}},
	})
	runUpdateCases(t, validDeployment, ValidateUpdate, []updateCase[*appsv1.Deployment]{
		{name: "replicas and template may change", mutate: func(n, _ *appsv1.Deployment) {
			n.Spec.Replicas = ptr.To[int32](5)
			n.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}},
		{name: "selector is immutable", mutate: func(n, _ *appsv1.Deployment) {
			n.Spec.Selector.MatchLabels["tier"] = "front"
			n.Spec.Template.Labels["tier"] = "front"
		}, want: []want{invalid("spec.selector")}},
	})
	runUpdateCases(t, validDeployment, ValidateStatusUpdate, []updateCase[*appsv1.Deployment]{
		{name: "status", mutate: func(n, _ *appsv1.Deployment) {
			n.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2}
		}},
		{name: "bad status", mutate: func(n, o *appsv1.Deployment) {
			o.Status.CollisionCount = ptr.To[int32](2)
			n.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: -1, CollisionCount: ptr.To[int32](1)}
		}, want: []want{invalid("status.readyReplicas"), invalid("status.availableReplicas"), invalid("status.collisionCount")}},
	})
}

func TestValidateReplicaSet(t *testing.T) {
	runCreateCases(t, validReplicaSet, []createCase[*appsv1.ReplicaSet]{
		{name: "selector required", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "selector mismatch", mutate: func(r *appsv1.ReplicaSet) { r.Spec.Template.Labels = map[string]string{"app": "other"} }, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "minReadySeconds", mutate: func(r *appsv1.ReplicaSet) { r.Spec.MinReadySeconds = -5 }, want: []want{invalid("spec.minReadySeconds")}},
	})
	runUpdateCases(t, validReplicaSet, ValidateUpdate, []updateCase[*appsv1.ReplicaSet]{
		{name: "selector is immutable", mutate: func(n, _ *appsv1.ReplicaSet) {
			n.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}
		}, want: []want{invalid("spec.selector")}},
	})
	runUpdateCases(t, validReplicaSet, ValidateStatusUpdate, []updateCase[*appsv1.ReplicaSet]{
		{name: "fully labeled above replicas", mutate: func(n, _ *appsv1.ReplicaSet) { n.Status.FullyLabeledReplicas = 2 }, want: []want{invalid("status.fullyLabeledReplicas")}},
	})
}

func TestValidateStatefulSet(t *testing.T) {
	runCreateCases(t, validStatefulSet, []createCase[*appsv1.StatefulSet]{
		{name: "name must be a DNS label", mutate: func(s *appsv1.StatefulSet) { s.Name = "db.primary" }, want: []want{invalid("metadata.name")}},
		{name: "pod management policy", mutate: func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, want: []want{invalid("spec.podManagementPolicy")}},
		{name: "not defaulted", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = ""
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{}
		}, want: []want{required("spec.podManagementPolicy"), required("spec.updateStrategy")}},
		{name: "OnDelete with rolling update", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate")}},
		{name: "partition and maxUnavailable", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](-1), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate.partition"), invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "retention policy", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Archive"
		}, want: []want{notSupported("spec.persistentVolumeClaimRetentionPolicy.whenScaled")}},
		{name: "service name", mutate: func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "DB" }, want: []want{invalid("spec.serviceName")}},
		{name: "mount of unknown volume", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates[0].Name = "logs"
		}, want: []want{notFound("spec.template.spec.containers[0].volumeMounts[0].name")}},
		{name: "claim templates", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates,
				corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: validPVCSpec()},
				corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "Logs"}},
			)
		}, want: []want{
			duplicate("spec.volumeClaimTemplates[1].metadata.name"),
			invalid("spec.volumeClaimTemplates[2].metadata.name"),
			required("spec.volumeClaimTemplates[2].spec.accessModes"),
			required("spec.volumeClaimTemplates[2].spec.resources[storage]"),
		}},
		{name: "selector required", mutate: func(s *appsv1.StatefulSet) { s.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "restartPolicy", mutate: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, want: []want{notSupported("spec.template.spec.restartPolicy")}},
	})
	runUpdateCases(t, validStatefulSet, ValidateUpdate, []updateCase[*appsv1.StatefulSet]{
		{name: "allowed fields", mutate: func(n, _ *appsv1.StatefulSet) {
			n.Spec.Replicas = ptr.To[int32](5)
			n.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			n.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			n.Spec.MinReadySeconds = 10
		}},
		{name: "other fields are forbidden", mutate: func(n, _ *appsv1.StatefulSet) { n.Spec.ServiceName = "db-headless" }, want: []want{forbidden("spec")}},
		{name: "claim templates are forbidden", mutate: func(n, _ *appsv1.StatefulSet) {
			n.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, want: []want{forbidden("spec")}},
	})
	runUpdateCases(t, validStatefulSet, ValidateStatusUpdate, []updateCase[*appsv1.StatefulSet]{
		{name: "status", mutate: func(n, _ *appsv1.StatefulSet) {
			n.Status = appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3}
		}},
		{name: "bad status", mutate: func(n, _ *appsv1.StatefulSet) { n.Status = appsv1.StatefulSetStatus{Replicas: 1, CurrentReplicas: 2} }, want: []want{invalid("status.currentReplicas")}},
	})
}

func TestValidateDaemonSet(t *testing.T) {
	runCreateCases(t, validDaemonSet, []createCase[*appsv1.DaemonSet]{
		{name: "selector required", mutate: func(d *appsv1.DaemonSet) { d.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "empty selector", mutate: func(d *appsv1.DaemonSet) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "surge and unavailable", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{name: "neither surge nor unavailable", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, want: []want{required("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "strategy type", mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = "Canary" }, want: []want{notSupported("spec.updateStrategy.type")}},
		{name: "revisionHistoryLimit", mutate: func(d *appsv1.DaemonSet) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) }, want: []want{invalid("spec.revisionHistoryLimit")}},
	})
	runUpdateCases(t, validDaemonSet, ValidateUpdate, []updateCase[*appsv1.DaemonSet]{
		{name: "selector is immutable", mutate: func(n, _ *appsv1.DaemonSet) {
			n.Spec.Selector.MatchLabels = map[string]string{"app": "web", "x": "y"}
			n.Spec.Template.Labels["x"] = "y"
		}, want: []want{invalid("spec.selector")}},
	})
	runUpdateCases(t, validDaemonSet, ValidateStatusUpdate, []updateCase[*appsv1.DaemonSet]{
		{name: "negative counts", mutate: func(n, _ *appsv1.DaemonSet) { n.Status.NumberReady = -1 }, want: []want{invalid("status.numberReady")}},
	})
}

func TestValidateControllerRevision(t *testing.T) {
	runCreateCases(t, validControllerRevision, []createCase[*appsv1.ControllerRevision]{
		{name: "data required", mutate: func(c *appsv1.ControllerRevision) { c.Data = runtime.RawExtension{} }, want: []want{required("data")}},
		{name: "negative revision", mutate: func(c *appsv1.ControllerRevision) { c.Revision = -1 }, want: []want{invalid("revision")}},
	})
	runUpdateCases(t, validControllerRevision, ValidateUpdate, []updateCase[*appsv1.ControllerRevision]{
		{name: "data is immutable", mutate: func(n, _ *appsv1.ControllerRevision) { n.Data = runtime.RawExtension{Raw: []byte(`{"a":1}`)} }, want: []want{invalid("data")}},
	})
}
