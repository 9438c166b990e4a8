package dns

import (
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// BenchmarkQueries measures queries/s over UDP for a cluster name and for a
// cached forwarded name, against a floor measured in the same loop: the
// same query answered by a bare miekg/dns server that returns a fixed
// answer. Each iteration asks ours, then the floor, one query each on its
// own connection; ratio is ours/floor (1.0: as fast as serving a constant).
//
//	go test -run '^$' -bench BenchmarkQueries -benchtime 20000x ./dns/
func BenchmarkQueries(b *testing.B) {
	up := startUpstream(b, func(q mdns.Question, m *mdns.Msg) {
		rr, _ := mdns.NewRR("example.org. 3600 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
	})
	fc := newFakeCluster(clusterObjects()...)
	s := startServer(b, Config{Client: fc, Upstreams: []string{up.addr}})
	waitReady(b, s)

	for _, bc := range []struct {
		name, qname string
		fixed       string
	}{
		{"cluster", "web.ns1.svc.cluster.local.", "web.ns1.svc.cluster.local. 5 IN A 10.43.0.20"},
		{"forwarded-cached", "example.org.", "example.org. 3600 IN A 192.0.2.1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fixed, _ := mdns.NewRR(bc.fixed)
			floor := serveLoopback(b, mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
				m := new(mdns.Msg)
				m.SetReply(r)
				m.Answer = []mdns.RR{fixed}
				_ = w.WriteMsg(m)
			}))
			ours, theirs := dial(b, s.Addrs()[0]), dial(b, floor)
			c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion(bc.qname, mdns.TypeA)
			ask := func(conn *mdns.Conn) time.Duration {
				start := time.Now()
				r, _, err := c.ExchangeWithConn(m, conn)
				if err != nil || len(r.Answer) != 1 {
					b.Fatalf("%s: %v %v", bc.qname, err, r)
				}
				return time.Since(start)
			}
			ask(ours) // fills the cache for the forwarded name
			var tOurs, tFloor time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tOurs += ask(ours)
				tFloor += ask(theirs)
			}
			b.StopTimer()
			qps := float64(b.N) / tOurs.Seconds()
			floorQPS := float64(b.N) / tFloor.Seconds()
			b.ReportMetric(qps, "queries/s")
			b.ReportMetric(floorQPS, "floor-queries/s")
			b.ReportMetric(qps/floorQPS, "ratio")
			if n := up.count("example.org.", mdns.TypeA); n > 1 {
				b.Fatalf("the cached name went upstream %d times", n)
			}
		})
	}
}

func dial(b *testing.B, addr string) *mdns.Conn {
	b.Helper()
	conn, err := (&mdns.Client{Net: "udp"}).Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}
