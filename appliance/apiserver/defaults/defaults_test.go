package defaults

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

var servedVersions = []schema.GroupVersion{
	corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion, batchv1.SchemeGroupVersion,
	autoscalingv1.SchemeGroupVersion, autoscalingv2.SchemeGroupVersion, networkingv1.SchemeGroupVersion,
	storagev1.SchemeGroupVersion, rbacv1.SchemeGroupVersion, discoveryv1.SchemeGroupVersion,
	schedulingv1.SchemeGroupVersion,
}

// newScheme returns a scheme holding the served groups and this package's
// defaulting funcs.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, storagev1.AddToScheme, rbacv1.AddToScheme,
		discoveryv1.AddToScheme, schedulingv1.AddToScheme, AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return scheme
}

// decode decodes a request body the way the API server does: through the codec
// factory's universal decoder, which applies the scheme's defaulting funcs.
func decode(t *testing.T, scheme *runtime.Scheme, doc string) runtime.Object {
	t.Helper()
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDecoder(servedVersions...).Decode([]byte(doc), nil, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return obj
}

// parseAs reads doc into a new object of sample's type, without defaulting.
func parseAs(t *testing.T, sample runtime.Object, doc string) runtime.Object {
	t.Helper()
	obj := reflect.New(reflect.TypeOf(sample).Elem()).Interface().(runtime.Object)
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("parse %T: %v", sample, err)
	}
	return obj
}

// canonical renders obj as YAML lines without its type meta, for comparison.
func canonical(t *testing.T, obj runtime.Object) []string {
	t.Helper()
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(out), "\n")
}

type decodeCase struct {
	name string
	in   string
	want string // "" when the input must come out unchanged
}

