package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"k8s.io/client-go/kubernetes"
)

// Options configure the console.
type Options struct {
	// Backend performs describe, YAML, logs and the changing actions.
	Backend Backend
	// Source and Client feed the store and the health probe; tests leave them
	// nil and send BatchMsg and HealthMsg themselves.
	Source *Source
	Client kubernetes.Interface
	// Server is the API server's address, shown in the header.
	Server    string
	Namespace string
	// Readonly hides and refuses everything that changes the cluster.
	Readonly bool
	// NoColor (NO_COLOR set) draws without colour.
	NoColor bool
	// Now is the clock (fixed in tests).
	Now func() time.Time
	// Retry is how long the console waits before it probes the API server
	// again or reopens a log stream that failed; 2 s when zero.
	Retry time.Duration
}

// Model is the console's root model: it owns the layout, the focus (which
// view, which input) and routes messages to the views.
type Model struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	store  *Store
	styles Styles
	keys   KeyMap
	help   help.Model

	width, height int
	now           time.Time

	view    viewID
	history []viewID
	ns      string

	// input is the open line editor: ':' command, '/' filter, scale prompt.
	input     string
	inputKind rune // ':', '/', 'S' or 0 when closed
	filter    map[viewID]string
	kind      string  // workloads view: one kind from `:deploy`, `:sts`...
	evOnly    *ObjRef // events view: one object's events
	showHelp  bool
	confirm   *ObjRef // delete waiting for y/n
	scaleRef  *ObjRef
	flash     string
	flashBad  bool

	pods, workloads, services, events, nodes table
	// The services view stacks two tables; onIngress: the cursor is in the
	// Ingresses one.
	ingresses           table
	onIngress           bool
	flowTop, flowCursor int
	flows               []FlowItem
	cacheKey            string

	logs   logView
	logSeq int
	text   textView
	textID int
}

// New builds the console's model.
func New(opts Options) *Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retry <= 0 {
		opts.Retry = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{
		opts: opts, ctx: ctx, cancel: cancel, store: NewStore(),
		styles: NewStyles(true, opts.NoColor), keys: DefaultKeyMap(opts.Readonly), help: help.New(),
		width: 80, height: 24, now: opts.Now(), view: viewFlow, ns: opts.Namespace,
		filter: map[viewID]string{},
	}
	m.pods = table{cols: podColumns(false), empty: "No pods."}
	m.workloads = table{cols: workloadColumns(), empty: "No workloads."}
	m.services = table{cols: serviceColumns(), empty: "No services."}
	m.ingresses = table{cols: ingressColumns(), empty: "No ingresses.", blurred: true}
	m.events = table{cols: eventColumns(), empty: "No events."}
	m.nodes = table{cols: nodeColumns(), empty: "No nodes."}
	m.pods.cellStyle = func(col int, v string) (lipgloss.Style, bool) {
		if col == 3 {
			return m.styles.status(v), true
		}
		return lipgloss.Style{}, false
	}
	m.nodes.cellStyle = func(col int, v string) (lipgloss.Style, bool) {
		if col == 1 {
			return m.styles.nodeStatus(v), true
		}
		return lipgloss.Style{}, false
	}
	m.events.cellStyle = func(col int, v string) (lipgloss.Style, bool) {
		if col == 1 && v == "Warning" {
			return m.styles.Bad, true
		}
		return lipgloss.Style{}, false
	}
	if opts.NoColor {
		m.help.Styles = help.Styles{}
	}
	m.layout()
	return m
}

// Store is the model's data, for tests and benchmarks that feed it directly.
func (m *Model) Store() *Store { return m.store }

type clockMsg time.Time
type healthTickMsg struct{}
type textMsg struct {
	id      int
	content string
	err     error
}
type actionMsg struct {
	text string
	err  error
}

func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, m.clockCmd()}
	if m.opts.Source != nil {
		cmds = append(cmds, m.opts.Source.StartCmd(m.ctx), m.opts.Source.NextCmd(m.ctx))
	}
	if m.opts.Client != nil {
		cmds = append(cmds, HealthCmd(m.ctx, m.opts.Client, m.opts.Now))
	}
	return tea.Batch(cmds...)
}

func (m *Model) clockCmd() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return clockMsg(t) })
}

// Update applies a message: the only place state changes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	m.refresh()
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
	case tea.BackgroundColorMsg:
		m.styles = NewStyles(msg.IsDark(), m.opts.NoColor)
		if !m.opts.NoColor {
			m.help.Styles = help.DefaultStyles(msg.IsDark())
		}
	case BatchMsg:
		m.store.Apply(msg.Changes, m.opts.Now())
		if m.opts.Source != nil {
			return m.opts.Source.NextCmd(m.ctx)
		}
	case HealthMsg:
		m.store.Health = Health(msg)
		m.store.Version++
		return tea.Tick(m.opts.Retry, func(time.Time) tea.Msg { return healthTickMsg{} })
	case healthTickMsg:
		if m.opts.Client != nil {
			return HealthCmd(m.ctx, m.opts.Client, m.opts.Now)
		}
	case clockMsg:
		m.now = m.opts.Now()
		m.store.Prune(m.now)
		m.cacheKey = "" // ages move
		return m.clockCmd()
	case logMsg:
		return m.onLog(msg)
	case logReopenMsg:
		if msg.id == m.logSeq && m.view == viewLogs {
			return m.openLogs(m.logs.req)
		}
	case textMsg:
		if msg.id == m.textID {
			m.text.loading = false
			m.text.err = msg.err
			m.text.lines = strings.Split(strings.TrimRight(msg.content, "\n"), "\n")
		}
	case actionMsg:
		m.setFlash(msg.text, msg.err)
	case tea.KeyPressMsg:
		return m.onKey(msg)
	}
	return nil
}

