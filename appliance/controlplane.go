package appliance

import (
	"context"
	"log/slog"
	"sync"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/controllers"
	"github.com/appliance/appliance/appliance/controllers/garbagecollector"
	"github.com/appliance/appliance/appliance/controllers/namespace"
	"github.com/appliance/appliance/appliance/controllers/nodeipam"
	"github.com/appliance/appliance/appliance/controllers/nodelifecycle"
	"github.com/appliance/appliance/appliance/controllers/serviceaccount"
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
			if err := a.runControllers(ctx, cfg, client); err != nil {
				log.Error("controllers", "err", err)
			}
		})
	return nil
}

// runControllers builds every loop, runs them until ctx ends and waits for them.
func (a *Appliance) runControllers(ctx context.Context, cfg *rest.Config, client kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	part := func(name string) *slog.Logger { return a.log.With("part", name) }

	var loops []func(context.Context)
	nsc, err := namespace.New(cfg, part("namespace-controller"))
	if err != nil {
		return err
	}
	loops = append(loops, nsc.Run)
	gc, err := garbagecollector.New(cfg, garbagecollector.Config{}, part("garbage-collector"))
	if err != nil {
		return err
	}
	loops = append(loops, gc.Run)
	sa, err := serviceaccount.New(client, factory, serviceaccount.Config{}, part("serviceaccount-controller"))
	if err != nil {
		return err
	}
	loops = append(loops, sa.Run)
	ipam, err := nodeipam.New(client, factory, nodeipam.Config{ClusterCIDR: a.cfg.ClusterCIDR}, part("node-ipam"))
	if err != nil {
		return err
	}
	loops = append(loops, ipam.Run)
	nl, err := nodelifecycle.New(client, factory, nodelifecycle.Config{}, part("node-lifecycle"))
	if err != nil {
		return err
	}
	loops = append(loops, nl.Run)

	var wg sync.WaitGroup
	for _, run := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	factory.Start(ctx.Done())
	wg.Wait()
	factory.Shutdown()
	return nil
}