// minimalCases: a minimal object of each kind comes out as Kubernetes returns
// it (less what the registry and admission add: UIDs, selectors, cluster IPs,
// service accounts, tolerations...).
var minimalCases = []decodeCase{
	{
		name: "pod",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      limits: {cpu: 500m, memory: 128Mi}
`,
		want: `
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    imagePullPolicy: Always
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 500m, memory: 128Mi}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "pod with volumes, probes, env, lifecycle and every container kind",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes:
  - name: scratch
  - {name: cm, configMap: {name: settings}}
  - {name: sec, secret: {secretName: creds}}
  - {name: host, hostPath: {path: /var/log}}
  - name: info
    downwardAPI:
      items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
  - name: all
    projected:
      sources:
      - serviceAccountToken: {path: token}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
      - configMap: {name: ca}
  - name: eph
    ephemeral:
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
  - {name: img, image: {reference: "quay.io/data/set:v2"}}
  initContainers:
  - name: init
    image: registry.local:5000/tools
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
  containers:
  - name: app
    image: app@sha256:4bcd1e2a3d2b6b5b0a2c1c7f1f5f2ad0b1f5c8b2c6a3d8e5f4b7a6c9d0e1f2a3
    ports:
    - containerPort: 8080
    - {containerPort: 53, protocol: UDP}
    env:
    - name: FROM_FILE
      valueFrom: {fileKeyRef: {volumeName: scratch, path: env, key: K}}
    livenessProbe:
      httpGet: {port: 8080}
    readinessProbe:
      grpc: {port: 9090}
    startupProbe:
      tcpSocket: {port: 8080}
      failureThreshold: 30
    lifecycle:
      preStop:
        httpGet: {port: 8080, path: /quit}
  ephemeralContainers:
  - name: debug
    image: busybox:latest
`,
		want: `
metadata: {name: p}
spec:
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: cm, configMap: {name: settings, defaultMode: 420}}
  - {name: sec, secret: {secretName: creds, defaultMode: 420}}
  - {name: host, hostPath: {path: /var/log, type: ""}}
  - name: info
    downwardAPI:
      defaultMode: 420
      items: [{path: labels, fieldRef: {apiVersion: v1, fieldPath: metadata.labels}}]
  - name: all
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
      - downwardAPI: {items: [{path: ns, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]}
      - configMap: {name: ca}
  - name: eph
    ephemeral:
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
          volumeMode: Filesystem
  - {name: img, image: {reference: "quay.io/data/set:v2", pullPolicy: IfNotPresent}}
  initContainers:
  - name: init
    image: registry.local:5000/tools
    imagePullPolicy: Always
    env:
    - name: NODE
      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  containers:
  - name: app
    image: app@sha256:4bcd1e2a3d2b6b5b0a2c1c7f1f5f2ad0b1f5c8b2c6a3d8e5f4b7a6c9d0e1f2a3
    imagePullPolicy: IfNotPresent
    ports:
    - {containerPort: 8080, protocol: TCP}
    - {containerPort: 53, protocol: UDP}
    env:
    - name: FROM_FILE
      valueFrom: {fileKeyRef: {volumeName: scratch, path: env, key: K, optional: false}}
    livenessProbe:
      httpGet: {port: 8080, path: /, scheme: HTTP}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    readinessProbe:
      grpc: {port: 9090, service: ""}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    startupProbe:
      tcpSocket: {port: 8080}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 30
    lifecycle:
      preStop:
        httpGet: {port: 8080, path: /quit, scheme: HTTP}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  ephemeralContainers:
  - name: debug
    image: busybox:latest
    imagePullPolicy: Always
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "pod on the host network gets host ports",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  containers:
  - {name: c, image: "nginx:1.27", ports: [{containerPort: 80}, {containerPort: 443, hostPort: 8443}]}
`,
		want: `
metadata: {name: p}
spec:
  hostNetwork: true
  containers:
  - name: c
    image: "nginx:1.27"
    imagePullPolicy: IfNotPresent
    ports:
    - {containerPort: 80, hostPort: 80, protocol: TCP}
    - {containerPort: 443, hostPort: 8443, protocol: TCP}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "pod-level resources are completed from the containers",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  resources:
    limits: {cpu: "2", memory: 1Gi}
  containers:
  - name: a
    image: "a:1"
    resources: {requests: {cpu: 250m}}
  - name: b
    image: "b:1"
    resources: {requests: {cpu: 250m}, limits: {hugepages-2Mi: 20Mi}}
`,
		want: `
metadata: {name: p}
spec:
  resources:
    limits: {cpu: "2", memory: 1Gi, hugepages-2Mi: 20Mi}
    requests: {cpu: 500m, memory: 1Gi, hugepages-2Mi: 20Mi}
  containers:
  - name: a
    image: "a:1"
    imagePullPolicy: IfNotPresent
    resources: {requests: {cpu: 250m}}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  - name: b
    image: "b:1"
    imagePullPolicy: IfNotPresent
    resources: {requests: {cpu: 250m, hugepages-2Mi: 20Mi}, limits: {hugepages-2Mi: 20Mi}}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "resource quantities are rounded up to milli units",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: c, image: "c:1", resources: {requests: {cpu: "0.0001"}, limits: {cpu: 1500u}}}
`,
		want: `