func (m *Model) setFlash(text string, err error) {
	m.flash, m.flashBad = text, err != nil
	if err != nil {
		m.flash = text + ": " + err.Error()
	}
}

// layout gives every view its size: two header lines, one footer line.
func (m *Model) layout() {
	body := max(m.height-3, 1)
	wide := m.width >= 120
	m.pods.cols = podColumns(wide)
	m.pods.SetSize(m.width, body)
	wl := body
	if body > 8 {
		wl = body - body/3
	}
	m.workloads.SetSize(m.width, wl)
	m.sizeServices()
	m.events.SetSize(m.width, body)
	m.nodes.SetSize(m.width, body)
	m.logs.SetSize(m.width, body)
	m.text.SetSize(m.width, body)
	m.help.SetWidth(m.width)
	m.cacheKey = ""
}

// refresh rebuilds the current list's rows when the data, the filter or the
// namespace changed since the last time.
func (m *Model) refresh() {
	key := fmt.Sprintf("%d|%d|%s|%s|%s|%v|%d", m.store.Version, m.view, m.ns, m.filter[m.view], m.kind, m.evOnly, m.width)
	if key == m.cacheKey {
		return
	}
	m.cacheKey = key
	f := strings.ToLower(m.filter[m.view])
	m.pods.empty = m.emptyText("No pods.", "pods")
	m.workloads.empty = m.emptyText("No workloads.", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs")
	m.services.empty = m.emptyText("No services.", "services")
	m.ingresses.empty = m.emptyText("No ingresses.", "ingresses")
	m.events.empty = m.emptyText("No events.", "events")
	m.nodes.empty = m.emptyText("No nodes.", "nodes")
	switch m.view {
	case viewPods:
		m.pods.SetRows(podRows(m.store, m.ns, f, m.now))
	case viewWorkloads:
		m.workloads.SetRows(workloadRows(m.store, m.ns, m.kind, f, m.now, m.styles))
	case viewServices:
		m.services.SetRows(serviceRows(m.store, m.ns, f))
		m.ingresses.SetRows(ingressRows(m.store, m.ns, f, m.now))
		switch {
		case len(m.services.rows) == 0 && len(m.ingresses.rows) > 0:
			m.onIngress = true
		case len(m.ingresses.rows) == 0:
			m.onIngress = false
		}
		m.sizeServices()
	case viewEvents:
		m.events.SetRows(eventRows(m.store, m.ns, f, m.evOnly, m.now))
	case viewNodes:
		m.nodes.SetRows(nodeRows(m.store, f, m.now))
	case viewFlow:
		m.flows = m.store.Flows(m.ns, f, m.now, flowWindow)
		m.flowCursor = min(m.flowCursor, max(len(m.flows)-1, 0))
		m.clampFlow()
	}
}

// sizeServices splits the services view: the Services table as tall as its
// rows, a blank line, the Ingresses table below with the rest. When both are
// long the Ingresses keep at least half the height their rows need, up to
// half the view.
func (m *Model) sizeServices() {
	body := max(m.height-3, 1)
	ingNeed := max(len(m.ingresses.rows), 1) + 1
	svcNeed := max(len(m.services.rows), 1) + 1
	svcH := min(svcNeed, max(body-min(ingNeed, max(body/2, 2))-1, 2))
	m.services.SetSize(m.width, svcH)
	m.ingresses.SetSize(m.width, max(body-svcH-1, 2))
	m.services.blurred, m.ingresses.blurred = m.onIngress, !m.onIngress
}

// moveServices moves the cursor of the services view: past the last
// Service it goes on to the Ingresses, above the first Ingress back up.
func (m *Model) moveServices(n int) {
	switch {
	case n >= 1<<30 && len(m.ingresses.rows) > 0: // G: the last Ingress
		m.onIngress = true
		m.ingresses.Move(n)
	case n <= -1<<30 && len(m.services.rows) > 0: // g: the first Service
		m.onIngress = false
		m.services.Move(n)
	case !m.onIngress && n > 0 && m.services.cursor >= len(m.services.rows)-1 && len(m.ingresses.rows) > 0:
		m.onIngress = true
		m.ingresses.cursor = 0
		m.ingresses.Move(n - 1)
	case m.onIngress && n < 0 && m.ingresses.cursor == 0 && len(m.services.rows) > 0:
		m.onIngress = false
		m.services.cursor = len(m.services.rows) - 1
		m.services.Move(n + 1)
	case m.onIngress:
		m.ingresses.Move(n)
	default:
		m.services.Move(n)
	}
	m.services.blurred, m.ingresses.blurred = m.onIngress, !m.onIngress
}

func (m *Model) clampFlow() {
	vis := max(m.height-4, 1)
	if m.flowCursor < m.flowTop {
		m.flowTop = m.flowCursor
	}
	if m.flowCursor >= m.flowTop+vis {
		m.flowTop = m.flowCursor - vis + 1
	}
}

func (m *Model) go_(v viewID) {
	if v != m.view {
		m.history = append(m.history, m.view)
		if len(m.history) > 20 {
			m.history = m.history[1:]
		}
	}
	m.view = v
	m.cacheKey = ""
}

func (m *Model) back() {
	if m.view == viewLogs && m.logs.stream != nil {
		m.logs.stream.cancel()
		m.logs.stream = nil
	}
	if m.view == viewEvents {
		m.evOnly = nil
	}
	if n := len(m.history); n > 0 {
		m.view = m.history[n-1]
		m.history = m.history[:n-1]
	}
	m.cacheKey = ""
}

// ---- keys -------------------------------------------------------------------

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	m.flash = ""
	if m.confirm != nil {
		ref := *m.confirm
		switch {
		case key.Matches(k, m.keys.Yes):
			m.confirm = nil
			m.flash = "deleting " + ref.String() + "…"
			return m.action("deleted "+ref.String(), func(ctx context.Context) error { return m.opts.Backend.Delete(ctx, ref) })
		case key.Matches(k, m.keys.No):
			m.confirm = nil
			m.flash = "delete cancelled"
		}
		return nil
	}
	if m.inputKind != 0 {
		return m.onInput(k)
	}
	if m.showHelp {
		if key.Matches(k, m.keys.Help, m.keys.Back) || k.String() == "q" {
			m.showHelp = false
		}
		return nil
	}
	switch {
	case k.String() == "ctrl+c":
		m.cancel()
		return tea.Quit
	case key.Matches(k, m.keys.Quit):
		if m.view == viewLogs || m.view == viewText {
			m.back()
			return nil
		}
		m.cancel()
		return tea.Quit
	case key.Matches(k, m.keys.Help):
		m.showHelp = true
		return nil
	case key.Matches(k, m.keys.Command):
		m.inputKind, m.input = ':', ""
		return nil
	case key.Matches(k, m.keys.Filter):
		m.inputKind, m.input = '/', m.currentFilter()
		return nil
	case key.Matches(k, m.keys.Back):
		if m.currentFilter() != "" {
			m.setFilter("")
			return nil
		}
		m.back()
		return nil
	case key.Matches(k, m.keys.Views) && m.view != viewLogs && m.view != viewText:
		i, _ := strconv.Atoi(k.String())
		m.history = nil
		m.view = tabs[i-1]
		m.kind, m.evOnly = "", nil
		m.cacheKey = ""
		return nil
	}
	switch m.view {
	case viewLogs:
		return m.logKey(k)
	case viewText:
		return m.textKey(k)
	}
	return m.listKey(k)
}

