// Package controllers holds what the control-plane loops share; each loop lives
// in a folder of its own (namespace/, ...).
package controllers

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// RunAsLeader runs run while this process holds the kube-system Lease called
// name, as kube-controller-manager and kube-scheduler do, so that several servers
// can run the same loops safely: one acts, the others wait. identity must be
// stable across restarts of the same server (its node name): a restarted server
// then takes its own lease back at once instead of waiting for it to expire.
// It returns when ctx ends, once run has returned and the lease is released.
func RunAsLeader(ctx context.Context, client kubernetes.Interface, name, identity string, log *slog.Logger, run func(ctx context.Context)) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	for ctx.Err() == nil {
		// client-go starts run in a goroutine of its own and does not wait
		// for it; this term waits, so that the loops are done before the
		// caller stops the API server.
		started, ran := make(chan struct{}), make(chan struct{})
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            name,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					close(started)
					defer close(ran)
					log.Info("leading", "lease", name, "identity", identity)
					run(ctx)
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						log.Warn("lost the lease; waiting to lead again", "lease", name)
					}
				},
			},
		})
		select {
		case <-started:
			<-ran
		default:
		}
	}
}