metadata: {name: p}
spec:
  containers:
  - name: c
    image: "c:1"
    imagePullPolicy: IfNotPresent
    resources: {requests: {cpu: 1m}, limits: {cpu: 2m}}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "pod template gets the PodSpec defaults but not the Pod-only ones",
		in: `
apiVersion: v1
kind: PodTemplate
metadata: {name: t}
template:
  spec:
    hostNetwork: true
    containers:
    - {name: c, image: nginx, ports: [{containerPort: 80}], resources: {limits: {cpu: "1"}}}
`,
		want: `
metadata: {name: t}
template:
  spec:
    hostNetwork: true
    containers:
    - name: c
      image: nginx
      imagePullPolicy: Always
      ports: [{containerPort: 80, protocol: TCP}]
      resources: {limits: {cpu: "1"}}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "service ClusterIP",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  selector: {app: web}
  ports: [{port: 80}, {name: metrics, port: 9090, targetPort: http-metrics}]
`,
		want: `
metadata: {name: s}
spec:
  selector: {app: web}
  ports:
  - {port: 80, protocol: TCP, targetPort: 80}
  - {name: metrics, port: 9090, protocol: TCP, targetPort: http-metrics}
  sessionAffinity: None
  type: ClusterIP
  internalTrafficPolicy: Cluster
`,
	},
	{
		name: "service ClusterIP with external IPs",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  externalIPs: [192.0.2.10]
  ports: [{port: 80}]
`,
		want: `
metadata: {name: s}
spec:
  externalIPs: [192.0.2.10]
  ports: [{port: 80, protocol: TCP, targetPort: 80}]
  sessionAffinity: None
  type: ClusterIP
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
`,
	},
	{
		name: "service NodePort",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  type: NodePort
  ports: [{port: 80, protocol: UDP}]
`,
		want: `
metadata: {name: s}
spec:
  type: NodePort
  ports: [{port: 80, protocol: UDP, targetPort: 80}]
  sessionAffinity: None
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
`,
	},
	{
		name: "service LoadBalancer",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  ports: [{port: 443, targetPort: 8443}]
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}, {hostname: lb.example.com}]
`,
		want: `
metadata: {name: s}
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}
  ports: [{port: 443, protocol: TCP, targetPort: 8443}]
  allocateLoadBalancerNodePorts: true
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7, ipMode: VIP}, {hostname: lb.example.com}]
`,
	},
	{
		name: "service ExternalName",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  type: ExternalName
  externalName: db.example.com
`,
		want: `
metadata: {name: s}
spec:
  type: ExternalName
  externalName: db.example.com
  sessionAffinity: None
`,
	},
	{
		name: "namespace",
		in: `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {owner: a}}
`,
		want: `
metadata: {name: team-a, labels: {owner: a, kubernetes.io/metadata.name: team-a}}
status: {phase: Active}
`,
	},
	{
		name: "secret",
		in: `
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {password: hunter2}
`,
		want: `
metadata: {name: s}
stringData: {password: hunter2}
type: Opaque
`,
	},
	{
		name: "node",
		in: `
apiVersion: v1
kind: Node
metadata: {name: node-1}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
`,
		want: `
metadata: {name: node-1}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
`,
	},
	{
		name: "persistent volume",
		in: `
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /data}
`,
		want: `
metadata: {name: pv}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /data, type: ""}
  persistentVolumeReclaimPolicy: Retain
  volumeMode: Filesystem
status: {phase: Pending}
`,
	},
	{
		name: "persistent volume claim",
		in: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`,
		want: `
metadata: {name: pvc}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  volumeMode: Filesystem
status: {phase: Pending}
`,
	},
	{
		name: "endpoints",
		in: `
apiVersion: v1
kind: Endpoints
metadata: {name: e}
subsets:
- addresses: [{ip: 10.0.0.5}]
  ports: [{port: 80}, {name: dns, port: 53, protocol: UDP}]
`,
		want: `
metadata: {name: e}
subsets:
- addresses: [{ip: 10.0.0.5}]
  ports: [{port: 80, protocol: TCP}, {name: dns, port: 53, protocol: UDP}]
`,
	},
	{
		name: "deployment",
		in: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: "nginx:1.27"
        ports: [{containerPort: 80}]
        resources: {limits: {memory: 64Mi}}
`,
		want: `
metadata: {name: web}
spec:
  progressDeadlineSeconds: 600
  replicas: 1
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: "nginx:1.27"
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 80, protocol: TCP}]
        resources: {limits: {memory: 64Mi}}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "replica set",
		in: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: "c:1"}]
`,
		want: `
metadata: {name: rs}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "stateful set",
		in: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: "postgres:17"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`,
		want: `
metadata: {name: db}
spec:
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  podManagementPolicy: OrderedReady
  replicas: 1
  revisionHistoryLimit: 10
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: c, image: "postgres:17", imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1, partition: 0}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
      volumeMode: Filesystem
    status: {phase: Pending}
`,
	},
	{
		name: "stateful set with an explicit RollingUpdate type and no parameters",
		in: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: "postgres:17"}]