func (m *Model) currentFilter() string {
	if m.view == viewLogs {
		return m.logs.filter
	}
	if m.view == viewText {
		return m.text.search
	}
	return m.filter[m.view]
}

func (m *Model) setFilter(f string) {
	switch m.view {
	case viewLogs:
		m.logs.filter = f
		m.logs.top = 0
	case viewText:
		m.text.search = f
		if f != "" {
			lf := strings.ToLower(f)
			for i, l := range m.text.lines {
				if strings.Contains(strings.ToLower(l), lf) {
					m.text.top = 0
					m.text.scroll(i)
					break
				}
			}
		}
	default:
		m.filter[m.view] = f
	}
	m.cacheKey = ""
}

func (m *Model) onInput(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		if m.inputKind == '/' {
			m.setFilter("")
		}
		m.inputKind = 0
		return nil
	case "enter":
		kind, text := m.inputKind, strings.TrimSpace(m.input)
		m.inputKind = 0
		switch kind {
		case ':':
			return m.command(text)
		case 'S':
			return m.scale(text)
		}
		return nil
	case "backspace":
		if r := []rune(m.input); len(r) > 0 {
			m.input = string(r[:len(r)-1])
		}
	default:
		if k.Text != "" {
			m.input += k.Text
		} else if k.String() == "space" {
			m.input += " "
		}
	}
	if m.inputKind == '/' {
		m.setFilter(m.input)
	}
	return nil
}

// aliases maps `:` words to views and kinds, with kubectl's short names.
var aliases = map[string]struct {
	view viewID
	kind string
}{
	"po": {viewPods, ""}, "pod": {viewPods, ""}, "pods": {viewPods, ""},
	"deploy": {viewWorkloads, "Deployment"}, "deployment": {viewWorkloads, "Deployment"}, "deployments": {viewWorkloads, "Deployment"},
	"rs": {viewWorkloads, "ReplicaSet"}, "replicaset": {viewWorkloads, "ReplicaSet"}, "replicasets": {viewWorkloads, "ReplicaSet"},
	"sts": {viewWorkloads, "StatefulSet"}, "statefulset": {viewWorkloads, "StatefulSet"}, "statefulsets": {viewWorkloads, "StatefulSet"},
	"ds": {viewWorkloads, "DaemonSet"}, "daemonset": {viewWorkloads, "DaemonSet"}, "daemonsets": {viewWorkloads, "DaemonSet"},
	"job": {viewWorkloads, "Job"}, "jobs": {viewWorkloads, "Job"},
	"cj": {viewWorkloads, "CronJob"}, "cronjob": {viewWorkloads, "CronJob"}, "cronjobs": {viewWorkloads, "CronJob"},
	"wl": {viewWorkloads, ""}, "workloads": {viewWorkloads, ""},
	"svc": {viewServices, ""}, "service": {viewServices, ""}, "services": {viewServices, ""},
	"ing": {viewServices, "Ingress"}, "ingress": {viewServices, "Ingress"}, "ingresses": {viewServices, "Ingress"},
	"ev": {viewEvents, ""}, "event": {viewEvents, ""}, "events": {viewEvents, ""},
	"flow": {viewFlow, ""}, "fl": {viewFlow, ""},
	"overview": {viewOverview, ""}, "ov": {viewOverview, ""}, "home": {viewOverview, ""},
	"no": {viewNodes, ""}, "node": {viewNodes, ""}, "nodes": {viewNodes, ""},
}

