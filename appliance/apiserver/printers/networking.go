package printers

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	register("networking.k8s.io", "ingresses", newConvertor(ingressColumns, ingressCells))
	register("networking.k8s.io", "ingressclasses", newConvertor(ingressClassColumns, ingressClassCells))
}

var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
	col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
	col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
	col("Ports", "string", "Ports of TLS configurations that open"),
	ageColumn,
}

func ingressCells(ing *networkingv1.Ingress) []any {
	var addrs []string
	for _, in := range ing.Status.LoadBalancer.Ingress {
		addrs = append(addrs, firstNonEmpty(in.IP, in.Hostname))
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []any{
		ing.Name, stringPtrOr(ing.Spec.IngressClassName, "<none>"), ingressHosts(ing.Spec.Rules),
		ingressPoints(addrs), ports, age(ing.CreationTimestamp),
	}
}

// ingressHosts lists the hosts of the first three rules ("*" if none has
// one) and how many rules are left out.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	for i, rule := range rules {
		if i < max && rule.Host != "" {
			list = append(list, rule.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	s := strings.Join(list, ",")
	if len(rules) > max {
		return fmt.Sprintf("%s + %d more...", s, len(rules)-max)
	}
	return s
}

var ingressClassColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Controller", "string", "Controller that is responsible for handling this class"),
	col("Parameters", "string", "A reference to a resource with additional parameters"),
	ageColumn,
}

func ingressClassCells(ic *networkingv1.IngressClass) []any {
	parameters := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		parameters = p.Kind
		if p.APIGroup != nil {
			parameters += "." + *p.APIGroup
		}
		parameters += "/" + p.Name
	}
	return []any{ic.Name, ic.Spec.Controller, parameters, age(ic.CreationTimestamp)}
}