`,
		want: `
metadata: {name: db}
spec:
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  podManagementPolicy: OrderedReady
  replicas: 1
  revisionHistoryLimit: 10
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: c, image: "postgres:17", imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
  updateStrategy: {type: RollingUpdate}
`,
	},
	{
		name: "daemon set",
		in: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: "agent:2"}]
`,
		want: `
metadata: {name: agent}
spec:
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: c, image: "agent:2", imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 0, maxUnavailable: 1}
`,
	},
	{
		name: "job",
		in: `
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    metadata: {labels: {app: pi}}
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: "perl:5.34.0", command: [perl, -e, print 1]}]
`,
		want: `
metadata: {name: pi, labels: {app: pi}}
spec:
  backoffLimit: 6
  completionMode: NonIndexed
  completions: 1
  manualSelector: false
  parallelism: 1
  podReplacementPolicy: TerminatingOrFailed
  suspend: false
  template:
    metadata: {labels: {app: pi}}
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: "perl:5.34.0", command: [perl, -e, print 1], imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "job with a pod failure policy and per-index backoff",
		in: `
apiVersion: batch/v1
kind: Job
metadata: {name: j, labels: {team: a}}
spec:
  completions: 4
  completionMode: Indexed
  backoffLimitPerIndex: 1
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget}]
  template:
    metadata: {labels: {app: j}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "c:1"}]
`,
		want: `
metadata: {name: j, labels: {team: a}}
spec:
  backoffLimit: 2147483647
  backoffLimitPerIndex: 1
  completionMode: Indexed
  completions: 4
  manualSelector: false
  parallelism: 1
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget, status: "True"}]
  podReplacementPolicy: Failed
  suspend: false
  template:
    metadata: {labels: {app: j}}
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: "c:1", imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "cron job",
		in: `
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
`,
		want: `
metadata: {name: cj}
spec:
  concurrencyPolicy: Allow
  failedJobsHistoryLimit: 1
  schedule: "*/5 * * * *"
  successfulJobsHistoryLimit: 3
  suspend: false
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: c, image: busybox, imagePullPolicy: Always, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
          dnsPolicy: ClusterFirst
          schedulerName: default-scheduler
          securityContext: {}
          terminationGracePeriodSeconds: 30
`,
	},
	{
		name: "horizontal pod autoscaler v2",
		in: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
`,
		want: `
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  minReplicas: 1
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
status: {currentMetrics: null, desiredReplicas: 0}
`,
	},
	{
		name: "horizontal pod autoscaler v2 with a partial behavior",
		in: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
`,
		want: `
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  minReplicas: 1
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      selectPolicy: Max
      policies:
      - {type: Pods, value: 4, periodSeconds: 15}
      - {type: Percent, value: 100, periodSeconds: 15}
    scaleDown:
      stabilizationWindowSeconds: 60
      selectPolicy: Max
      policies:
      - {type: Percent, value: 100, periodSeconds: 15}
status: {currentMetrics: null, desiredReplicas: 0}
`,
	},
	{
		name: "horizontal pod autoscaler v1",
		in: `
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
`,
		want: `
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  minReplicas: 1
status: {currentReplicas: 0, desiredReplicas: 0}
`,
	},
	{
		name: "ingress keeps its path types and gets no class",
		in: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
spec:
  rules:
  - host: example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: ImplementationSpecific, backend: {service: {name: api, port: {name: http}}}}
`,
	},
	{
		name: "ingress class parameters are cluster scoped",
		in: `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec:
  controller: k8s.io/ingress-nginx
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb}
`,
		want: `