func (m *Model) command(text string) tea.Cmd {
	f := strings.Fields(text)
	if len(f) == 0 {
		return nil
	}
	word := strings.ToLower(f[0])
	switch word {
	case "q", "quit", "q!":
		m.cancel()
		return tea.Quit
	case "ns", "namespace":
		switch {
		case len(f) < 2 || f[1] == "all" || f[1] == "-A":
			m.ns = ""
			m.flash = "all namespaces"
		case !m.store.Namespaces[f[1]] && len(m.store.Namespaces) > 0:
			m.setFlash("namespace "+f[1], fmt.Errorf("not found"))
		default:
			m.ns = f[1]
			m.flash = "namespace " + f[1]
		}
		m.cacheKey = ""
		return nil
	}
	a, ok := aliases[word]
	if !ok {
		m.flash, m.flashBad = fmt.Sprintf("unknown resource %q: try :po :deploy :sts :ds :job :cj :svc :ev :no :flow :ns", word), true
		return nil
	}
	m.go_(a.view)
	m.kind, m.evOnly = a.kind, nil
	if a.view == viewServices {
		// :ing puts the cursor on the Ingresses, :svc on the Services.
		m.kind = ""
		m.onIngress = a.kind == "Ingress"
		m.services.blurred, m.ingresses.blurred = m.onIngress, !m.onIngress
	}
	if len(f) > 1 {
		m.ns = f[1]
	}
	return nil
}

func (m *Model) listKey(k tea.KeyPressMsg) tea.Cmd {
	t := m.currentTable()
	page := max(m.height-4, 1)
	move := func(n int) {
		if m.view == viewFlow {
			m.flowCursor = min(max(m.flowCursor+n, 0), max(len(m.flows)-1, 0))
			m.clampFlow()
		} else if m.view == viewServices {
			m.moveServices(n)
		} else if t != nil {
			t.Move(n)
		}
	}
	switch {
	case key.Matches(k, m.keys.Up):
		move(-1)
	case key.Matches(k, m.keys.Down):
		move(1)
	case key.Matches(k, m.keys.PageUp):
		move(-page)
	case key.Matches(k, m.keys.PageDown):
		move(page)
	case key.Matches(k, m.keys.Top):
		move(-1 << 30)
	case key.Matches(k, m.keys.Bottom):
		move(1 << 30)
	}
	if m.refuseReadonly(k) {
		return nil
	}
	ref, ok := m.selected()
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, m.keys.Enter):
		if ref.Kind == "Pod" {
			return m.openLogsFor(ref)
		}
		if m.view == viewWorkloads {
			return m.openText(ref, "Describe", false)
		}
		return m.openText(ref, "Describe", false)
	case key.Matches(k, m.keys.Describe):
		return m.openText(ref, "Describe", false)
	case key.Matches(k, m.keys.YAML):
		return m.openText(ref, "YAML", true)
	case key.Matches(k, m.keys.Logs):
		return m.openLogsFor(ref)
	case key.Matches(k, m.keys.Events):
		m.evOnly = &ref
		m.go_(viewEvents)
	case key.Matches(k, m.keys.Delete):
		if ref.Kind == "Event" {
			m.setFlash("delete", errors.New("events expire on their own; the console does not delete them"))
			return nil
		}
		if ref.Kind == "Node" {
			// Deleting a Node object drops it from the cluster while its
			// kubelet and pods still run; drain and remove it outside.
			m.setFlash("delete", errors.New("deleting nodes is not offered in the console"))
			return nil
		}
		m.confirm = &ref
	case key.Matches(k, m.keys.Scale):
		if ref.Kind == "Deployment" || ref.Kind == "StatefulSet" || ref.Kind == "ReplicaSet" {
			m.scaleRef = &ref
			m.inputKind, m.input = 'S', ""
			if w := m.store.Workloads[ref.Kind+"/"+ref.Namespace+"/"+ref.Name]; w != nil {
				m.input = fmt.Sprint(w.Desired)
			}
		} else {
			m.setFlash("scale", errors.New("only Deployments, StatefulSets and ReplicaSets scale"))
		}
	case key.Matches(k, m.keys.Restart):
		if ref.Kind == "Deployment" || ref.Kind == "StatefulSet" || ref.Kind == "DaemonSet" {
			m.flash = "restarting " + ref.String() + "…"
			return m.action("rollout restart of "+ref.String()+" started", func(ctx context.Context) error { return m.opts.Backend.Restart(ctx, ref) })
		}
		m.setFlash("rollout restart", errors.New("only Deployments, StatefulSets and DaemonSets restart"))
	case key.Matches(k, m.keys.Shell):
		if ref.Kind != "Pod" {
			m.setFlash("shell", fmt.Errorf("%s: a shell opens in a pod; pick one in 4 Pods", ref))
			return nil
		}
		return m.shell(ref, "")
	}
	return nil
}

