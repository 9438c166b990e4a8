package printers

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
)

func init() {
	// Like upstream, roles have no dedicated printer: kubectl shows the
	// generic NAME and CREATED AT columns.
	for _, r := range []string{"roles", "clusterroles"} {
		register(rbacv1.GroupName, r, rest.NewDefaultTableConvertor(schema.GroupResource{Group: rbacv1.GroupName, Resource: r}))
	}
	register(rbacv1.GroupName, "rolebindings", newConvertor(roleBindingColumns("roleBinding"), func(rb *rbacv1.RoleBinding) []any {
		return bindingCells(rb.ObjectMeta, rb.RoleRef, rb.Subjects)
	}))
	register(rbacv1.GroupName, "clusterrolebindings", newConvertor(roleBindingColumns("clusterRoleBinding"), func(crb *rbacv1.ClusterRoleBinding) []any {
		return bindingCells(crb.ObjectMeta, crb.RoleRef, crb.Subjects)
	}))
}

func roleBindingColumns(kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		col("Role", "string", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
		ageColumn,
		wide(col("Users", "string", "Users in the "+kind)),
		wide(col("Groups", "string", "Groups in the "+kind)),
		wide(col("ServiceAccounts", "string", "ServiceAccounts in the "+kind)),
	}
}

func bindingCells(m metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, fmt.Sprintf("%s/%s", s.Namespace, s.Name))
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []any{
		m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}
