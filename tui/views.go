package tui

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// viewID is a top-level view.
type viewID int

const (
	viewOverview viewID = iota
	viewFlow
	viewWorkloads
	viewPods
	viewServices
	viewEvents
	viewNodes // no number key: :no opens it
	viewLogs
	viewText // describe or YAML
)

var viewNames = map[viewID]string{viewOverview: "Overview", viewFlow: "Pod flow", viewWorkloads: "Workloads",
	viewPods: "Pods", viewServices: "Services", viewEvents: "Events", viewNodes: "Nodes", viewLogs: "Logs", viewText: "Describe"}

// tabs are the views reachable with 1-6.
var tabs = []viewID{viewOverview, viewFlow, viewWorkloads, viewPods, viewServices, viewEvents}

// ---- Pods -------------------------------------------------------------------

func podColumns(wide bool) []column {
	if wide {
		return []column{{Title: "NAMESPACE", Width: 12}, {Title: "NAME", Width: 20, Flex: true}, {Title: "READY", Width: 5},
			{Title: "STATUS", Width: 17}, {Title: "RESTARTS", Width: 8}, {Title: "AGE", Width: 5}, {Title: "IP", Width: 15}, {Title: "NODE", Width: 14}}
	}
	return []column{{Title: "NAMESPACE", Width: 9}, {Title: "NAME", Width: 13, Flex: true}, {Title: "READY", Width: 5},
		{Title: "STATUS", Width: 16}, {Title: "RST", Width: 3}, {Title: "AGE", Width: 4}, {Title: "IP", Width: 11}, {Title: "NODE", Width: 8}}
}