// shell suspends the console for a shell in a container (the first one
// when container is ""), if it runs: exec into anything else fails.
func (m *Model) shell(ref ObjRef, container string) tea.Cmd {
	p := m.store.Pods[ref.Namespace+"/"+ref.Name]
	if p == nil {
		m.setFlash("shell", fmt.Errorf("%s is gone", ref))
		return nil
	}
	if p.Phase != "Running" || p.Deleting {
		m.setFlash("shell", fmt.Errorf("%s is not running (%s)", ref, p.Status))
		return nil
	}
	if container == "" && len(p.Containers) > 0 {
		container = p.Containers[0]
	}
	if why := p.ContainerWaiting[container]; why != "" {
		m.setFlash("shell", fmt.Errorf("container %s of %s is not running (%s)", container, ref, why))
		return nil
	}
	m.flash = "shell in " + ref.String() + " " + container + "…"
	return tea.ExecProcess(m.opts.Backend.Shell(ref, container), func(err error) tea.Msg {
		if err != nil {
			return actionMsg{text: "shell", err: err}
		}
		return actionMsg{text: "shell closed"}
	})
}

// refuseReadonly says why a key that would change the cluster does nothing
// in a read-only console (its binding is disabled, so nothing else
// answers it).
func (m *Model) refuseReadonly(k tea.KeyPressMsg) bool {
	if !m.opts.Readonly {
		return false
	}
	for _, b := range []key.Binding{m.keys.Shell, m.keys.Delete, m.keys.Scale, m.keys.Restart} {
		for _, bk := range b.Keys() {
			if k.String() == bk {
				m.setFlash("read-only console", fmt.Errorf("%s is turned off", b.Help().Desc))
				return true
			}
		}
	}
	return false
}

func (m *Model) scale(text string) tea.Cmd {
	ref := m.scaleRef
	m.scaleRef = nil
	n, err := strconv.ParseInt(text, 10, 32)
	if ref == nil || err != nil || n < 0 {
		m.setFlash("scale", fmt.Errorf("%q is not a replica count (a whole number, 0 or more)", text))
		return nil
	}
	m.flash = fmt.Sprintf("scaling %s to %d…", ref, n)
	r := *ref
	return m.action(fmt.Sprintf("scaled %s to %d", r, n), func(ctx context.Context) error { return m.opts.Backend.Scale(ctx, r, int32(n)) })
}

func (m *Model) action(done string, f func(context.Context) error) tea.Cmd {
	ctx := m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			return actionMsg{text: strings.SplitN(done, " ", 2)[0] + " failed", err: err}
		}
		return actionMsg{text: done}
	}
}

func (m *Model) currentTable() *table {
	switch m.view {
	case viewPods:
		return &m.pods
	case viewWorkloads:
		return &m.workloads
	case viewServices:
		if m.onIngress {
			return &m.ingresses
		}
		return &m.services
	case viewEvents:
		return &m.events
	case viewNodes:
		return &m.nodes
	}
	return nil
}

// selected is the object under the cursor.
func (m *Model) selected() (ObjRef, bool) {
	switch m.view {
	case viewFlow:
		if m.flowCursor < len(m.flows) {
			p := m.flows[m.flowCursor].Pod
			return ObjRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}, true
		}
	case viewPods:
		if ns, name, ok := strings.Cut(m.pods.Selected(), "/"); ok {
			return ObjRef{Kind: "Pod", Namespace: ns, Name: name}, true
		}
	default:
		t := m.currentTable()
		if t == nil {
			return ObjRef{}, false
		}
		parts := strings.SplitN(t.Selected(), "/", 3)
		if len(parts) == 3 {
			return ObjRef{Kind: parts[0], Namespace: parts[1], Name: parts[2]}, true
		}
	}
	return ObjRef{}, false
}

func (m *Model) openText(ref ObjRef, what string, yaml bool) tea.Cmd {
	m.textID++
	id := m.textID
	m.text = textView{title: what + " " + ref.String(), loading: true, width: m.text.width, height: m.text.height}
	m.go_(viewText)
	b, ctx := m.opts.Backend, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var s string
		var err error
		if yaml {
			s, err = b.YAML(ctx, ref)
		} else {
			s, err = b.Describe(ctx, ref)
		}
		return textMsg{id: id, content: s, err: err}
	}
}

func (m *Model) textKey(k tea.KeyPressMsg) tea.Cmd {
	page := max(m.text.height-2, 1)
	switch {
	case key.Matches(k, m.keys.Up):
		m.text.scroll(-1)
	case key.Matches(k, m.keys.Down):
		m.text.scroll(1)
	case key.Matches(k, m.keys.PageUp):
		m.text.scroll(-page)
	case key.Matches(k, m.keys.PageDown):
		m.text.scroll(page)
	case key.Matches(k, m.keys.Top):
		m.text.top = 0
	case key.Matches(k, m.keys.Bottom):
		m.text.scroll(1 << 30)
	}
	return nil
}

// ---- logs -------------------------------------------------------------------

