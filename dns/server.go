package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/runtime/network"
)

// maxCNAMEChain bounds how many ExternalName CNAMEs one answer follows.
const maxCNAMEChain = 8

// Server is a running resolver; see Start.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ans  *answerer
	fwd  *forwarder
	ctx  context.Context // cancelled by Close: in-flight upstream queries stop
	stop context.CancelFunc

	factory informers.SharedInformerFactory
	ready   chan struct{}
	synced  atomic.Bool
	errc    chan error

	servers   []*mdns.Server
	addrs     []string
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start validates cfg, reads the upstream servers, starts the informers and
// listens on every address of cfg.Listen (UDP and TCP). It returns once the
// listeners are bound; Ready closes when the informers' caches synced.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	log := cfg.Log.With("part", "dns")
	upstreams := cfg.Upstreams
	if len(upstreams) == 0 {
		upstreams, err = readResolvConf(cfg.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("dns: upstream servers: %w", err)
		}
		if len(upstreams) == 0 {
			// Cluster names still work; forwarded ones are SERVFAIL.
			log.Warn("no upstream server: names outside the cluster will fail", "resolv-conf", cfg.ResolvConf)
		}
	}
	sctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:   cfg,
		log:   log,
		fwd:   newForwarder(upstreams, cfg.UpstreamTimeout, cfg.CacheSize),
		ctx:   sctx,
		stop:  stop,
		ready: make(chan struct{}),
		errc:  make(chan error, 2*len(cfg.Listen)),
	}
	if cfg.now != nil {
		s.fwd.now = cfg.now
	}
	s.ans = &answerer{ix: newIndex(cfg.Domain, uint32(time.Now().Unix())), ttl: cfg.TTL, nsAddr: cfg.NSAddress}
	for _, p := range cfg.ReverseCIDRs {
		s.ans.reverse = append(s.ans.reverse, reverseZoneOf(p))
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, l := range cfg.Listen {
		if err := network.InNetNS(cfg.NetNS, func() error { return s.listen(l) }); err != nil {
			return nil, fmt.Errorf("dns: listen %s: %w", l, err)
		}
	}
	if err := s.startInformers(); err != nil {
		return nil, fmt.Errorf("dns: informers: %w", err)
	}
	log.Info("dns started", "listen", strings.Join(s.addrs, ","), "netns", cfg.NetNS, "domain", cfg.Domain, "ttl", cfg.TTL,
		"upstreams", strings.Join(upstreams, ","), "reverse-cidrs", fmt.Sprint(cfg.ReverseCIDRs), "cache-size", cfg.CacheSize)
	return s, nil
}

// listen binds addr on UDP, then TCP on the same port (a port 0 picks one
// free for both: clients retry a truncated UDP answer over TCP at the same
// address).
func (s *Server) listen(addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		bound := net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.Listen("tcp", bound)
		if err != nil {
			pc.Close()
			lastErr = err
			if port == "0" {
				continue // the TCP port was taken: pick another pair
			}
			return err
		}
		s.serve(&mdns.Server{PacketConn: pc, Handler: s})
		s.serve(&mdns.Server{Listener: ln, Handler: s})
		s.addrs = append(s.addrs, bound)
		return nil
	}
	return lastErr
}

func (s *Server) serve(srv *mdns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.ActivateAndServe(); err != nil && s.ctx.Err() == nil {
			s.errc <- fmt.Errorf("dns: serve: %w", err)
		}
	}()
	<-started
}

// startInformers feeds the index: every Service or EndpointSlice event
// rebuilds that Service's entry from both caches, so the entry is right
// whichever event comes last.
func (s *Server) startInformers() error {
	s.factory = informers.NewSharedInformerFactory(s.cfg.Client, 0)
	svcInf := s.factory.Core().V1().Services()
	sliceInf := s.factory.Discovery().V1().EndpointSlices()
	const bySvc = "service"
	if err := sliceInf.Informer().AddIndexers(toolscache.Indexers{bySvc: func(obj any) ([]string, error) {
		sl, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || sl.Labels[discoveryv1.LabelServiceName] == "" {
			return nil, nil
		}
		return []string{sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]}, nil
	}}); err != nil {
		return err
	}
	svcLister, sliceIndexer := svcInf.Lister(), sliceInf.Informer().GetIndexer()
	rebuild := func(ns, name string) {
		svc, err := svcLister.Services(ns).Get(name)
		if err != nil {
			s.ans.ix.set(ns, name, nil)
			return
		}
		objs, _ := sliceIndexer.ByIndex(bySvc, ns+"/"+name)
		sl := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			sl = append(sl, o.(*discoveryv1.EndpointSlice))
		}
		s.ans.ix.set(ns, name, buildService(svc, sl))
	}
	onService := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if svc, ok := obj.(*corev1.Service); ok {
			rebuild(svc.Namespace, svc.Name)
		}
	}
	onSlice := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if sl, ok := obj.(*discoveryv1.EndpointSlice); ok && sl.Labels[discoveryv1.LabelServiceName] != "" {
			rebuild(sl.Namespace, sl.Labels[discoveryv1.LabelServiceName])
		}
	}
	if _, err := svcInf.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onService, UpdateFunc: func(_, n any) { onService(n) }, DeleteFunc: onService,
	}); err != nil {
		return err
	}
	if _, err := sliceInf.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(o, n any) { onSlice(o); onSlice(n) }, DeleteFunc: onSlice,
	}); err != nil {
		return err
	}
	s.factory.Start(s.ctx.Done())
	go func() {
		if !toolscache.WaitForCacheSync(s.ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced) {
			return
		}
		s.synced.Store(true)
		close(s.ready)
		s.log.Info("dns ready: services and endpointslices synced")
	}()
	return nil
}

