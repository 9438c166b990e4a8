package printers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	register("apps", "deployments", newConvertor(deploymentColumns, deploymentCells))
	register("apps", "replicasets", newConvertor(replicaSetColumns, replicaSetCells))
	register("apps", "statefulsets", newConvertor(statefulSetColumns, statefulSetCells))
	register("apps", "daemonsets", newConvertor(daemonSetColumns, daemonSetCells))
	register("apps", "controllerrevisions", newConvertor(controllerRevisionColumns, controllerRevisionCells))
}

var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Ready", "string", "Number of the pod with ready state"),
	col("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	col("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn,
	containersColumn,
	imagesColumn,
	wide(col("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])),
}

func deploymentCells(d *appsv1.Deployment) []any {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Or(d.Spec.Replicas, 1)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp),
		names, images, selector,
	}
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	col("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	col("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
	containersColumn,
	imagesColumn,
	wide(col("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"])),
}

func replicaSetCells(rs *appsv1.ReplicaSet) []any {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name, int64(int32Or(rs.Spec.Replicas, 1)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp), names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

var statefulSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Ready", "string", "Number of the pod with ready state"),
	ageColumn,
	containersColumn,
	imagesColumn,
}

func statefulSetCells(ss *appsv1.StatefulSet) []any {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []any{
		ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, int32Or(ss.Spec.Replicas, 1)),
		age(ss.CreationTimestamp), names, images,
	}
}

var daemonSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Desired", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
	col("Current", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
	col("Ready", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
	col("Up-to-date", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
	col("Available", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
	col("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
	ageColumn,
	containersColumn,
	imagesColumn,
	wide(col("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"])),
}

func daemonSetCells(ds *appsv1.DaemonSet) []any {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	st := ds.Status
	return []any{
		ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), age(ds.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Controller", "string", "Controller of the object"),
	col("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
	ageColumn,
}

func controllerRevisionCells(cr *appsv1.ControllerRevision) []any {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		controller = ref.Name
		if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return []any{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp)}
}