// openLogsFor opens the logs of what the cursor is on: a pod's first
// container (c cycles), or every container of a workload's pods, merged.
// What has no log of its own says so.
func (m *Model) openLogsFor(ref ObjRef) tea.Cmd {
	if ref.Kind == "Pod" {
		var containers []string
		if p := m.store.Pods[ref.Namespace+"/"+ref.Name]; p != nil {
			containers = p.Containers
		}
		c := ""
		if len(containers) > 0 {
			c = containers[0]
		}
		return m.startLogs(ref.Namespace+"/"+ref.Name, containers, LogRequest{Namespace: ref.Namespace, Pod: ref.Name, Container: c, TailLines: 1000})
	}
	w := m.store.Workloads[ref.Kind+"/"+ref.Namespace+"/"+ref.Name]
	if w == nil {
		what := strings.ToLower(ref.Kind) + "s"
		if strings.HasSuffix(ref.Kind, "s") {
			what = strings.ToLower(ref.Kind) + "es" // ingresses
		}
		if ref.Kind == "Service" || ref.Kind == "Ingress" {
			what += " route traffic to pods but have no log of their own"
		} else {
			what += " have no log"
		}
		m.setFlash("logs", fmt.Errorf("%s: press l on one of the pods (4) or a workload (3)", what))
		return nil
	}
	pods := m.store.PodsOf(w)
	if len(pods) == 0 {
		m.flash = "no pods under " + ref.String()
		return nil
	}
	if len(pods) == 1 {
		// One pod: all its containers merged, and c cycles through them.
		p := pods[0]
		req := LogRequest{Namespace: p.Namespace, Pod: p.Name, TailLines: 1000}
		if len(p.Containers) > 1 {
			req.All = append([]string(nil), p.Containers...)
		} else if len(p.Containers) == 1 {
			req.Container = p.Containers[0]
		}
		return m.startLogs(ref.String()+" · "+p.Name, p.Containers, req)
	}
	// Several pods: every container of every pod, merged.
	var all []string
	for _, p := range pods {
		for _, c := range p.Containers {
			all = append(all, p.Name+"/"+c)
		}
	}
	return m.startLogs(ref.String(), nil, LogRequest{Namespace: ref.Namespace, Pod: ref.Name, All: all, TailLines: 1000})
}

// startLogs switches to the logs view for a new request.
func (m *Model) startLogs(what string, containers []string, req LogRequest) tea.Cmd {
	m.logs.what = what
	m.logs.containers = containers
	m.logs.filter = ""
	m.logs.wrap = false
	m.go_(viewLogs)
	return m.openLogs(req)
}

func (m *Model) openLogs(req LogRequest) tea.Cmd {
	if m.logs.stream != nil {
		m.logs.stream.cancel()
	}
	m.logSeq++
	m.logs.reset(req)
	s, cmd := openLogs(m.opts.Backend, m.logSeq, req, m.opts.Retry)
	m.logs.stream = s
	return cmd
}

func (m *Model) onLog(msg logMsg) tea.Cmd {
	if m.logs.stream == nil || msg.id != m.logs.stream.id {
		return nil
	}
	m.logs.append(msg.lines)
	m.logs.eof = m.logs.eof || msg.eof
	for src, err := range msg.srcErr {
		if m.logs.srcErr == nil {
			m.logs.srcErr = map[string]error{}
		}
		if err == nil {
			delete(m.logs.srcErr, src)
		} else {
			m.logs.srcErr[src] = err
		}
	}
	if msg.err != nil {
		m.logs.err = msg.err
		if noPrevious(m.logs.req, msg.err) {
			return nil // it will not appear by asking again
		}
		id := msg.id
		return tea.Tick(m.opts.Retry, func(time.Time) tea.Msg { return logReopenMsg{id: id} })
	}
	if msg.eof {
		return nil
	}
	return m.logs.stream.readCmd()
}

func (m *Model) logKey(k tea.KeyPressMsg) tea.Cmd {
	if m.refuseReadonly(k) {
		return nil
	}
	page := max(m.logs.body()-1, 1)
	switch {
	case key.Matches(k, m.keys.Up):
		m.logs.scroll(-1)
	case key.Matches(k, m.keys.Down):
		m.logs.scroll(1)
	case key.Matches(k, m.keys.PageUp):
		m.logs.scroll(-page)
	case key.Matches(k, m.keys.PageDown):
		m.logs.scroll(page)
	case key.Matches(k, m.keys.Top):
		m.logs.scroll(-1 << 30)
	case key.Matches(k, m.keys.Bottom):
		m.logs.scroll(1 << 30)
	case key.Matches(k, m.keys.Follow):
		if m.logs.follow {
			m.logs.scroll(0)
			m.logs.follow = false
		} else {
			m.logs.scroll(1 << 30)
		}
	case key.Matches(k, m.keys.Wrap):
		m.logs.wrap = !m.logs.wrap
	case key.Matches(k, m.keys.Timestamps):
		req := m.logs.req
		req.Timestamps = !req.Timestamps
		return m.openLogs(req)
	case key.Matches(k, m.keys.Previous):
		req := m.logs.req
		req.Previous = !req.Previous
		return m.openLogs(req)
	case key.Matches(k, m.keys.Container):
		// c cycles through the containers, then all of them merged.
		if cs := m.logs.containers; len(cs) > 1 {
			req := m.logs.req
			switch {
			case len(req.All) > 0:
				req.Container, req.All = cs[0], nil
			case req.Container == cs[len(cs)-1]:
				req.Container, req.All = "", append([]string(nil), cs...)
			default:
				for i, c := range cs {
					if c == req.Container {
						req.Container = cs[i+1]
						break
					}
				}
			}
			return m.openLogs(req)
		}
	case key.Matches(k, m.keys.Shell):
		if len(m.logs.req.All) > 0 && m.logs.containers == nil {
			m.setFlash("shell", errors.New("these are several pods' logs; open one pod's (4, l) for a shell"))
			return nil
		}
		ref := ObjRef{Kind: "Pod", Namespace: m.logs.req.Namespace, Name: m.logs.req.Pod}
		return m.shell(ref, m.logs.req.Container)
	}
	return nil
}

