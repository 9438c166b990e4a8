// Package tui is the console: a Bubble Tea program that shows the cluster at
// work. Informers (source.go) turn objects into plain structs in a Store
// (store.go, convert.go), delivered as one BatchMsg per frame; the root Model
// (model.go) owns layout, focus and routing, and the views (views.go, flow.go,
// logs.go) draw from the Store only, so they test and benchmark without an
// API server. Describe, YAML, logs and the changing actions go through a
// Backend, called only inside commands.
package tui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	tea "charm.land/bubbletea/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// RunConfig is what `appliance console` passes.
type RunConfig struct {
	Kubeconfig string
	Namespace  string
	Readonly   bool
	Log        *slog.Logger
}

// Run runs the console until the user quits.
func Run(ctx context.Context, cfg RunConfig) error {
	// client-go logs through klog to stderr, which would tear the screen.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("console: kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	backend, err := NewKubeBackend(rc, cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	m := New(Options{
		Backend: backend, Source: NewSource(client, cfg.Log), Client: client,
		Server: rc.Host, Namespace: cfg.Namespace, Readonly: cfg.Readonly, NoColor: NoColor(os.LookupEnv),
	})
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err = p.Run()
	m.cancel()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// NoColor reports whether the environment asks for no colour: NO_COLOR
// set to anything but the empty string, as https://no-color.org says.
func NoColor(lookupEnv func(string) (string, bool)) bool {
	v, ok := lookupEnv("NO_COLOR")
	return ok && v != ""
}
