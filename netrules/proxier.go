package netrules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/runtime/network"
)

// Proxier keeps a node's service rules; see Start.
type Proxier struct {
	cfg      Config
	log      *slog.Logger
	skipSCTP bool

	factory     informers.SharedInformerFactory
	svcLister   corelisters.ServiceLister
	sliceLister discoverylisters.EndpointSliceLister
	synced      []toolscache.InformerSynced

	kick      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	errc      chan error
	ctx       context.Context
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	lastErr error

	// Owned by the sync loop.
	written       *Rules            // the last rules written
	writtenChains map[string]string // per-service nat chain -> its rules, as written
	logged        map[string]bool   // skipped objects already logged
}

// Start validates cfg, starts the informers and the sync loop, and returns
// at once (ctx only bounds the start: Close stops the Proxier). Ready
// closes after the first successful write once both informers synced. The
// rules stay when the Proxier is closed.
func Start(ctx context.Context, cfg Config) (*Proxier, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("netrules config: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("netrules: %w", err)
	}
	log := cfg.Log.With("part", "netrules")
	pctx, stop := context.WithCancel(context.Background())
	p := &Proxier{
		cfg:      cfg,
		log:      log,
		skipSCTP: !kernelHasSCTP(),
		kick:     make(chan struct{}, 1),
		ready:    make(chan struct{}),
		errc:     make(chan error, 1),
		ctx:      pctx,
		stop:     stop,
		done:     make(chan struct{}),
		logged:   map[string]bool{},
	}
	if p.skipSCTP {
		log.Info("the kernel has no SCTP: SCTP service ports get no rules")
	}
	p.factory = informers.NewSharedInformerFactory(cfg.Client, 0)
	svcInf := p.factory.Core().V1().Services()
	sliceInf := p.factory.Discovery().V1().EndpointSlices()
	p.svcLister, p.sliceLister = svcInf.Lister(), sliceInf.Lister()
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.trigger() },
		UpdateFunc: func(any, any) { p.trigger() },
		DeleteFunc: func(any) { p.trigger() },
	}
	for _, inf := range []toolscache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			stop()
			return nil, fmt.Errorf("netrules: informers: %w", err)
		}
		p.synced = append(p.synced, inf.HasSynced)
	}
	p.factory.Start(pctx.Done())
	go p.run()
	ips := make([]string, len(cfg.NodeIPs))
	for i, ip := range cfg.NodeIPs {
		ips[i] = ip.String()
	}
	log.Info("netrules started", "node", cfg.NodeName, "node-ips", strings.Join(ips, ","), "cluster-cidr", cfg.ClusterCIDR.String(),
		"netns", cfg.NetNS, "min-sync-period", cfg.MinSyncPeriod, "sync-period", cfg.SyncPeriod, "sctp", !p.skipSCTP)
	return p, nil
}

// kernelHasSCTP: an SCTP socket can be made (the module is built in or
// loads on demand).
func kernelHasSCTP() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// Ready closes after the first successful write of the rules once both
// informers synced.
func (p *Proxier) Ready() <-chan struct{} { return p.ready }

// Err delivers the error of a failed first write, before Ready (iptables
// missing, or refusing our rules), so a caller waiting for Ready need not
// wait forever. The Proxier keeps retrying every SyncPeriod all the same.
// Later failures are not delivered: they are logged, kept in LastError and
// retried, while the rules last written stay in force.
func (p *Proxier) Err() <-chan error { return p.errc }

// LastError is the error of the last sync, nil when it succeeded. A failed
// iptables-restore carries its stderr.
func (p *Proxier) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Close stops the informers and the sync loop; the rules stay in place
// (use Cleanup to remove them). Safe to call twice.
func (p *Proxier) Close() {
	p.closeOnce.Do(func() {
		p.stop()
		<-p.done
		p.factory.Shutdown()
	})
}