// ---- view -------------------------------------------------------------------

// View draws the screen: tabs, the connection line, the view, the footer.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeNone
	v.WindowTitle = "appliance console"
	return v
}

// Render is the screen as a string (what View shows).
func (m *Model) Render() string {
	st := m.styles
	body := max(m.height-3, 1)
	var b strings.Builder
	b.WriteString(m.tabs())
	b.WriteByte('\n')
	b.WriteString(m.status())
	b.WriteByte('\n')
	var content string
	switch {
	case m.showHelp:
		content = m.helpView(body)
	case m.view == viewOverview:
		content = renderOverview(st, m.store, m.ns, m.width, body, m.now)
	case m.view == viewFlow:
		content = renderFlow(st, m.store, m.flows, m.flowTop, m.flowCursor, m.width, body, m.now)
	case m.view == viewPods:
		content = m.pods.View(st)
	case m.view == viewWorkloads:
		content = m.workloads.View(st) + "\n" + m.workloadPods(body-m.workloads.height)
	case m.view == viewServices:
		content = m.services.View(st) + "\n\n" + m.ingresses.View(st)
	case m.view == viewEvents:
		content = m.events.View(st)
	case m.view == viewNodes:
		content = m.nodes.View(st)
	case m.view == viewLogs:
		waiting := ""
		if p := m.store.Pods[m.logs.req.Namespace+"/"+m.logs.req.Pod]; p != nil {
			waiting = p.ContainerWaiting[m.logs.req.Container]
		}
		content = m.logs.View(st, waiting)
	case m.view == viewText:
		content = m.text.View(st)
	}
	b.WriteString(fitLines(content, body))
	b.WriteByte('\n')
	b.WriteString(m.footer())
	return b.String()
}

// fitLines makes s exactly n lines.
func fitLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m *Model) tabs() string {
	st := m.styles
	var parts []string
	for i, v := range tabs {
		name := fmt.Sprintf("%d %s", i+1, viewNames[v])
		if v == m.view || (m.view == viewLogs || m.view == viewText) && len(m.history) > 0 && m.history[0] == v {
			parts = append(parts, st.TabOn.Render(name))
		} else {
			parts = append(parts, st.Tab.Render(name))
		}
	}
	left := strings.Join(parts, " ")
	ns := "ns:all"
	if m.ns != "" {
		ns = "ns:" + m.ns
	}
	if m.opts.Readonly {
		ns = "read-only " + ns
	}
	right := st.Accent.Render(ns)
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		return ansi.Truncate(left, max(m.width-ansi.StringWidth(right)-1, 0), "…") + " " + right
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) status() string {
	st := m.styles
	h := m.store.Health
	title := viewNames[m.view]
	if m.view == viewWorkloads && m.kind != "" {
		title += " · " + m.kind + "s"
	}
	if m.view == viewEvents && m.evOnly != nil {
		title += " · " + m.evOnly.String()
	}
	if f := m.filter[m.view]; f != "" && m.view != viewLogs && m.view != viewText {
		title += " /" + f
	}
	var conn string
	switch {
	case h.Err != "":
		// Keep "retrying" in view however narrow: shorten the error instead.
		room := max(m.width-ansi.StringWidth(title)-18, 10)
		conn = st.Bad.Render("✗ " + ansi.Truncate(oneLine(h.Err), room, "…") + " — retrying")
	case len(m.store.Problems) > 0:
		room := max(m.width-ansi.StringWidth(title)-18, 10)
		conn = st.Bad.Render("✗ " + ansi.Truncate(problemSummary(m.store.Problems), room, "…") + " — retrying")
	case h.APIServer == "ok":
		conn = st.OK.Render("● " + m.opts.Server)
	case h.APIServer != "":
		conn = st.Warn.Render("● " + m.opts.Server + " " + h.APIServer)
	default:
		conn = st.Muted.Render("○ " + m.opts.Server + " connecting…")
	}
	left := st.Title.Render(" " + title + " ")
	line := left + " " + conn
	return ansi.Truncate(line, m.width, "…")
}