metadata: {name: nginx}
spec:
  controller: k8s.io/ingress-nginx
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb, scope: Cluster}
`,
	},
	{
		name: "storage class",
		in: `
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard}
provisioner: rancher.io/local-path
`,
		want: `
metadata: {name: standard}
provisioner: rancher.io/local-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
`,
	},
	{
		name: "role binding subjects",
		in: `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: default}
roleRef: {kind: Role, name: reader}
subjects:
- {kind: User, name: alice}
- {kind: Group, name: devs}
- {kind: ServiceAccount, name: robot, namespace: default}
`,
		want: `
metadata: {name: rb, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}
- {kind: ServiceAccount, name: robot, namespace: default}
`,
	},
	{
		name: "cluster role binding subjects",
		in: `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, name: "system:authenticated"}]
`,
		want: `
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
`,
	},
	{
		name: "endpoint slice",
		in: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: es}
addressType: IPv4
endpoints: [{addresses: [10.0.0.5]}]
ports: [{port: 80}]
`,
		want: `
metadata: {name: es}
addressType: IPv4
endpoints: [{addresses: [10.0.0.5]}]
ports: [{name: "", port: 80, protocol: TCP}]
`,
	},
	{
		name: "priority class",
		in: `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
`,
		want: `
metadata: {name: high}
value: 1000
preemptionPolicy: PreemptLowerPriority
`,
	},
}

// explicitCases: values given in the request are never overwritten.
var explicitCases = []decodeCase{
	{
		name: "pod",
		in: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes:
  - {name: cm, configMap: {name: settings, defaultMode: 256}}
  - {name: sec, secret: {secretName: creds, defaultMode: 384}}
  - {name: host, hostPath: {path: /dev/kmsg, type: CharDevice}}
  - name: all
    projected:
      defaultMode: 292
      sources: [{serviceAccountToken: {path: token, expirationSeconds: 600, audience: vault}}]
  containers:
  - name: c
    image: "nginx:latest"
    imagePullPolicy: Never
    terminationMessagePath: /tmp/exit
    terminationMessagePolicy: FallbackToLogsOnError
    ports: [{containerPort: 53, protocol: SCTP}]
    env:
    - name: V
      valueFrom: {fieldRef: {apiVersion: v2, fieldPath: metadata.name}}
    resources:
      limits: {cpu: "1", memory: 1Gi}
      requests: {cpu: 100m, memory: 1Gi}
    livenessProbe:
      httpGet: {port: 8443, path: /healthz, scheme: HTTPS}
      timeoutSeconds: 5
      periodSeconds: 30
      successThreshold: 1
      failureThreshold: 10
    readinessProbe:
      grpc: {port: 9090, service: readiness}
      timeoutSeconds: 2
      periodSeconds: 3
      successThreshold: 4
      failureThreshold: 5
  dnsPolicy: None
  dnsConfig: {nameservers: [192.0.2.53]}
  enableServiceLinks: false
  restartPolicy: OnFailure
  schedulerName: my-scheduler
  securityContext: {runAsUser: 1000}
  terminationGracePeriodSeconds: 0
status: {phase: Running}
`,
	},
	{
		name: "service",
		in: `
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{port: 80, protocol: UDP, targetPort: 8080}]
  allocateLoadBalancerNodePorts: false
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7, ipMode: Proxy}]
`,
	},
	{
		name: "namespace",
		in: `
apiVersion: v1
kind: Namespace
metadata: {name: ns, labels: {kubernetes.io/metadata.name: ns}}
status: {phase: Terminating}
`,
	},
	{
		name: "secret",
		in: `
apiVersion: v1
kind: Secret
metadata: {name: s}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
`,
	},
	{
		name: "persistent volume",
		in: `
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  local: {path: /dev/sdb}
  persistentVolumeReclaimPolicy: Delete
  volumeMode: Block
