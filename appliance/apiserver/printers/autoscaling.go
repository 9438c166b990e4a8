package printers

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	// The server keeps autoscaling/v2 objects internally; the autoscaling/v1
	// endpoints convert to tables before converting to v1.
	register("autoscaling", "horizontalpodautoscalers", newConvertor(hpaColumns, hpaCells))
}

var hpaColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Reference", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"]),
	col("Targets", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"]),
	col("MinPods", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"]),
	col("MaxPods", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"]),
	col("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
	ageColumn,
}

func hpaCells(hpa *autoscalingv2.HorizontalPodAutoscaler) []any {
	minPods := "<unset>"
	if hpa.Spec.MinReplicas != nil {
		minPods = fmt.Sprintf("%d", *hpa.Spec.MinReplicas)
	}
	return []any{
		hpa.Name, hpa.Spec.ScaleTargetRef.Kind + "/" + hpa.Spec.ScaleTargetRef.Name,
		hpaMetrics(hpa.Spec.Metrics, hpa.Status.CurrentMetrics), minPods,
		int64(hpa.Spec.MaxReplicas), int64(hpa.Status.CurrentReplicas), age(hpa.CreationTimestamp),
	}
}

// quantity formats a quantity the way kubectl does, nil included.
func quantity(q *resource.Quantity) string { return q.String() }

func percent(p *int32) string { return fmt.Sprintf("%d%%", *p) }

// hpaMetrics renders up to two "current/target" pairs, e.g.
// "cpu: 50%/80%, memory: <unknown>/1Gi + 1 more...".
func hpaMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		switch {
		case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
			var cur *autoscalingv2.MetricValueStatus
			if st != nil && st.External != nil {
				cur = &st.External.Current
			}
			list = append(list, valueMetric(spec.External.Target, cur))
		case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
			current := "<unknown>"
			if st != nil && st.Pods != nil {
				current = quantity(st.Pods.Current.AverageValue)
			}
			list = append(list, current+"/"+quantity(spec.Pods.Target.AverageValue))
		case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
			var cur *autoscalingv2.MetricValueStatus
			if st != nil && st.Object != nil {
				cur = &st.Object.Current
			}
			list = append(list, valueMetric(spec.Object.Target, cur))
		case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
			var cur *autoscalingv2.MetricValueStatus
			if st != nil && st.Resource != nil {
				cur = &st.Resource.Current
			}
			list = append(list, spec.Resource.Name.String()+": "+resourceMetric(spec.Resource.Target, cur))
		case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
			var cur *autoscalingv2.MetricValueStatus
			if st != nil && st.ContainerResource != nil {
				cur = &st.ContainerResource.Current
			}
			list = append(list, spec.ContainerResource.Name.String()+": "+resourceMetric(spec.ContainerResource.Target, cur))
		default:
			list = append(list, "<unknown type>")
		}
	}
	const max = 2
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

// valueMetric formats an object or external metric: an average value target
// gets an "(avg)" suffix, a plain value target does not.
func valueMetric(target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if target.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = quantity(cur.AverageValue)
		}
		return fmt.Sprintf("%s/%s (avg)", current, quantity(target.AverageValue))
	}
	if cur != nil {
		current = quantity(cur.Value)
	}
	return current + "/" + quantity(target.Value)
}

// resourceMetric formats a resource metric as average value or utilization.
func resourceMetric(target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if target.AverageValue != nil {
		if cur != nil {
			current = quantity(cur.AverageValue)
		}
		return current + "/" + quantity(target.AverageValue)
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = percent(cur.AverageUtilization)
	}
	goal := "<auto>"
	if target.AverageUtilization != nil {
		goal = percent(target.AverageUtilization)
	}
	return current + "/" + goal
}