func podRows(s *Store, ns, filter string, now time.Time) []row {
	pods := make([]*Pod, 0, len(s.Pods))
	for _, p := range s.Pods {
		if (ns == "" || p.Namespace == ns) && matches(filter, p.Namespace, p.Name, p.Status, p.Node, p.IP) {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b *Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	rows := make([]row, len(pods))
	for i, p := range pods {
		// Cells are formatted only for the rows on screen.
		rows[i] = row{Key: p.Key(), fill: func() []string {
			return []string{p.Namespace, p.Name, fmt.Sprintf("%d/%d", p.Ready, p.Total), p.Status,
				fmt.Sprint(p.Restarts), age(now.Sub(p.Created)), p.IP, p.Node}
		}}
	}
	return rows
}

// ---- Nodes ------------------------------------------------------------------

// nodeInfo is a node with what its pods request of it: the Overview's node
// lines and the Nodes view's rows both read it.
type nodeInfo struct {
	*Node
	Used NodeUsage
}

// nodeInfos is every node, sorted by name, with its pods' requests.
func nodeInfos(s *Store) []nodeInfo {
	usage := s.Usage()
	out := make([]nodeInfo, 0, len(s.Nodes))
	for name, n := range s.Nodes {
		out = append(out, nodeInfo{Node: n, Used: usage[name]})
	}
	slices.SortFunc(out, func(a, b nodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CPU is requested/allocatable cores ("1.5/4").
func (n nodeInfo) CPU() string { return milli(n.Used.CPUMilli) + "/" + milli(n.CPUMilli) }

// Mem is requested/allocatable memory ("256M/8.0G").
func (n nodeInfo) Mem() string { return bytesH(n.Used.MemBytes) + "/" + bytesH(n.MemBytes) }

// Status is kubectl's STATUS column: Ready, NotReady or Unknown, and
// SchedulingDisabled when cordoned.
func (n nodeInfo) Status() string {
	if n.Unschedulable {
		return n.Ready + ",SchedulingDisabled"
	}
	return n.Ready
}

// nodeColumns: kubectl get nodes' columns with what the pods request;
// INTERNAL-IP, last, shows only where it fits (the table drops columns
// from the right).
func nodeColumns() []column {
	return []column{{Title: "NAME", Width: 12, Flex: true}, {Title: "STATUS", Width: 27}, {Title: "CPU", Width: 9},
		{Title: "MEMORY", Width: 13}, {Title: "PODS", Width: 7}, {Title: "AGE", Width: 5}, {Title: "INTERNAL-IP", Width: 15}}
}

// nodeRows lists the nodes (cluster-wide: they have no namespace).
func nodeRows(s *Store, filter string, now time.Time) []row {
	var rows []row
	for _, n := range nodeInfos(s) {
		status := n.Status()
		if !matches(filter, n.Name, status, n.InternalIP) {
			continue
		}
		created := "?"
		if !n.Created.IsZero() {
			created = age(now.Sub(n.Created))
		}
		rows = append(rows, row{Key: "Node//" + n.Name, Cells: []string{n.Name, status, n.CPU(), n.Mem(),
			fmt.Sprintf("%d/%d", n.Used.Pods, n.MaxPods), created, n.InternalIP}})
	}
	return rows
}

// nodeStatus colours a node's STATUS: Ready in the OK style, a
// cordoned or Unknown node in the warning one, NotReady in the error one.
func (s Styles) nodeStatus(v string) lipgloss.Style {
	if strings.HasPrefix(v, "NotReady") {
		return s.Bad
	}
	if strings.Contains(v, ",") {
		return s.Warn
	}
	return s.status(v)
}

// ---- Workloads --------------------------------------------------------------

var kindOrder = map[string]int{"Deployment": 0, "StatefulSet": 1, "DaemonSet": 2, "ReplicaSet": 3, "CronJob": 4, "Job": 5}

var kindShort = map[string]string{"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds", "ReplicaSet": "rs", "CronJob": "cj", "Job": "job"}

func workloadColumns() []column {
	return []column{{Title: "KIND", Width: 6}, {Title: "NAMESPACE", Width: 9}, {Title: "NAME", Width: 18, Flex: true},
		{Title: "READY", Width: 7}, {Title: "ROLLOUT", Width: 14}, {Title: "AGE", Width: 4}}
}

// workloadRows lists workloads; kindFilter ("" all) comes from `:deploy` etc.
func workloadRows(s *Store, ns, kind, filter string, now time.Time, st Styles) []row {
	ws := make([]*Workload, 0, len(s.Workloads))
	for _, w := range s.Workloads {
		if (ns == "" || w.Namespace == ns) && (kind == "" || w.Kind == kind) && matches(filter, w.Name, w.Namespace, w.Kind) {
			// ReplicaSets a Deployment owns show under it, not on their own,
			// unless the user asked for ReplicaSets.
			if kind == "" && w.Kind == "ReplicaSet" && w.OwnerKind == "Deployment" {
				continue
			}
			if kind == "" && w.Kind == "Job" && w.OwnerKind == "CronJob" {
				continue
			}
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool {
		a, b := ws[i], ws[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	rows := make([]row, len(ws))
	for i, w := range ws {
		ready := fmt.Sprintf("%d/%d", w.Ready, w.Desired)
		rows[i] = row{Key: w.Key(), Cells: []string{kindShort[w.Kind], w.Namespace, w.Name, ready, progressBar(st, w.Ready, w.Desired, 14, w.Note), age(now.Sub(w.Created))}}
	}
	return rows
}

// progressBar draws ready/desired as a bar; a note (a CronJob's schedule,
// a Job's Complete) replaces it where a bar means nothing.
func progressBar(st Styles, ready, desired int32, w int, note string) string {
	if note != "" {
		return note
	}
	if desired <= 0 {
		return st.Muted.Render(strings.Repeat("─", w))
	}
	n := int(ready) * w / int(desired)
	n = min(max(n, 0), w)
	style := st.Warn
	if ready >= desired {
		style = st.OK
	}
	if st.NoColor {
		return strings.Repeat("#", n) + strings.Repeat(".", w-n)
	}
	return style.Render(strings.Repeat("█", n)) + st.Muted.Render(strings.Repeat("░", w-n))
}

// ---- Services ---------------------------------------------------------------

func serviceColumns() []column {
	return []column{{Title: "NAMESPACE", Width: 9}, {Title: "NAME", Width: 11, Flex: true}, {Title: "TYPE", Width: 12},
		{Title: "CLUSTER-IP", Width: 13}, {Title: "EXTERNAL-IP", Width: 13}, {Title: "PORTS", Width: 11, Flex: true}, {Title: "READY", Width: 5}}
}

func serviceRows(s *Store, ns, filter string) []row {
	var rows []row
	for _, v := range s.Services {
		if (ns == "" || v.Namespace == ns) && matches(filter, v.Namespace, v.Name, v.Type, v.ClusterIP) {
			ext := strings.Join(v.ExternalIPs, ",")
			if ext == "" {
				ext = "<none>"
			}
			rows = append(rows, row{Key: "Service/" + v.Namespace + "/" + v.Name, Cells: []string{v.Namespace, v.Name, v.Type, v.ClusterIP, ext, v.Ports, fmt.Sprint(s.ReadyEndpoints(v.Namespace, v.Name))}})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

// ingressColumns are kubectl get ingress -A's.
func ingressColumns() []column {
	return []column{{Title: "NAMESPACE", Width: 9}, {Title: "NAME", Width: 10, Flex: true}, {Title: "CLASS", Width: 8},
		{Title: "HOSTS", Width: 16, Flex: true}, {Title: "ADDRESS", Width: 13}, {Title: "PORTS", Width: 7}, {Title: "AGE", Width: 4}}
}

func ingressRows(s *Store, ns, filter string, now time.Time) []row {
	var rows []row
	for _, in := range s.Ingresses {
		if (ns == "" || in.Namespace == ns) && matches(filter, in.Namespace, in.Name, in.Hosts, in.Class, in.Address) {
			class := in.Class
			if class == "" {
				class = "<none>"
			}
			rows = append(rows, row{Key: "Ingress/" + in.Namespace + "/" + in.Name, Cells: []string{in.Namespace, in.Name, class, in.Hosts, in.Address, in.Ports, age(now.Sub(in.Created))}})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

// ---- Events -----------------------------------------------------------------

func eventColumns() []column {
	return []column{{Title: "LAST", Width: 4}, {Title: "TYPE", Width: 7}, {Title: "REASON", Width: 16}, {Title: "OBJECT", Width: 20}, {Title: "MESSAGE", Width: 20, Flex: true}}
}

func eventRows(s *Store, ns, filter string, only *ObjRef, now time.Time) []row {
	var rows []row
	if only != nil && only.Namespace == "" {
		// A cluster-scoped object's (a node's) events live in a namespace
		// of their own, usually default.
		ns = ""
	}
	for _, e := range s.EventsSorted(ns, false) {
		if only != nil && (e.ObjKind != only.Kind || e.ObjName != only.Name || only.Namespace != "" && e.Namespace != only.Namespace) {
			continue
		}
		obj := strings.ToLower(e.ObjKind) + "/" + e.ObjName
		if !matches(filter, e.Reason, obj, e.Message, e.Type) {
			continue
		}
		rows = append(rows, row{Key: "Event/" + e.Namespace + "/" + e.Name, Cells: []string{age(now.Sub(e.Last)), e.Type, e.Reason, obj, e.Message}})
	}
	return rows
}

// ---- Flow -------------------------------------------------------------------

const stageW = 8

func renderFlow(st Styles, s *Store, items []FlowItem, top, cursor, width, height int, now time.Time) string {
	var b strings.Builder
	wide := width >= 120
	fixed := 5 + 1 + (int(numStages)-1)*(stageW+1) + 7
	nameW := max(width-fixed-1, 10)
	nsW, nodeW := 0, 0
	if wide {
		nsW, nodeW = 12, 14
		nameW -= nsW + nodeW + 2
	}
	head := []string{}
	if wide {
		head = append(head, fit("NAMESPACE", nsW))
	}
	head = append(head, fit("POD", nameW))
	if wide {
		head = append(head, fit("NODE", nodeW))
	}
	head = append(head, fit("AGE", 5))
	for s := StageScheduled; s < numStages; s++ {
		head = append(head, fit(stageNames[s], stageW))
	}
	head = append(head, fit("TOTAL", 7))
	b.WriteString(st.Header.Render(fit(strings.Join(head, " "), width)))
	lines := 1
	if len(items) == 0 {
		msg := "No pods created recently. New pods appear here as they pass through the flow."
		if why, ok := s.Problems["pods"]; ok {
			msg = "Cannot list pods: " + oneLine(why) + ". Retrying…"
		}
		b.WriteString("\n" + st.Muted.Render(fit(msg, width)))
		lines++
	}
	for i := top; i < len(items) && lines < height; i++ {
		f := s.Flow(items[i], now)
		var cells []string
		if wide {
			cells = append(cells, fit(f.Pod.Namespace, nsW))
		}
		name := f.Pod.Name
		if f.Gone {
			name += " (deleted)"
		}
		cells = append(cells, fit(name, nameW))
		if wide {
			cells = append(cells, fit(f.Pod.Node, nodeW))
		}
		cells = append(cells, fit(age(now.Sub(f.Pod.Created)), 5))
		prefix := strings.Join(cells, " ")
		if i == cursor {
			prefix = st.Selected.Render(prefix)
		}
		var stages strings.Builder
		used := ansi.StringWidth(ansi.Strip(prefix))
		current := true
		reasonShown := false
		for s := StageScheduled; s < numStages; s++ {
			r := f.Stages[s]
			stages.WriteByte(' ')
			used++
			switch r.State {
			case Done:
				txt := "✓"
				if r.Known {
					txt += shortDuration(r.Took)
				}
				stages.WriteString(st.OK.Render(fit(txt, stageW)))
			case Stuck, Failed:
				rest := width - used
				style := st.Warn
				if r.State == Failed || f.Gone {
					style = st.Bad
				}
				txt := "✗ " + f.Reason
				if r.State == Stuck && !strings.Contains(f.Reason, "BackOff") && !strings.Contains(f.Reason, "Err") {
					txt = "⏸ " + f.Reason
				} else {
					style = st.Bad
				}
				stages.WriteString(style.Render(fit(oneLine(txt), max(rest, 0))))
				reasonShown = true
			default:
				if current && !f.Gone && f.Pod.Phase != "Failed" {
					stages.WriteString(st.Warn.Render(fit("…", stageW)))
				} else {
					stages.WriteString(st.Muted.Render(fit("·", stageW)))
				}
			}
			if reasonShown {
				break
			}
			if r.State != Done {
				current = false
			}
			used += stageW
		}
		if !reasonShown {
			total := shortDuration(f.Total)
			style := st.Muted
			if f.Stages[StageReady].State == Done {
				style = st.OK
			}
			stages.WriteString(" " + style.Render(fit(total, 7)))
		}
		b.WriteString("\n" + prefix + stages.String())
		lines++
	}
	for ; lines < height; lines++ {
		b.WriteByte('\n')
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ---- Overview ---------------------------------------------------------------

func renderOverview(st Styles, s *Store, ns string, width, height int, now time.Time) string {
	var out []string
	mark := func(ok bool, warn bool) string {
		switch {
		case ok:
			return st.OK.Render("✓")
		case warn:
			return st.Warn.Render("…")
		}
		return st.Bad.Render("✗")
	}
	// Control plane.
	h := s.Health
	api, etcd := h.APIServer, h.Etcd
	if h.Err != "" {
		api, etcd = h.Err, "unknown"
	}
	if api == "" {
		api, etcd = "probing…", "probing…"
	}
	lease := func(name string) (bool, string) {
		l := s.Leases["kube-system/"+name]
		if l == nil {
			return false, "no lease"
		}
		if l.Fresh(now) {
			return true, fmt.Sprintf("leader %s, renewed %s ago", l.Holder, age(now.Sub(l.Renewed)))
		}
		return false, fmt.Sprintf("lease stale (%s ago)", age(now.Sub(l.Renewed)))
	}
	schedOK, schedTxt := lease("kube-scheduler")
	cmOK, cmTxt := lease("kube-controller-manager")
	out = append(out, st.Header.Render("Control plane"))
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(api == "ok", h.APIServer == ""), "API server", api))
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(etcd == "ok", h.APIServer == ""), "etcd", etcd))
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(schedOK, false), "scheduler", schedTxt))
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(cmOK, false), "controller-manager", cmTxt))
	// Cluster DNS and the service proxy, found the way any cluster runs them:
	// the kube-system/kube-dns service's endpoints, the kube-proxy DaemonSet.
	dnsOK, dnsNone, dnsTxt := false, true, "not deployed (no kube-system/kube-dns service)"
	if s.Services["kube-system/kube-dns"] != nil {
		n := s.ReadyEndpoints("kube-system", "kube-dns")
		dnsOK, dnsNone, dnsTxt = n > 0, false, fmt.Sprintf("%d ready endpoints", n)
	}
	proxyOK, proxyNone, proxyTxt := false, true, "not deployed (no kube-system/kube-proxy DaemonSet)"
	if w := s.Workloads["DaemonSet/kube-system/kube-proxy"]; w != nil {
		proxyOK, proxyNone, proxyTxt = w.Desired > 0 && w.Ready == w.Desired, false, fmt.Sprintf("%d/%d ready", w.Ready, w.Desired)
	}
	if len(s.Problems) > 0 {
		// /readyz may answer anonymously while the user's own requests
		// are refused.
		out = append(out, fmt.Sprintf(" %s %-19s %s", mark(false, false), "watching", problemSummary(s.Problems)+" — retrying"))
	}
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(dnsOK, dnsNone), "DNS", dnsTxt))
	out = append(out, fmt.Sprintf(" %s %-19s %s", mark(proxyOK, proxyNone), "service proxy", proxyTxt))

	// Pods by phase and workloads by kind.
	phases := map[string]int{}
	for _, p := range s.Pods {
		if ns == "" || p.Namespace == ns {
			phases[p.Phase]++
		}
	}
	kinds := map[string]int{}
	for _, w := range s.Workloads {
		if ns == "" || w.Namespace == ns {
			kinds[w.Kind]++
		}
	}
	var wk []string
	for _, k := range []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"} {
		wk = append(wk, fmt.Sprintf("%s %d", kindShort[k], kinds[k]))
	}
	out = append(out, st.Header.Render("Workloads ")+strings.Join(wk, "  "))
	out = append(out, st.Header.Render("Pods      ")+
		st.OK.Render(fmt.Sprintf("Running %d", phases["Running"]))+"  "+
		st.Warn.Render(fmt.Sprintf("Pending %d", phases["Pending"]))+"  "+
		fmt.Sprintf("Succeeded %d", phases["Succeeded"])+"  "+
		st.Bad.Render(fmt.Sprintf("Failed %d", phases["Failed"]))+"  "+
		fmt.Sprintf("Unknown %d", phases["Unknown"]))

	// Warnings get what is left after the nodes' share.
	warnings := s.EventsSorted(ns, true)
	rest := height - len(out) - 2
	nodeLines := min(len(s.Nodes), max(rest/2, 1))
	if len(warnings) == 0 {
		nodeLines = min(len(s.Nodes), max(rest-2, 1))
	}
	out = append(out, st.Header.Render(fmt.Sprintf("Nodes (%d)", len(s.Nodes))))
	nodes := nodeInfos(s)
	if len(nodes) == 0 {
		out = append(out, st.Muted.Render(" no nodes registered"))
	}
	for i, n := range nodes {
		if i >= nodeLines-1 && len(nodes) > nodeLines {
			out = append(out, st.Muted.Render(fmt.Sprintf(" … %d more nodes (:no to list them all)", len(nodes)-i)))
			break
		}
		name := n.Name
		kubelet := "kubelet ?"
		kubeletStyle := st.Muted
		if l := s.Leases["kube-node-lease/"+name]; l != nil {
			if l.Fresh(now) {
				kubelet, kubeletStyle = "kubelet ✓", st.OK
			} else {
				kubelet, kubeletStyle = "kubelet ✗ "+age(now.Sub(l.Renewed)), st.Bad
			}
		}
		line := fmt.Sprintf(" %s %s cpu %s mem %s pods %3d/%-3d %s",
			fit(name, max(width-74, 8)), st.status(n.Ready).Render(fit(n.Ready, 8)),
			fit(n.CPU(), 11), fit(n.Mem(), 13),
			n.Used.Pods, n.MaxPods, kubeletStyle.Render(kubelet))
		out = append(out, line)
	}
	out = append(out, st.Header.Render("Last warnings"))
	if len(warnings) == 0 {
		out = append(out, st.Muted.Render(" none"))
	}
	for _, e := range warnings {
		if len(out) >= height {
			break
		}
		out = append(out, fmt.Sprintf(" %s %s %s %s", fit(age(now.Sub(e.Last)), 4), st.Bad.Render(fit(e.Reason, 16)),
			fit(strings.ToLower(e.ObjKind)+"/"+e.ObjName, 22), oneLine(e.Message)))
	}
	for i := range out {
		out[i] = ansi.Truncate(out[i], width, "…")
	}
	for len(out) < height {
		out = append(out, "")
	}
	return strings.Join(out[:height], "\n")
}

func milli(m int64) string {
	if m%1000 == 0 {
		return fmt.Sprint(m / 1000)
	}
	return fmt.Sprintf("%.1f", float64(m)/1000)
}

func bytesH(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%dM", b>>20)
	default:
		return fmt.Sprintf("%dK", b>>10)
	}
}

// ---- Describe / YAML text ---------------------------------------------------

// textView scrolls a block of text (describe output, YAML).
type textView struct {
	title         string
	lines         []string
	top           int
	width, height int
	search        string
	err           error
	loading       bool
}

func (v *textView) SetSize(w, h int) { v.width, v.height = w, h }

func (v *textView) scroll(n int) {
	v.top = min(max(v.top+n, 0), max(len(v.lines)-(v.height-1), 0))
}

func (v *textView) View(st Styles) string {
	var b strings.Builder
	b.WriteString(st.Header.Render(fit(v.title, v.width)))
	var body []string
	switch {
	case v.loading:
		body = []string{st.Muted.Render("loading…")}
	case v.err != nil:
		body = []string{st.Bad.Render(v.err.Error())}
	default:
		end := min(v.top+v.height-1, len(v.lines))
		for _, l := range v.lines[min(v.top, end):end] {
			l = ansi.Truncate(strings.ReplaceAll(l, "\t", "    "), v.width, "…")
			body = append(body, highlight(l, v.search, st.Match))
		}
	}
	for i := 0; i < v.height-1; i++ {
		b.WriteByte('\n')
		if i < len(body) {
			b.WriteString(body[i])
		}
	}
	return b.String()
}

var _ = lipgloss.NewStyle