status: {phase: Bound}
`,
	},
	{
		name: "persistent volume claim",
		in: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  volumeMode: Block
status: {phase: Bound}
`,
	},
	{
		name: "deployment with the Recreate strategy",
		in: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  progressDeadlineSeconds: 60
  revisionHistoryLimit: 0
  selector: {matchLabels: {app: web}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: Default
      restartPolicy: Always
      schedulerName: other
      securityContext: {fsGroup: 2000}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "deployment with a rolling update",
		in: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  progressDeadlineSeconds: 60
  revisionHistoryLimit: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: Default
      restartPolicy: Always
      schedulerName: other
      securityContext: {fsGroup: 2000}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "stateful set",
		in: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 0
  revisionHistoryLimit: 1
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2, maxUnavailable: 50%}}
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: Default
      restartPolicy: Always
      schedulerName: other
      securityContext: {}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "stateful set OnDelete",
		in: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  revisionHistoryLimit: 1
  podManagementPolicy: OrderedReady
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}
  updateStrategy: {type: OnDelete}
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: Default
      restartPolicy: Always
      schedulerName: other
      securityContext: {}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "daemon set OnDelete",
		in: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  revisionHistoryLimit: 3
  updateStrategy: {type: OnDelete}
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirstWithHostNet
      restartPolicy: Always
      schedulerName: other
      securityContext: {}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "job",
		in: `
apiVersion: batch/v1
kind: Job
metadata: {name: j, labels: {owner: me}}
spec:
  parallelism: 0
  completions: 3
  backoffLimit: 0
  completionMode: Indexed
  manualSelector: true
  selector: {matchLabels: {job: j}}
  podReplacementPolicy: Failed
  suspend: true
  template:
    metadata: {labels: {job: j}}
    spec:
      containers:
      - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
      dnsPolicy: Default
      restartPolicy: Never
      schedulerName: other
      securityContext: {}
      terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "cron job",
		in: `
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "@hourly"
  concurrencyPolicy: Forbid
  suspend: true
  successfulJobsHistoryLimit: 0
  failedJobsHistoryLimit: 0
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: c, image: "c:1", imagePullPolicy: Always, terminationMessagePath: /x, terminationMessagePolicy: File}
          dnsPolicy: Default
          restartPolicy: Never
          schedulerName: other
          securityContext: {}
          terminationGracePeriodSeconds: 120
`,
	},
	{
		name: "horizontal pod autoscaler v2",
		in: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 30
      selectPolicy: Min
      policies: [{type: Pods, value: 1, periodSeconds: 60}]
    scaleDown:
      stabilizationWindowSeconds: 600
      selectPolicy: Disabled
      policies: [{type: Pods, value: 1, periodSeconds: 60}]
status: {currentMetrics: null, desiredReplicas: 0}
`,
	},
	{
		name: "horizontal pod autoscaler v1",
		in: `
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 5
  targetCPUUtilizationPercentage: 60
status: {currentReplicas: 0, desiredReplicas: 0}
`,
	},
	{
		name: "ingress class",
		in: `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec:
  controller: k8s.io/ingress-nginx
  parameters: {kind: ConfigMap, name: params, namespace: infra, scope: Namespace}
`,
	},
	{
		name: "storage class",
		in: `
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: ebs.csi.aws.com
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
`,
	},
	{
		name: "role binding",
		in: `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {apiGroup: example.com, kind: User, name: alice}
- {kind: Custom, name: thing}
`,
	},
	{
		name: "endpoint slice",
		in: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: es}
addressType: IPv4
endpoints: [{addresses: [10.0.0.5]}]
ports: [{name: dns, port: 53, protocol: UDP}]
`,
	},
	{
		name: "priority class",
		in: `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: batch}
