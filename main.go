// Command appliance is a Kubernetes appliance for homelab servers and small
// clusters: `appliance server` runs the whole control plane in one process, and
// `appliance kubectl` is the real kubectl, pointed at it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/apiserver"
	"github.com/appliance/appliance/appliance/logging"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/runtime/containerd"
	"github.com/appliance/appliance/tui"
)

func main() {
	// `appliance kubectl ...` hands every argument to kubectl untouched, as
	// `k3s kubectl` does, so its own flags are never parsed here.
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(runKubectl(os.Args[2:]))
	}
	if err := rootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "appliance",
		Short:         "A Kubernetes appliance for homelab servers and small clusters",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	// On a terminal, `appliance` alone opens the console.
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 && term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd()) {
			return runConsole(cmd.Context(), consoleKubeconfig(""), "", false)
		}
		return cmd.Help()
	}
	root.AddCommand(consoleCommand(), serverCommand(), simulateCommand(), imageCommand(), versionCommand(), &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against this appliance (admin kubeconfig by default)",
		DisableFlagParsing: true,
		Run:                func(*cobra.Command, []string) {},
	})
	return root
}

func serverCommand() *cobra.Command {
	cfg := appliance.Defaults()
	var configFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: etcd, the API server and the controllers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := appliance.Load(cmd.Flags(), configFile, cmd.Flags().Changed("config"), os.Environ()); err != nil {
				return err
			}
			return runServer(cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", appliance.DefaultConfigFile, "config file with the same keys as the flags")
	cfg.AddFlags(cmd.Flags())
	return cmd
}

func runServer(cfg appliance.Config) error {
	log := newLogger(cfg.LogLevel)
	// client-go and the API server's libraries log through klog: into our
	// log, in its format, their info lines as debug.
	klog.SetSlogLogger(logging.Library(log, "klog"))
	log.Debug("garbage collector", "gc-percent", appliance.TuneGC())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := appliance.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	select {
	case <-ctx.Done():
		log.Info("stopping")
		logging.Stopping()
	case err := <-a.Err():
		return err
	}
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("did not stop within 30s")
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func simulateCommand() *cobra.Command {
	var (
		kubeconfig string
		cfg        = simulate.Config{}
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Register simulated nodes with a cluster until interrupted, then remove them",
		Long: `Registers hollow nodes (labelled appliance.dev/simulated=true) that keep their
leases fresh and run the pods bound to them in make-believe: pods go Running and
Ready, Jobs' pods complete. Try scheduling rules without machines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				kubeconfig = os.Getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				kubeconfig = appliance.Defaults().AdminKubeconfig
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			cfg.REST = rc
			cfg.Log = newLogger("info")
			sim, err := simulate.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d simulated nodes registered; Ctrl-C removes them\n", len(sim.Nodes()))
			<-ctx.Done()
			sim.Close()
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, then the admin kubeconfig)")
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 3, "how many nodes")
	cmd.Flags().StringVar(&cfg.NamePrefix, "name-prefix", "sim-node-", "node name prefix")
	cmd.Flags().DurationVar(&cfg.StartDelay, "start-delay", time.Second, "how long a bound pod takes to go Running")
	return cmd
}

// consoleCommand opens the Bubble Tea console against a local or remote
// appliance, or any Kubernetes API.
func consoleCommand() *cobra.Command {
	var kubeconfig, namespace string
	var readonly bool
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Watch the cluster at work: pod flow, workloads, services, logs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConsole(cmd.Context(), consoleKubeconfig(kubeconfig), namespace, readonly)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, then the admin kubeconfig)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace to show (default: all)")
	cmd.Flags().BoolVar(&readonly, "readonly", false, "hide and refuse everything that changes the cluster")
	return cmd
}

func consoleKubeconfig(flag string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("KUBECONFIG") != "":
		return os.Getenv("KUBECONFIG")
	case os.Getenv("APPLIANCE_ADMIN_KUBECONFIG") != "":
		return os.Getenv("APPLIANCE_ADMIN_KUBECONFIG")
	}
	return appliance.Defaults().AdminKubeconfig
}

func runConsole(ctx context.Context, kubeconfig, namespace string, readonly bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	return tui.Run(ctx, tui.RunConfig{Kubeconfig: kubeconfig, Namespace: namespace, Readonly: readonly})
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the appliance and Kubernetes versions",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "appliance %s (Kubernetes v%s)\n", appliance.Version, apiserver.KubernetesVersion)
		},
	}
}

// runKubectl runs the embedded kubectl. Without --kubeconfig or KUBECONFIG it
// uses the admin kubeconfig.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
		path := os.Getenv("APPLIANCE_ADMIN_KUBECONFIG")
		if path == "" {
			path = appliance.Defaults().AdminKubeconfig
		}
		os.Setenv("KUBECONFIG", path)
	}
	cmd := kubectlcmd.NewDefaultKubectlCommand()
	cmd.SetArgs(args)
	// As kubectl's own main: logging flags (-v) and its error printing.
	if err := cli.RunNoErrOutput(cmd); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || len(a) > 13 && a[:13] == "--kubeconfig=" {
			return true
		}
	}
	return false
}

// imageCommand manages the images of the running appliance's containerd, as
// `k3s ctr images` does: import tars (air-gapped nodes), list and remove.
func imageCommand() *cobra.Command {
	var socket, namespace string
	connect := func(cmd *cobra.Command) (*containerd.Runtime, error) {
		return containerd.Start(cmd.Context(), containerd.Config{
			Endpoint:  socket,
			Namespace: namespace,
			Log:       slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Import, list and remove the images of the running appliance's containerd",
	}
	cmd.PersistentFlags().StringVar(&socket, "containerd-socket", containerd.DefaultSocket, "containerd socket of the running appliance")
	cmd.PersistentFlags().StringVar(&namespace, "namespace", containerd.DefaultNamespace, "containerd namespace")
	cmd.AddCommand(&cobra.Command{
		Use:   "import <tar>...",
		Short: "Import OCI-layout or `docker save` tars (- for stdin) and unpack them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := connect(cmd)
			if err != nil {
				return err
			}
			defer rt.Close()
			for _, path := range args {
				f := os.Stdin
				if path != "-" {
					if f, err = os.Open(path); err != nil {
						return fmt.Errorf("import: %w", err)
					}
				}
				names, err := rt.Import(cmd.Context(), f)
				f.Close()
				if err != nil {
					return fmt.Errorf("import %s: %w", path, err)
				}
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", n)
				}
			}
			return nil
		},
	}, &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := connect(cmd)
			if err != nil {
				return err
			}
			defer rt.Close()
			imgs, err := rt.ListImages(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tDIGEST\tSIZE")
			for _, i := range imgs {
				d := i.Digest
				if len(d) > 19 {
					d = d[:19]
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1f MiB\n", i.Name, d, float64(i.Size)/(1<<20))
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:     "rm <ref>...",
		Aliases: []string{"remove"},
		Short:   "Remove images (busybox means docker.io/library/busybox:latest)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := connect(cmd)
			if err != nil {
				return err
			}
			defer rt.Close()
			var errs []error
			for _, ref := range args {
				if err := rt.RemoveImage(cmd.Context(), ref); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", ref)
			}
			return errors.Join(errs...)
		},
	})
	return cmd
}
