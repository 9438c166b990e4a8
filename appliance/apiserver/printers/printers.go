// Package printers holds the server-side Table convertors that give
// `kubectl get` its familiar columns. The column sets, their order, their
// priorities and the cell formats follow the upstream kube-apiserver printers
// (k8s.io/kubernetes pkg/printers/internalversion), adapted to the versioned
// k8s.io/api types that this server keeps internally.
//
// Like upstream, the server always emits every cell, including those of the
// columns with Priority 1; kubectl hides those unless `-o wide` is given.
package printers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"
)

// TableConvertor returns the rest.TableConvertor for a resource, e.g.
// schema.GroupResource{Group: "apps", Resource: "deployments"}; ok=false if
// none is known.
func TableConvertor(gr schema.GroupResource) (rest.TableConvertor, bool) {
	c, ok := registry[gr]
	return c, ok
}

// registry maps every resource with a known printer to its convertor. Each
// group's file adds its entries from an init function.
var registry = map[schema.GroupResource]rest.TableConvertor{}

func register(group, resource string, c rest.TableConvertor) {
	gr := schema.GroupResource{Group: group, Resource: resource}
	if _, dup := registry[gr]; dup {
		panic(fmt.Sprintf("printers: duplicate table convertor for %s", gr))
	}
	registry[gr] = c
}

// now is the clock used for ages and durations; tests replace it.
var now = time.Now

// convertor turns objects of type T (or lists of them) into Tables.
type convertor[T runtime.Object] struct {
	columns []metav1.TableColumnDefinition
	// cells returns one cell per column, wide columns included.
	cells func(T) []any
	// conditions optionally returns the row conditions of an object.
	conditions func(T) []metav1.TableRowCondition
}

func newConvertor[T runtime.Object](columns []metav1.TableColumnDefinition, cells func(T) []any) *convertor[T] {
	return &convertor[T]{columns: columns, cells: cells}
}

// ConvertToTable implements rest.TableConvertor.
func (c *convertor[T]) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	noHeaders := false
	switch opts := tableOptions.(type) {
	case nil:
	case *metav1.TableOptions:
		if opts != nil {
			noHeaders = opts.NoHeaders
		}
	default:
		return nil, fmt.Errorf("unrecognized type %T for table options, can't display tabular output", tableOptions)
	}

	items := []runtime.Object{object}
	if meta.IsListType(object) {
		var err error
		if items, err = meta.ExtractList(object); err != nil {
			return nil, err
		}
	}

	table := &metav1.Table{Rows: make([]metav1.TableRow, 0, len(items))}
	if !noHeaders {
		table.ColumnDefinitions = slices.Clone(c.columns)
	}
	for _, item := range items {
		obj, ok := item.(T)
		if !ok {
			var want T
			return nil, fmt.Errorf("cannot print %T as a table of %T", item, want)
		}
		row := metav1.TableRow{Cells: c.cells(obj), Object: runtime.RawExtension{Object: item}}
		if c.conditions != nil {
			row.Conditions = c.conditions(obj)
		}
		table.Rows = append(table.Rows, row)
	}

	if list, err := meta.ListAccessor(object); err == nil {
		table.ResourceVersion = list.GetResourceVersion()
		table.Continue = list.GetContinue()
		table.RemainingItemCount = list.GetRemainingItemCount()
	} else if obj, err := meta.CommonAccessor(object); err == nil {
		table.ResourceVersion = obj.GetResourceVersion()
	}
	return table, nil
}

// Column helpers.

var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}

	containersColumn = wide(col("Containers", "string", "Names of each container in the template."))
	imagesColumn     = wide(col("Images", "string", "Images referenced by each container in the template."))
)

func col(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide marks a column as shown only by `kubectl get -o wide`.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

// Cell helpers.

// age formats the time elapsed since t like kubectl does.
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

func boolPtrString(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

func int32Or(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// joinWithMore joins the first max entries of list and notes how many of
// count were left out, e.g. "a,b,c + 2 more...".
func joinWithMore(list []string, count, max int) string {
	if len(list) > max {
		list = list[:max]
	}
	s := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	return s
}
