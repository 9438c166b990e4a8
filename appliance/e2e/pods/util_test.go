package pods

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func intstrName(name string) intstr.IntOrString { return intstr.FromString(name) }
