package appliance

import (
	"context"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/controllers"
	"github.com/appliance/appliance/appliance/controllers/namespace"
)

// startControllers runs the controller manager's loops under leader election
// (the kube-controller-manager Lease in kube-system), with the controller
// manager's own client identity.
func (a *Appliance) startControllers(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	log := a.log.With("part", "controller-manager")
	// Each term of leadership starts the loops afresh: their queues and
	// informers do not outlive a lost lease.
	go controllers.RunAsLeader(ctx, client, "kube-controller-manager", a.cfg.NodeName, log,
		func(ctx context.Context) {
			nsc, err := namespace.New(cfg, a.log.With("part", "namespace-controller"))
			if err != nil {
				log.Error("namespace controller", "err", err)
				return
			}
			nsc.Run(ctx)
		})
	return nil
}