value: 10
preemptionPolicy: Never
`,
	},
}

func TestDecodeAppliesDefaults(t *testing.T) {
	scheme := newScheme(t)
	for _, group := range []struct {
		name  string
		cases []decodeCase
	}{{"minimal", minimalCases}, {"explicit", explicitCases}} {
		t.Run(group.name, func(t *testing.T) {
			for _, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) {
					got := decode(t, scheme, tc.in)
					wantDoc := tc.want
					if wantDoc == "" {
						wantDoc = tc.in
					}
					want := parseAs(t, got, wantDoc)
					if diff := cmp.Diff(canonical(t, want), canonical(t, got)); diff != "" {
						t.Errorf("decoded object differs from Kubernetes' (-want +got):\n%s", diff)
					}

					// Default gives the same result on the undefaulted object, and is
					// idempotent.
					direct := parseAs(t, got, tc.in)
					Default(direct)
					if diff := cmp.Diff(canonical(t, got), canonical(t, direct)); diff != "" {
						t.Errorf("Default differs from the decoder (-decoded +Default):\n%s", diff)
					}
					again := direct.DeepCopyObject()
					Default(again)
					if diff := cmp.Diff(canonical(t, direct), canonical(t, again)); diff != "" {
						t.Errorf("Default is not idempotent (-once +twice):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestImagePullPolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		image string
		want  corev1.PullPolicy
	}{
		{name: "no tag", image: "nginx", want: corev1.PullAlways},
		{name: "latest tag", image: "nginx:latest", want: corev1.PullAlways},
		{name: "version tag", image: "nginx:1.27", want: corev1.PullIfNotPresent},
		{name: "registry port without tag", image: "registry.local:5000/team/app", want: corev1.PullAlways},
		{name: "registry port with tag", image: "registry.local:5000/team/app:v1", want: corev1.PullIfNotPresent},
		{name: "registry port with latest", image: "registry.local:5000/app:latest", want: corev1.PullAlways},
		{name: "digest only", image: "nginx@sha256:4bcd1e2a3d2b6b5b0a2c1c7f1f5f2ad0b1f5c8b2c6a3d8e5f4b7a6c9d0e1f2a3", want: corev1.PullIfNotPresent},
		{name: "latest with digest", image: "nginx:latest@sha256:4bcd1e2a3d2b6b5b0a2c1c7f1f5f2ad0b1f5c8b2c6a3d8e5f4b7a6c9d0e1f2a3", want: corev1.PullAlways},
		{name: "empty", image: "", want: corev1.PullIfNotPresent},
		{name: "unparsable", image: "Not/A Valid:Image", want: corev1.PullIfNotPresent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tc.image}}}}
			Default(pod)
			if got := pod.Spec.Containers[0].ImagePullPolicy; got != tc.want {
				t.Errorf("imagePullPolicy for %q = %s, want %s", tc.image, got, tc.want)
			}
		})
	}
}

func TestDefaultGoObjects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		obj   runtime.Object
		check func(t *testing.T, obj runtime.Object)
	}{
		{
			name: "config map data becomes an empty map",
			obj:  &corev1.ConfigMap{},
			check: func(t *testing.T, obj runtime.Object) {
				if data := obj.(*corev1.ConfigMap).Data; data == nil || len(data) != 0 {
					t.Errorf("data = %#v, want an empty map", data)
				}
			},
		},
		{
			name: "a namespace without a name gets no name label",
			obj:  &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			check: func(t *testing.T, obj runtime.Object) {
				ns := obj.(*corev1.Namespace)
				if ns.Labels != nil {
					t.Errorf("labels = %v, want none", ns.Labels)
				}
				if ns.Status.Phase != corev1.NamespaceActive {
					t.Errorf("phase = %q", ns.Status.Phase)
				}
			},
		},
		{
			name: "requests copied from limits do not alias the limits",
			obj: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: "c:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			}}}},
			check: func(t *testing.T, obj runtime.Object) {
				res := &obj.(*corev1.Pod).Spec.Containers[0].Resources
				res.Limits[corev1.ResourceCPU] = resource.MustParse("2")
				if got := res.Requests[corev1.ResourceCPU]; got.String() != "1" {
					t.Errorf("request = %s, want 1", got.String())
				}
			},
		},
		{
			name: "node allocatable is a copy of the capacity",
			obj: &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
				corev1.ResourcePods: resource.MustParse("110"),
			}}},
			check: func(t *testing.T, obj runtime.Object) {
				st := &obj.(*corev1.Node).Status
				st.Capacity[corev1.ResourcePods] = resource.MustParse("10")
				if got := st.Allocatable[corev1.ResourcePods]; got.String() != "110" {
					t.Errorf("allocatable pods = %s, want 110", got.String())
				}
			},
		},
		{
			name: "session affinity None drops a stray config",
			obj: &corev1.Service{Spec: corev1.ServiceSpec{
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{}},
			}},
			check: func(t *testing.T, obj runtime.Object) {
				if cfg := obj.(*corev1.Service).Spec.SessionAffinityConfig; cfg != nil {
					t.Errorf("sessionAffinityConfig = %+v, want nil", cfg)
				}
			},
		},
		{
			name: "volumes of in-tree plugins get their declared defaults",
			obj: &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{}}},
				{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}},
				{Name: "azure", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{}}},
				{Name: "scaleio", VolumeSource: corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{}}},
			}}},
			check: func(t *testing.T, obj runtime.Object) {
				v := obj.(*corev1.Pod).Spec.Volumes
				if r := v[0].RBD; r.RBDPool != "rbd" || r.RadosUser != "admin" || r.Keyring != "/etc/ceph/keyring" {
					t.Errorf("rbd = %+v", r)
				}
				if v[1].ISCSI.ISCSIInterface != "default" {
					t.Errorf("iscsi interface = %q", v[1].ISCSI.ISCSIInterface)
				}
				if a := v[2].AzureDisk; *a.CachingMode != corev1.AzureDataDiskCachingReadWrite || *a.FSType != "ext4" || *a.ReadOnly || *a.Kind != corev1.AzureSharedBlobDisk {
					t.Errorf("azure disk = %+v", a)
				}
				if s := v[3].ScaleIO; s.StorageMode != "ThinProvisioned" || s.FSType != "xfs" {
					t.Errorf("scaleio = %+v", s)
				}
			},
		},
		{
			name: "lists default their items",
			obj:  &appsv1.DeploymentList{Items: []appsv1.Deployment{{}, {}}},
			check: func(t *testing.T, obj runtime.Object) {
				for i, d := range obj.(*appsv1.DeploymentList).Items {
					if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
						t.Errorf("item %d replicas = %v", i, d.Spec.Replicas)
					}
				}
			},
		},
		{
			name: "unknown types are left alone",
			obj:  &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}},
			check: func(t *testing.T, obj runtime.Object) {
				if want := (&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}); !reflect.DeepEqual(obj, want) {
					t.Errorf("service account changed: %+v", obj)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj)
			tc.check(t, tc.obj)
		})
	}
}

func TestDefaultNil(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{
		{name: "nil interface", obj: nil},
		{name: "typed nil pointer", obj: (*corev1.Pod)(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj) // must not panic
		})
	}
}

// TestAddToSchemeMatchesDefault checks that the scheme defaults every
// registered type exactly as Default does.
func TestAddToSchemeMatchesDefault(t *testing.T) {
	scheme := newScheme(t)
	for typ := range defaulters {
		t.Run(typ.String(), func(t *testing.T) {
			viaScheme := reflect.New(typ.Elem()).Interface().(runtime.Object)
			direct := viaScheme.DeepCopyObject()
			scheme.Default(viaScheme)
			Default(direct)
			if !reflect.DeepEqual(viaScheme, direct) {
				t.Errorf("scheme.Default = %+v, Default = %+v", viaScheme, direct)
			}
		})
	}
	if _, ok := defaulters[reflect.TypeFor[*corev1.Pod]()]; !ok {
		t.Fatal("pods are not defaulted")
	}
}