// problemSummary says why the console cannot list some resources: "pods:
// forbidden" for one; for several the reason most share first, so it stays
// in view when the list is cut: "forbidden: pods, services (+1 more)".
func problemSummary(problems map[string]string) string {
	byWhy := map[string][]string{}
	for res, why := range problems {
		byWhy[why] = append(byWhy[why], res)
	}
	whys := make([]string, 0, len(byWhy))
	for why := range byWhy {
		whys = append(whys, why)
	}
	// The reason most resources share first.
	slices.SortFunc(whys, func(a, b string) int {
		if c := len(byWhy[b]) - len(byWhy[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	res := byWhy[whys[0]]
	slices.Sort(res)
	if len(problems) == 1 {
		return res[0] + ": " + oneLine(whys[0])
	}
	out := oneLine(whys[0]) + ": " + strings.Join(res, ", ")
	if n := len(problems) - len(res); n > 0 {
		out += fmt.Sprintf(" (+%d more)", n)
	}
	return out
}

// emptyText is what an empty list says: why, when the console cannot list
// the resource.
func (m *Model) emptyText(normal string, resources ...string) string {
	for _, r := range resources {
		if why, ok := m.store.Problems[r]; ok {
			return fmt.Sprintf("Cannot list %s: %s. Retrying…", r, oneLine(why))
		}
	}
	return normal
}

func (m *Model) footer() string {
	st := m.styles
	switch {
	case m.confirm != nil:
		return st.Bad.Render(fit(fmt.Sprintf("Delete %s? y/n", m.confirm), m.width))
	case m.inputKind == 'S' && m.scaleRef != nil:
		return fit(fmt.Sprintf("Scale %s to: %s█", m.scaleRef, m.input), m.width)
	case m.inputKind != 0:
		return fit(string(m.inputKind)+m.input+"█", m.width)
	case m.flash != "":
		s := st.Accent
		if m.flashBad {
			s = st.Bad
		}
		return s.Render(ansi.Truncate(m.flash, m.width, "…"))
	}
	return m.help.ShortHelpView(m.keys.ShortHelp())
}

func (m *Model) helpView(height int) string {
	hints := map[viewID]string{
		viewFlow:      "Each new pod moves through the flow: stored → scheduled → network → image pulled → started → running → ready, with the time each step took; a stuck step shows why. Rows stay 10 minutes after a pod settles; stuck pods stay while stuck.",
		viewOverview:  "The control plane's health, the nodes with requested/allocatable resources and their kubelets' leases (:no lists them all in the Nodes view), and the last warnings.",
		viewWorkloads: "ready/desired with a rollout bar; the pods of the selected workload below.",
		viewPods:      "Every pod, with kubectl's columns; enter opens its logs.",
		viewServices:  "Services with their ready endpoints; below them, Ingresses. The cursor moves on from one table to the other.",
		viewEvents:    "Events, newest first; e on an object shows only its own.",
		viewNodes:     "Every node with kubectl's columns, and what its pods request of what it can allocate (CPU, MEMORY) and hold (PODS); enter describes it.",
		viewLogs:      "Follow stops when you scroll up and resumes at the bottom (G or f). / keeps only the lines that match.",
		viewText:      "Describe or YAML of the selection; / finds and marks text.",
	}
	hint := hints[m.view]
	if !m.opts.Readonly && (m.view == viewPods || m.view == viewWorkloads) {
		hint += " ctrl-d asks before it deletes."
	}
	here, other := m.keys.HelpFor(m.view)
	out := []string{m.styles.Header.Render("Help: " + viewNames[m.view])}
	out = append(out, wrapWords(hint, m.width)...)
	out = append(out, "")
	out = append(out, m.helpColumns(here)...)
	if rest := m.helpColumns(other); len(rest) > 0 {
		out = append(out, "", m.styles.Muted.Render("In other views:"))
		out = append(out, rest...)
	}
	return fitLines(strings.Join(out, "\n"), height)
}

// wrapWords breaks text into lines of at most width cells at spaces
// (ansi.Wordwrap also breaks at hyphens, which splits "ctrl-d"); a word
// wider than a line is broken where the line ends.
func wrapWords(text string, width int) []string {
	width = max(width, 1)
	var lines []string
	line := ""
	var words []string
	for _, w := range strings.Fields(text) {
		if ansi.StringWidth(w) > width {
			words = append(words, strings.Split(ansi.Hardwrap(w, width, false), "\n")...)
		} else {
			words = append(words, w)
		}
	}
	for _, w := range words {
		switch {
		case line == "":
			line = w
		case ansi.StringWidth(line)+1+ansi.StringWidth(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// helpColumns lays key groups out as columns side by side, going on to
// another row of columns when the next does not fit the width (the help
// bubble would cut it to "…").
func (m *Model) helpColumns(groups [][]key.Binding) []string {
	const sep = "   "
	var rows [][]string
	var row []string
	width := 0
	for _, g := range groups {
		col := m.help.FullHelpView([][]key.Binding{g})
		if strings.TrimSpace(ansi.Strip(col)) == "" {
			continue // every key of it is off (read-only)
		}
		w := lipgloss.Width(col)
		if len(row) > 0 && width+len(sep)+w > m.width {
			rows = append(rows, row)
			row, width = nil, 0
		}
		if len(row) > 0 {
			row = append(row, sep)
			width += len(sep)
		}
		row = append(row, col)
		width += w
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	var out []string
	for i, r := range rows {
		if i > 0 {
			out = append(out, "")
		}
		out = append(out, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, r...), "\n")...)
	}
	return out
}

// workloadPods lists the pods of the selected workload under the table.
func (m *Model) workloadPods(height int) string {
	if height <= 1 {
		return ""
	}
	st := m.styles
	ref, ok := m.selected()
	if !ok {
		return ""
	}
	w := m.store.Workloads[ref.Kind+"/"+ref.Namespace+"/"+ref.Name]
	if w == nil {
		return ""
	}
	pods := m.store.PodsOf(w)
	lines := []string{st.Header.Render(fit(fmt.Sprintf("Pods of %s (%d)", ref, len(pods)), m.width))}
	for _, p := range pods {
		if len(lines) >= height {
			break
		}
		lines = append(lines, fmt.Sprintf("  %s %s %s %s", fit(p.Name, max(m.width-40, 10)), fit(fmt.Sprintf("%d/%d", p.Ready, p.Total), 5),
			st.status(p.Status).Render(fit(p.Status, 17)), fit(p.Node, 12)))
	}
	if len(pods) == 0 {
		lines = append(lines, st.Muted.Render("  no pods"))
	}
	return fitLines(strings.Join(lines, "\n"), height)
}