func (p *Proxier) trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run syncs on events, at most once per MinSyncPeriod (a burst of events
// is one write), and fully every SyncPeriod: then the jumps from the
// built-in chains are checked and every chain is written again, repairing
// what someone else flushed. A failed sync is retried fully at the next
// period (or the next event).
func (p *Proxier) run() {
	defer close(p.done)
	_ = network.InNetNS(p.cfg.NetNS, func() error { ensureBridgeNetfilter(p.log); return nil })
	if !toolscache.WaitForCacheSync(p.ctx.Done(), p.synced...) {
		return
	}
	tick := time.NewTicker(p.cfg.SyncPeriod)
	defer tick.Stop()
	full := true
	for {
		select {
		case <-p.kick: // the sync below covers this event too
		default:
		}
		last := time.Now()
		if err := p.sync(full); err != nil {
			full = true
			select {
			case <-p.ready:
			default:
				select {
				case p.errc <- fmt.Errorf("netrules: first write of the service rules: %w", err):
				default: // one is enough
				}
			}
		} else {
			full = false
			p.readyOnce.Do(func() {
				close(p.ready)
				p.log.Info("netrules ready: services and endpointslices synced, rules written")
			})
		}
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
			full = true
			continue
		case <-p.kick:
		}
		if d := time.Until(last.Add(p.cfg.MinSyncPeriod)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (p *Proxier) snapshot() Snapshot {
	svcs, _ := p.svcLister.List(labels.Everything())
	sls, _ := p.sliceLister.List(labels.Everything())
	return Snapshot{Services: svcs, EndpointSlices: sls, NodeName: p.cfg.NodeName, NodeIPs: p.cfg.NodeIPs,
		ClusterCIDR: p.cfg.ClusterCIDR, SkipSCTP: p.skipSCTP}
}

// sync renders the rules and writes them if they changed (always when
// full).
func (p *Proxier) sync(full bool) error {
	start := time.Now()
	rules := Render(p.snapshot())
	p.logSkipped(rules.Skipped)
	return p.apply(rules, full, start)
}

// apply writes rules: on a full sync every chain, and the jumps are
// checked; otherwise only what changed, and nothing when the text is the
// one last written.
func (p *Proxier) apply(rules *Rules, full bool, start time.Time) error {
	if !full && p.written != nil && bytes.Equal(rules.Text(), p.written.Text()) {
		return nil
	}
	var input []byte
	restored := false
	err := network.InNetNS(p.cfg.NetNS, func() error {
		known := make(map[string]bool, len(p.writtenChains))
		for n := range p.writtenChains {
			known[n] = true
		}
		var st tablesState
		if full {
			// After a restart, or someone else's changes: what is there
			// decides what is stale, and which jumps are missing.
			var err error
			if st, err = saveState(); err != nil {
				return err
			}
			for _, n := range st.chains["nat"] {
				known[n] = true
			}
		}
		input = restoreInput(rules, p.writtenChains, known, full)
		if err := restore(input); err != nil {
			return err
		}
		restored = true
		if full {
			return ensureJumps(st.jumpLines)
		}
		return nil
	})
	if restored {
		old := p.written
		p.written = rules
		p.writtenChains = make(map[string]string, len(rules.nat))
		for _, c := range rules.nat {
			if isPerServiceChain(c.name) {
				p.writtenChains[c.name] = c.rules.String()
			}
		}
		if filters := staleConntrack(old, rules); len(filters) > 0 {
			if err := network.InNetNS(p.cfg.NetNS, func() error { return deleteConntrack(filters) }); err != nil {
				p.log.Warn("clear conntrack entries of removed UDP endpoints", "err", err)
			}
		}
	}
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	if err != nil {
		var re *restoreError
		if errors.As(err, &re) {
			p.log.Error("write service rules failed; the previous rules stay, retrying at the next sync",
				"err", re.err, "stderr", strings.TrimSpace(re.stderr), "full", full)
		} else {
			p.log.Error("sync service rules failed; retrying at the next sync", "err", err, "full", full)
		}
		return err
	}
	p.log.Debug("service rules written", "full", full, "service-ports", rules.ports, "bytes", len(input), "took", time.Since(start))
	return nil
}

// logSkipped logs each skipped object once, while it stays skipped.
func (p *Proxier) logSkipped(skipped []Skipped) {
	now := make(map[string]bool, len(skipped))
	for _, s := range skipped {
		k := s.String()
		now[k] = true
		if !p.logged[k] {
			p.log.Warn("no service rules for an object with unusable data", "kind", s.Kind, "namespace", s.Namespace, "name", s.Name, "reason", s.Reason)
		}
	}
	p.logged = now
}

// restoreInput is what to write: the filter table's chains and our fixed
// nat chains always; per-service nat chains all on a full sync, otherwise
// only those new or changed since the last write (as kube-proxy's partial
// syncs: a restore's cost grows with what it names); and the stale
// per-service chains among known, flushed and deleted.
func restoreInput(cur *Rules, written map[string]string, known map[string]bool, full bool) []byte {
	nat := make([]*chain, 0, len(cur.nat))
	current := make(map[string]bool, len(cur.nat))
	for _, c := range cur.nat {
		current[c.name] = true
		if !full && isPerServiceChain(c.name) {
			if prev, ok := written[c.name]; ok && prev == c.rules.String() {
				continue
			}
		}
		nat = append(nat, c)
	}
	var stale []string
	for n := range known {
		if isPerServiceChain(n) && !current[n] {
			stale = append(stale, n)
		}
	}
	slices.Sort(stale)
	return assemble(cur.filter, nat, stale)
}