// Ready closes once the index is filled (the informers' caches synced);
// until then cluster names are SERVFAIL.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Err delivers a listener that stopped serving.
func (s *Server) Err() <-chan error { return s.errc }

// Addrs are the bound addresses, one per Config.Listen entry, with the
// port picked for a port 0 (the same for UDP and TCP).
func (s *Server) Addrs() []string { return s.addrs }

// Close stops the listeners and the informers; safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		for _, srv := range s.servers {
			_ = srv.Shutdown()
		}
		s.wg.Wait()
		if s.factory != nil {
			s.factory.Shutdown()
		}
	})
}

// ServeDNS answers one query (mdns.Handler).
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := s.answer(req)
	resp.Compress = true
	// The size the answer must fit: 512 over UDP, or the client's EDNS0
	// buffer size; 64 KiB over TCP. Larger UDP answers are cut with TC set,
	// and the client asks again over TCP.
	size := mdns.MaxMsgSize
	_, tcp := w.LocalAddr().(*net.TCPAddr)
	opt := req.IsEdns0()
	if !tcp {
		size = mdns.MinMsgSize
		if opt != nil {
			size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		}
	}
	resp.Extra = withoutOPT(resp.Extra)
	if opt != nil {
		// EDNS0 asked is EDNS0 answered, with our own buffer size (1232,
		// the DNS flag day's safe value).
		resp.SetEdns0(1232, opt.Do())
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("write answer", "err", err)
	}
}

// answer builds the response to req.
func (s *Server) answer(req *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if req.Opcode != mdns.OpcodeQuery {
		m.Rcode = mdns.RcodeNotImplemented
		return m
	}
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(mdns.Fqdn(q.Name))
	local, handled := s.local(q, name)
	if !handled {
		up, err := s.fwd.forward(s.ctx, req)
		if err != nil {
			s.log.Debug("forward", "name", q.Name, "type", mdns.TypeToString[q.Qtype], "err", err)
			m.Rcode = mdns.RcodeServerFailure
			return m
		}
		up.Id, up.Question = req.Id, req.Question
		up.Response, up.RecursionAvailable = true, true
		return up
	}
	r := local
	// An ExternalName's target is resolved as the specification's example
	// shows (CoreDNS does the same through its upstream): the client gets
	// the CNAME and the target's records.
	for i := 0; r.cname != "" && i < maxCNAMEChain; i++ {
		tq := mdns.Question{Name: r.cname, Qtype: q.Qtype, Qclass: q.Qclass}
		next, handled := s.local(tq, r.cname)
		if !handled {
			treq := new(mdns.Msg)
			treq.SetQuestion(r.cname, q.Qtype)
			treq.Question[0].Qclass = q.Qclass
			up, err := s.fwd.forward(s.ctx, treq)
			if err != nil {
				break // the CNAME alone: the client may chase it itself
			}
			r.answer = append(r.answer, up.Answer...)
			r.rcode = up.Rcode
			r.cname = ""
			break
		}
		r.answer = append(r.answer, next.answer...)
		r.extra = append(r.extra, next.extra...)
		r.ns, r.rcode, r.cname = next.ns, next.rcode, next.cname
	}
	m.Rcode = r.rcode
	m.Authoritative = r.authoritative
	m.Answer, m.Ns, m.Extra = r.answer, r.ns, r.extra
	return m
}

// local answers q from the index when it is ours: the cluster domain, and
// reverse names of known addresses or in the authoritative reverse zones.
// Until the index is ready those are SERVFAIL. handled false: forward it.
func (s *Server) local(q mdns.Question, name string) (result, bool) {
	inCluster := s.ans.inCluster(name)
	if !inCluster && !strings.HasSuffix(name, ".arpa.") {
		return result{}, false
	}
	if !inCluster && !s.synced.Load() {
		if s.ans.reverseZoneFor(name) == "" {
			return result{}, false
		}
	}
	if !s.synced.Load() {
		return result{rcode: mdns.RcodeServerFailure}, true
	}
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return result{rcode: mdns.RcodeRefused}, true
	}
	if inCluster {
		return s.ans.cluster(q, name), true
	}
	return s.ans.reverseAnswer(q, name)
}
