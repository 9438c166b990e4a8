package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/controllers"
	"github.com/appliance/appliance/appliance/controllers/clusterdns"
	"github.com/appliance/appliance/appliance/controllers/cronjob"
	"github.com/appliance/appliance/appliance/controllers/daemonset"
	"github.com/appliance/appliance/appliance/controllers/deployment"
	"github.com/appliance/appliance/appliance/controllers/endpoints"
	"github.com/appliance/appliance/appliance/controllers/endpointslice"
	"github.com/appliance/appliance/appliance/controllers/garbagecollector"
	"github.com/appliance/appliance/appliance/controllers/job"
	"github.com/appliance/appliance/appliance/controllers/namespace"
	"github.com/appliance/appliance/appliance/controllers/nodeipam"
	"github.com/appliance/appliance/appliance/controllers/nodelifecycle"
	"github.com/appliance/appliance/appliance/controllers/replicaset"
	"github.com/appliance/appliance/appliance/controllers/serviceaccount"
	"github.com/appliance/appliance/appliance/controllers/servicelb"
	"github.com/appliance/appliance/appliance/controllers/statefulset"
	"github.com/appliance/appliance/appliance/scheduler"
	"github.com/appliance/appliance/appliance/simulate"
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
	a.runPart(func() {
		controllers.RunAsLeader(ctx, client, "kube-controller-manager", a.cfg.NodeName, log,
			func(ctx context.Context) {
				if err := a.runControllers(ctx, cfg, client); err != nil {
					log.Error("controllers", "err", err)
				}
			})
	})
	return nil
}

// run adapts a constructor's result to a loop.
func run[C interface{ Run(context.Context) }](c C, err error) (func(context.Context), error) {
	if err != nil {
		return nil, err
	}
	return c.Run, nil
}

// runControllers builds every loop, runs them until ctx ends and waits for them.
func (a *Appliance) runControllers(ctx context.Context, cfg *rest.Config, client kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	part := func(name string) *slog.Logger { return a.log.With("part", name) }

	var loops []func(context.Context)
	add := func(name string, build func(log *slog.Logger) (func(context.Context), error)) error {
		if !a.cfg.ControllerEnabled(name) {
			return nil
		}
		run, err := build(part(name + "-controller"))
		if err != nil {
			return fmt.Errorf("%s controller: %w", name, err)
		}
		loops = append(loops, run)
		return nil
	}
	const workers = 5
	for _, c := range []struct {
		name  string
		build func(log *slog.Logger) (func(context.Context), error)
	}{
		{"namespace", func(log *slog.Logger) (func(context.Context), error) {
			c, err := namespace.New(cfg, log)
			return run(c, err)
		}},
		{"garbage-collector", func(log *slog.Logger) (func(context.Context), error) {
			c, err := garbagecollector.New(cfg, garbagecollector.Config{}, log)
			return run(c, err)
		}},
		{"serviceaccount", func(log *slog.Logger) (func(context.Context), error) {
			c, err := serviceaccount.New(client, factory, serviceaccount.Config{}, log)
			return run(c, err)
		}},
		{"node-ipam", func(log *slog.Logger) (func(context.Context), error) {
			c, err := nodeipam.New(client, factory, nodeipam.Config{ClusterCIDR: a.cfg.ClusterCIDR}, log)
			return run(c, err)
		}},
		{"node-lifecycle", func(log *slog.Logger) (func(context.Context), error) {
			c, err := nodelifecycle.New(client, factory, nodelifecycle.Config{
				GracePeriod: a.cfg.NodeMonitorGracePeriod,
				// Look at least twice per grace period (Kubernetes: every 5 s of 40).
				MonitorPeriod: min(5*time.Second, a.cfg.NodeMonitorGracePeriod/2),
			}, log)
			return run(c, err)
		}},
		{"replicaset", func(log *slog.Logger) (func(context.Context), error) {
			c := replicaset.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"deployment", func(log *slog.Logger) (func(context.Context), error) {
			c := deployment.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"daemonset", func(log *slog.Logger) (func(context.Context), error) {
			c := daemonset.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"statefulset", func(log *slog.Logger) (func(context.Context), error) {
			c := statefulset.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"job", func(log *slog.Logger) (func(context.Context), error) {
			c := job.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"cronjob", func(log *slog.Logger) (func(context.Context), error) {
			c := cronjob.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"endpointslice", func(log *slog.Logger) (func(context.Context), error) {
			c := endpointslice.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"endpoints", func(log *slog.Logger) (func(context.Context), error) {
			c := endpoints.New(client, factory, log)
			return func(ctx context.Context) { c.Run(ctx, workers) }, nil
		}},
		{"service-lb", func(log *slog.Logger) (func(context.Context), error) {
			c := servicelb.New(client, factory, log)
			return c.Run, nil
		}},
		{"cluster-dns", func(log *slog.Logger) (func(context.Context), error) {
			c, err := clusterdns.New(client, factory, clusterdns.Config{ServiceIP: a.cfg.ClusterDNS}, log)
			return run(c, err)
		}},
	} {
		// One loop that cannot start must not keep the others from running.
		if err := add(c.name, c.build); err != nil {
			a.log.Error("controller not started", "part", "controller-manager", "err", err)
		}
	}

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

// startScheduler runs the scheduler with its own identity; it takes the
// kube-system/kube-scheduler Lease itself.
func (a *Appliance) startScheduler(ctx context.Context, certs *clusterCerts) error {
	cfg, err := certs.clientConfig(a.port, "system:kube-scheduler")
	if err != nil {
		return err
	}
	s, err := scheduler.New(scheduler.Config{REST: cfg, Log: a.log, LeaderElect: true, Identity: a.cfg.NodeName})
	if err != nil {
		return err
	}
	a.runPart(func() {
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("scheduler stopped", "part", "scheduler", "err", err)
		}
	})
	return nil
}

// startSimulator registers the simulated nodes; Close removes them.
func (a *Appliance) startSimulator(ctx context.Context, certs *clusterCerts) error {
	cfg, err := certs.clientConfig(a.port, "system:node-simulator")
	if err != nil {
		return err
	}
	sim, err := simulate.Start(ctx, simulate.Config{REST: cfg, Nodes: a.cfg.SimulateNodes, Log: a.log})
	if err != nil {
		return fmt.Errorf("simulated nodes: %w", err)
	}
	a.mu.Lock()
	a.sim = sim
	a.mu.Unlock()
	return nil
}
