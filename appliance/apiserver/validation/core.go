package validation

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---------------------------------------------------------------------------
// Namespace

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMeta(&ns.ObjectMeta, false, nameIsDNSLabel)
	return append(allErrs, validateNamespaceFinalizers(ns.Spec.Finalizers)...)
}

func validateNamespaceFinalizers(finalizers []corev1.FinalizerName) field.ErrorList {
	var allErrs field.ErrorList
	fldPath := field.NewPath("spec", "finalizers")
	for i, f := range finalizers {
		if errs := apimachineryvalidation.ValidateFinalizerName(string(f), fldPath.Index(i)); len(errs) > 0 {
			allErrs = append(allErrs, errs...)
			continue
		}
		if !strings.Contains(string(f), "/") && !standardFinalizers.Has(string(f)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return allErrs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateNamespaceFinalizers(ns.Spec.Finalizers)...)
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	phasePath := field.NewPath("status", "phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// ConfigMap

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMeta(&cm.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateConfigMapData(cm)...)
}

func validateConfigMapData(cm *corev1.ConfigMap) field.ErrorList {
	var allErrs field.ErrorList
	total := 0
	dataPath, binaryPath := field.NewPath("data"), field.NewPath("binaryData")
	for _, key := range sets.List(sets.KeySet(cm.Data)) {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[key])
	}
	for _, key := range sets.List(sets.KeySet(cm.BinaryData)) {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(binaryPath.Key(key), key, msg))
		}
		total += len(cm.BinaryData[key])
	}
	if total > corev1.MaxSecretSize {
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return allErrs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.Data, old.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.BinaryData, old.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return append(allErrs, validateConfigMapData(cm)...)
}

// ---------------------------------------------------------------------------
// Secret

// secretData is the data a secret will hold once stringData is merged in, as
// the API server does before storing it.
func secretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMeta(&s.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateSecretData(s)...)
}

func validateSecretData(s *corev1.Secret) field.ErrorList {
	var allErrs field.ErrorList
	dataPath := field.NewPath("data")
	for _, key := range sets.List(sets.KeySet(s.Data)) {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, msg))
		}
	}
	for _, key := range sets.List(sets.KeySet(s.StringData)) {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("stringData").Key(key), key, msg))
		}
	}
	data := secretData(s)
	total := 0
	for _, v := range data {
		total += len(v)
	}
	if total > corev1.MaxSecretSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}

	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if len(s.Annotations[corev1.ServiceAccountNameKey]) == 0 {
			allErrs = append(allErrs, field.Required(metadataPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeOpaque, "":
	case corev1.SecretTypeDockercfg:
		allErrs = append(allErrs, validateJSONKey(data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		allErrs = append(allErrs, validateJSONKey(data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPassword := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPassword {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := data[corev1.TLSCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := data[corev1.TLSPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return allErrs
}

func validateJSONKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	raw, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(raw, &map[string]interface{}{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateImmutableField(s.Type, old.Type, field.NewPath("type"))...)
	if old.Immutable != nil && *old.Immutable {
		if s.Immutable == nil || !*s.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(secretData(s), secretData(old)) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return append(allErrs, validateSecretData(s)...)
}

// ---------------------------------------------------------------------------
// ServiceAccount

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return validateObjectMeta(&sa.ObjectMeta, true, nameIsDNSSubdomain)
}

func validateServiceAccountUpdate(sa, old *corev1.ServiceAccount) field.ErrorList {
	return validateObjectMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta)
}

// ---------------------------------------------------------------------------
// Node

func validateNode(node *corev1.Node) field.ErrorList {
	allErrs := validateObjectMeta(&node.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateNodeCommon(node)...)
}

func validateNodeCommon(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateNodeTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
	for _, name := range sortedResourceNames(node.Status.Capacity) {
		allErrs = append(allErrs, validateResourceQuantityValue(name, node.Status.Capacity[name], field.NewPath("status", "capacity").Key(string(name)))...)
	}
	for _, name := range sortedResourceNames(node.Status.Allocatable) {
		allErrs = append(allErrs, validateResourceQuantityValue(name, node.Status.Allocatable[name], field.NewPath("status", "allocatable").Key(string(name)))...)
	}
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs = []string{node.Spec.PodCIDR}
	}
	allErrs = append(allErrs, validateDualStackCIDRs(cidrs, field.NewPath("spec", "podCIDRs"))...)
	return allErrs
}

func validateDualStackCIDRs(cidrs []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	valid := true
	for i, c := range cidrs {
		errs := validation.IsValidCIDR(fldPath.Index(i), c)
		valid = valid && len(errs) == 0
		allErrs = append(allErrs, errs...)
	}
	if len(cidrs) > 1 && valid {
		v4, v6 := 0, 0
		seen := sets.New[string]()
		for i, c := range cidrs {
			if seen.Has(c) {
				allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), c))
			}
			seen.Insert(c)
			if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
		if len(cidrs) > 2 || v4 != 1 || v6 != 1 {
			allErrs = append(allErrs, field.Invalid(fldPath, cidrs, "may specify no more than one CIDR for each IP family"))
		}
	}
	return allErrs
}

func validateNodeTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	unique := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range taints {
		p := fldPath.Index(i)
		allErrs = append(allErrs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if errs := validation.IsValidLabelValue(t.Value); len(errs) != 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("value"), t.Value, strings.Join(errs, ";")))
		}
		allErrs = append(allErrs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		if unique[t.Effect].Has(t.Key) {
			e := field.Duplicate(p, t)
			e.Detail = "taints must be unique by key and effect pair"
			allErrs = append(allErrs, e)
			continue
		}
		if unique[t.Effect] == nil {
			unique[t.Effect] = sets.New[string]()
		}
		unique[t.Effect].Insert(t.Key)
	}
	return allErrs
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateNodeCommon(node)...)

	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	// podCIDRs and providerID may only go from unset to set.
	if len(old.Spec.PodCIDRs) > 0 && !apiequality.Semantic.DeepEqual(old.Spec.PodCIDRs, node.Spec.PodCIDRs) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if len(old.Spec.ProviderID) > 0 && old.Spec.ProviderID != node.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// PersistentVolume

var supportedAccessModes = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)
var supportedVolumeModes = sets.New(corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)
var supportedReclaimPolicies = sets.New(corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path, requiredDetail string) field.ErrorList {
	var allErrs field.ErrorList
	if len(modes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath, requiredDetail))
	}
	rwop, other := false, false
	for _, m := range modes {
		if !supportedAccessModes.Has(m) {
			allErrs = append(allErrs, field.NotSupported(fldPath, m, sets.List(supportedAccessModes)))
			continue
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return allErrs
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMeta(&pv.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validatePersistentVolumeSpec(&pv.Spec, pv.Name, field.NewPath("spec"))...)
}

func validatePersistentVolumeSpec(spec *corev1.PersistentVolumeSpec, pvName string, fldPath *field.Path) field.ErrorList {
	allErrs := validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"), "")
	capPath := fldPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		allErrs = append(allErrs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		allErrs = append(allErrs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(spec.Capacity) {
		allErrs = append(allErrs, validatePositiveQuantity(spec.Capacity[name], capPath.Key(string(name)))...)
	}
	if len(spec.PersistentVolumeReclaimPolicy) > 0 && !supportedReclaimPolicies.Has(spec.PersistentVolumeReclaimPolicy) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("persistentVolumeReclaimPolicy"), spec.PersistentVolumeReclaimPolicy, sets.List(supportedReclaimPolicies)))
	}
	nodeAffinitySet := false
	if na := spec.NodeAffinity; na != nil {
		nodeAffinitySet = true
		if na.Required != nil {
			allErrs = append(allErrs, validateNodeSelector(na.Required, false, fldPath.Child("nodeAffinity", "required"))...)
		} else {
			allErrs = append(allErrs, field.Required(fldPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		}
	}
	allErrs = append(allErrs, validatePersistentVolumeSource(&spec.PersistentVolumeSource, pvName, nodeAffinitySet, fldPath)...)
	if spec.HostPath != nil && path.Clean(spec.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if len(spec.StorageClassName) > 0 {
		allErrs = append(allErrs, validateName(spec.StorageClassName, nameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !supportedVolumeModes.Has(*spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, sets.List(supportedVolumeModes)))
	}
	if spec.VolumeAttributesClassName != nil {
		if len(*spec.VolumeAttributesClassName) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("volumeAttributesClassName"), "an empty string is disallowed"))
		} else {
			allErrs = append(allErrs, validateName(*spec.VolumeAttributesClassName, nameIsDNSSubdomain, fldPath.Child("volumeAttributesClassName"))...)
		}
		if spec.CSI == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	return allErrs
}

func validatePVSecretReference(ref *corev1.SecretReference, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(ref.Name) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Subdomain(ref.Name, p.Child("name"))...)
	}
	if len(ref.Namespace) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("namespace"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Label(ref.Namespace, p.Child("namespace"))...)
	}
	return allErrs
}

func validatePersistentVolumeSource(s *corev1.PersistentVolumeSource, pvName string, nodeAffinitySet bool, fldPath *field.Path) field.ErrorList {
	return validateOneSource([]sourceCheck{
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.GCEPersistentDisk.PDName, p.Child("pdName"))
			return append(allErrs, validateInt32Range(int64(s.GCEPersistentDisk.Partition), 0, 255, p.Child("partition"))...)
		}},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
			return append(allErrs, validateInt32Range(int64(s.AWSElasticBlockStore.Partition), 0, 255, p.Child("partition"))...)
		}},
		{"glusterfs", s.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.Glusterfs.EndpointsName, p.Child("endpoints")), requireValue(s.Glusterfs.Path, p.Child("path"))...)
		}},
		{"flocker", s.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(s.Flocker, p) }},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(s.NFS, p) }},
		{"rbd", s.RBD != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.RBD.RBDImage, p.Child("image"))
			if len(s.RBD.CephMonitors) == 0 {
				allErrs = append(allErrs, field.Required(p.Child("monitors"), ""))
			}
			return allErrs
		}},
		{"quobyte", s.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.Quobyte.Registry, p.Child("registry")), requireValue(s.Quobyte.Volume, p.Child("volume"))...)
		}},
		{"cephfs", s.CephFS != nil, func(p *field.Path) field.ErrorList {
			if len(s.CephFS.Monitors) == 0 {
				return field.ErrorList{field.Required(p.Child("monitors"), "")}
			}
			return nil
		}},
		{"iscsi", s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, s.ISCSI.DiscoveryCHAPAuth || s.ISCSI.SessionCHAPAuth, s.ISCSI.SecretRef != nil, p)
			if s.ISCSI.InitiatorName != nil && len(pvName+":"+s.ISCSI.TargetPortal) > 64 {
				allErrs = append(allErrs, field.Invalid(p.Child("targetPortal"), s.ISCSI.TargetPortal, "Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			return allErrs
		}},
		{"cinder", s.Cinder != nil, func(p *field.Path) field.ErrorList { return requireValue(s.Cinder.VolumeID, p.Child("volumeID")) }},
		{"fc", s.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(s.FC, p) }},
		{"flexVolume", s.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlexVolume(s.FlexVolume.Driver, s.FlexVolume.Options, p)
		}},
		{"azureFile", s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.AzureFile.SecretName, p.Child("secretName")), requireValue(s.AzureFile.ShareName, p.Child("shareName"))...)
		}},
		{"vsphereVolume", s.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.VsphereVolume.VolumePath, p.Child("volumePath"))
		}},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.PhotonPersistentDisk.PdID, p.Child("pdID"))
		}},
		{"portworxVolume", s.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.PortworxVolume.VolumeID, p.Child("volumeID"))
		}},
		{"azureDisk", s.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.AzureDisk.DiskName, p.Child("diskName")), requireValue(s.AzureDisk.DataDiskURI, p.Child("diskURI"))...)
		}},
		{"scaleIO", s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.ScaleIO.Gateway, p.Child("gateway"))
			allErrs = append(allErrs, requireValue(s.ScaleIO.System, p.Child("system"))...)
			return append(allErrs, requireValue(s.ScaleIO.VolumeName, p.Child("volumeName"))...)
		}},
		{"local", s.Local != nil, func(p *field.Path) field.ErrorList {
			var allErrs field.ErrorList
			if s.Local.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validatePathNoBacksteps(s.Local.Path, p.Child("path"))...)
			}
			if !nodeAffinitySet {
				allErrs = append(allErrs, field.Required(fldPath.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			return allErrs
		}},
		{"storageos", s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			if len(s.StorageOS.VolumeName) == 0 {
				return field.ErrorList{field.Required(p.Child("volumeName"), "")}
			}
			return validateDNS1123Label(s.StorageOS.VolumeName, p.Child("volumeName"))
		}},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			allErrs = append(allErrs, requireValue(s.CSI.VolumeHandle, p.Child("volumeHandle"))...)
			for _, ref := range []struct {
				name string
				ref  *corev1.SecretReference
			}{
				{"controllerPublishSecretRef", s.CSI.ControllerPublishSecretRef},
				{"controllerExpandSecretRef", s.CSI.ControllerExpandSecretRef},
				{"nodePublishSecretRef", s.CSI.NodePublishSecretRef},
				{"nodeExpandSecretRef", s.CSI.NodeExpandSecretRef},
				{"nodeStageSecretRef", s.CSI.NodeStageSecretRef},
			} {
				if ref.ref != nil {
					allErrs = append(allErrs, validatePVSecretReference(ref.ref, p.Child(ref.name))...)
				}
			}
			return allErrs
		}},
	}, fldPath)
}

func validatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePersistentVolumeSpec(&pv.Spec, pv.Name, field.NewPath("spec"))...)

	newSource := pv.Spec.PersistentVolumeSource
	// A CSI controllerExpandSecretRef may be added later.
	if old.Spec.CSI != nil && old.Spec.CSI.ControllerExpandSecretRef == nil && newSource.CSI != nil && newSource.CSI.ControllerExpandSecretRef != nil {
		csi := *newSource.CSI
		csi.ControllerExpandSecretRef = nil
		newSource.CSI = &csi
	}
	if !apiequality.Semantic.DeepEqual(newSource, old.Spec.PersistentVolumeSource) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff.Diff(old.Spec.PersistentVolumeSource, newSource))))
	}
	allErrs = append(allErrs, validateImmutableField(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if old.Spec.NodeAffinity != nil && !apiequality.Semantic.DeepEqual(pv.Spec.NodeAffinity, old.Spec.NodeAffinity) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "nodeAffinity"), pv.Spec.NodeAffinity, fieldImmutableErrorMsg))
	}
	if old.Spec.VolumeAttributesClassName != nil && pv.Spec.VolumeAttributesClassName == nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// PersistentVolumeClaim

func validatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMeta(&pvc.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validatePersistentVolumeClaimSpec(&pvc.Spec, field.NewPath("spec"))...)
}

func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"), "at least 1 access mode is required")
	if spec.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
	}
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if storage, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else if errs := validatePositiveQuantity(storage, storagePath); len(errs) > 0 {
		allErrs = append(allErrs, errs...)
	}
	if spec.StorageClassName != nil && len(*spec.StorageClassName) > 0 {
		allErrs = append(allErrs, validateName(*spec.StorageClassName, nameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !supportedVolumeModes.Has(*spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, sets.List(supportedVolumeModes)))
	}
	if ds := spec.DataSource; ds != nil {
		allErrs = append(allErrs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, fldPath.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		p := fldPath.Child("dataSourceRef")
		allErrs = append(allErrs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, p)...)
		if ref.Namespace != nil && len(*ref.Namespace) > 0 {
			allErrs = append(allErrs, validateName(*ref.Namespace, nameIsDNSLabel, p.Child("namespace"))...)
			if spec.DataSource != nil {
				allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
			}
		} else if ds := spec.DataSource; ds != nil {
			if !apiequality.Semantic.DeepEqual(ds.APIGroup, ref.APIGroup) || ds.Kind != ref.Kind || ds.Name != ref.Name {
				allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "must match dataSourceRef"))
			}
		}
	}
	if spec.VolumeAttributesClassName != nil && len(*spec.VolumeAttributesClassName) > 0 {
		allErrs = append(allErrs, validateName(*spec.VolumeAttributesClassName, nameIsDNSSubdomain, fldPath.Child("volumeAttributesClassName"))...)
	}
	return allErrs
}

func validateDataSource(name, kind string, apiGroup *string, p *field.Path) field.ErrorList {
	allErrs := requireValue(name, p.Child("name"))
	allErrs = append(allErrs, requireValue(kind, p.Child("kind"))...)
	group := ""
	if apiGroup != nil {
		group = *apiGroup
	}
	if len(group) == 0 && kind != "PersistentVolumeClaim" {
		allErrs = append(allErrs, field.Invalid(p, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if len(group) > 0 {
		allErrs = append(allErrs, validateDNS1123Subdomain(group, p.Child("apiGroup"))...)
	}
	return allErrs
}

func validatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePersistentVolumeClaimSpec(&pvc.Spec, field.NewPath("spec"))...)

	newSpec := pvc.Spec.DeepCopy()
	oldSpec := old.Spec.DeepCopy()
	// volumeName may be set once, by the binder.
	if len(oldSpec.VolumeName) == 0 {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// A nil storageClassName may be set once.
	if oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil {
		if beta, ok := old.Annotations[corev1.BetaStorageClassAnnotation]; !ok || beta == *newSpec.StorageClassName {
			oldSpec.StorageClassName = newSpec.StorageClassName
		}
	}
	// Bound claims may change their storage request and attributes class.
	if pvc.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			if s, ok := oldSpec.Resources.Requests[corev1.ResourceStorage]; ok {
				newSpec.Resources.Requests[corev1.ResourceStorage] = s
			} else {
				delete(newSpec.Resources.Requests, corev1.ResourceStorage)
			}
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !apiequality.Semantic.DeepEqual(*newSpec, *oldSpec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), fmt.Sprintf("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(*oldSpec, *newSpec))))
	}
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		statusSize := old.Status.Capacity[corev1.ResourceStorage]
		if newSize.Cmp(statusSize) <= 0 {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
		}
	}
	if old.Spec.VolumeAttributesClassName != nil {
		if pvc.Spec.VolumeAttributesClassName == nil {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
		} else if len(*pvc.Spec.VolumeAttributesClassName) == 0 {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to an empty string is forbidden"))
		}
	}
	return allErrs
}

func validatePersistentVolumeClaimStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	if len(pvc.Spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(field.NewPath("spec", "accessModes"), ""))
	}
	capPath := field.NewPath("status", "capacity")
	for _, name := range sortedResourceNames(pvc.Status.Capacity) {
		allErrs = append(allErrs, validateNonnegativeQuantity(pvc.Status.Capacity[name], capPath.Key(string(name)))...)
	}
	allocPath := field.NewPath("status", "allocatedResources")
	for _, name := range sortedResourceNames(pvc.Status.AllocatedResources) {
		allErrs = append(allErrs, validateNonnegativeQuantity(pvc.Status.AllocatedResources[name], allocPath.Key(string(name)))...)
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// Endpoints

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMeta(&ep.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateEndpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateEndpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

func validateEndpointSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range subsets {
		ss := &subsets[i]
		p := fldPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			port := &ss.Ports[j]
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && len(port.Name) == 0 {
				allErrs = append(allErrs, field.Required(pp.Child("name"), ""))
			} else if len(port.Name) != 0 {
				allErrs = append(allErrs, validateDNS1123Label(port.Name, pp.Child("name"))...)
			}
			allErrs = append(allErrs, validatePortNum(port.Port, pp.Child("port"))...)
			allErrs = append(allErrs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return allErrs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	allErrs := validation.IsValidIP(p.Child("ip"), a.IP)
	if len(a.Hostname) > 0 {
		allErrs = append(allErrs, validateDNS1123Label(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		allErrs = append(allErrs, validateName(*a.NodeName, nameIsDNSSubdomain, p.Child("nodeName"))...)
	}
	return append(allErrs, validateNonSpecialIP(a.IP, p.Child("ip"))...)
}

// validateNonSpecialIP rejects unspecified, loopback and link-local addresses.
func validateNonSpecialIP(ip string, p *field.Path) field.ErrorList {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		// Allow the legacy IPv4 forms IsValidIP accepts (leading zeros).
		parts := strings.Split(ip, ".")
		if len(parts) == 4 {
			for i := range parts {
				parts[i] = strings.TrimLeft(parts[i], "0")
				if parts[i] == "" {
					parts[i] = "0"
				}
			}
			addr, err = netip.ParseAddr(strings.Join(parts, "."))
		}
		if err != nil {
			return field.ErrorList{field.Invalid(p, ip, "must be a valid IP address")}
		}
	}
	addr = addr.Unmap()
	var allErrs field.ErrorList
	if addr.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(p, ip, fmt.Sprintf("may not be unspecified (%v)", ip)))
	}
	if addr.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(p, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if addr.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(p, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if addr.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(p, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// Event (core/v1)

const (
	eventReportingInstanceLengthLimit = 128
	eventActionLengthLimit            = 128
	eventReasonLengthLimit            = 128
	eventNoteLengthLimit              = 1024
)

func validateEvent(ev *corev1.Event) field.ErrorList {
	allErrs := validateObjectMeta(&ev.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, validateEventFields(ev)...)
}

func validateEventUpdate(ev, old *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateEventFields(ev)...)
}

// validateEventFields applies the rules kube-apiserver enforces for events
// written through the core/v1 API.
func validateEventFields(ev *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		if len(ev.InvolvedObject.Namespace) == 0 {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if len(ev.InvolvedObject.Namespace) == 0 && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		if len(ev.ReportingController) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("source"), ""))
		} else {
			allErrs = append(allErrs, validateQualifiedName(ev.ReportingController, field.NewPath("source"))...)
		}
		if len(ev.ReportingInstance) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingInstance"), ""))
		}
		if len(ev.ReportingInstance) > eventReportingInstanceLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %v characters", eventReportingInstanceLengthLimit)))
		}
		if len(ev.Action) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("action"), ""))
		}
		if len(ev.Action) > eventActionLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %v characters", eventActionLengthLimit)))
		}
		if len(ev.Reason) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reason"), ""))
		}
		if len(ev.Reason) > eventReasonLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %v characters", eventReasonLengthLimit)))
		}
		if len(ev.Message) > eventNoteLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", eventNoteLengthLimit)))
		}
	}
	if ev.Namespace == "" {
		return allErrs // reported as metadata.namespace
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// ReplicationController

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMeta(&rc.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

func validateReplicationControllerUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	selector := labels.Set(spec.Selector).AsSelector()
	if selector.Empty() {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	}
	allErrs = append(allErrs, validateLabels(spec.Selector, fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(spec.Replicas, fldPath.Child("replicas"))...)
	tp := fldPath.Child("template")
	if spec.Template == nil {
		return append(allErrs, field.Required(tp, ""))
	}
	if !selector.Empty() && !selector.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	allErrs = append(allErrs, ValidatePodTemplateSpec(spec.Template, tp)...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return allErrs
}

func validateReplicationControllerStatusUpdate(rc, old *corev1.ReplicationController) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	s := rc.Status
	return append(allErrs, validateReplicaCounts(field.NewPath("status"), s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)...)
}

// validateReplicaCounts checks the counters of a ReplicaSet-like status.
func validateReplicaCounts(p *field.Path, replicas, fullyLabeled, ready, available int32, observedGeneration int64) field.ErrorList {
	allErrs := validateNonnegativeField(int64(replicas), p.Child("replicas"))
	allErrs = append(allErrs, validateNonnegativeField(int64(fullyLabeled), p.Child("fullyLabeledReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(ready), p.Child("readyReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(available), p.Child("availableReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(observedGeneration, p.Child("observedGeneration"))...)
	const msg = "cannot be greater than status.replicas"
	if fullyLabeled > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("fullyLabeledReplicas"), fullyLabeled, msg))
	}
	if ready > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("readyReplicas"), ready, msg))
	}
	if available > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), available, msg))
	}
	if available > ready {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// LimitRange and ResourceQuota

var limitTypes = sets.New(corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim)

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMeta(&lr.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateLimitRangeSpec(&lr.Spec)...)
}

func validateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateLimitRangeSpec(&lr.Spec)...)
}

func validateLimitRangeSpec(spec *corev1.LimitRangeSpec) field.ErrorList {
	var allErrs field.ErrorList
	fldPath := field.NewPath("spec", "limits")
	seenTypes := sets.New[corev1.LimitType]()
	for i := range spec.Limits {
		limit := &spec.Limits[i]
		p := fldPath.Index(i)
		if !strings.Contains(string(limit.Type), "/") && !limitTypes.Has(limit.Type) {
			allErrs = append(allErrs, field.Invalid(p.Child("type"), limit.Type, "must be a standard limit type or fully qualified"))
		} else {
			allErrs = append(allErrs, validateQualifiedName(string(limit.Type), p.Child("type"))...)
		}
		if seenTypes.Has(limit.Type) {
			allErrs = append(allErrs, field.Duplicate(p.Child("type"), limit.Type))
		}
		seenTypes.Insert(limit.Type)
		nameFn := validateResourceName
		if limit.Type == corev1.LimitTypePod || limit.Type == corev1.LimitTypeContainer {
			nameFn = validateContainerResourceName
		}
		lists := []struct {
			name string
			list corev1.ResourceList
		}{{"max", limit.Max}, {"min", limit.Min}, {"default", limit.Default}, {"defaultRequest", limit.DefaultRequest}, {"maxLimitRequestRatio", limit.MaxLimitRequestRatio}}
		for _, l := range lists {
			for _, name := range sortedResourceNames(l.list) {
				allErrs = append(allErrs, nameFn(name, p.Child(l.name).Key(string(name)))...)
				allErrs = append(allErrs, validateNonnegativeQuantity(l.list[name], p.Child(l.name).Key(string(name)))...)
			}
		}
		if limit.Type == corev1.LimitTypePod {
			if len(limit.Default) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(limit.DefaultRequest) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		if limit.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := limit.Min[corev1.ResourceStorage]
			_, hasMax := limit.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				allErrs = append(allErrs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		for _, name := range sortedResourceNames(limit.Min) {
			minQ := limit.Min[name]
			if maxQ, ok := limit.Max[name]; ok && minQ.Cmp(maxQ) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("min").Key(string(name)), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
			}
			if d, ok := limit.DefaultRequest[name]; ok && minQ.Cmp(d) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(string(name)), d.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), d.String())))
			}
			if d, ok := limit.Default[name]; ok && minQ.Cmp(d) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("default").Key(string(name)), minQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), d.String())))
			}
		}
		for _, name := range sortedResourceNames(limit.Max) {
			maxQ := limit.Max[name]
			if d, ok := limit.DefaultRequest[name]; ok && d.Cmp(maxQ) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(string(name)), d.String(), fmt.Sprintf("default request value %s is greater than max value %s", d.String(), maxQ.String())))
			}
			if d, ok := limit.Default[name]; ok && d.Cmp(maxQ) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("default").Key(string(name)), maxQ.String(), fmt.Sprintf("default value %s is greater than max value %s", d.String(), maxQ.String())))
			}
		}
		for _, name := range sortedResourceNames(limit.DefaultRequest) {
			dr := limit.DefaultRequest[name]
			if d, ok := limit.Default[name]; ok && dr.Cmp(d) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(string(name)), dr.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", dr.String(), d.String())))
			}
		}
		for _, name := range sortedResourceNames(limit.MaxLimitRequestRatio) {
			r := limit.MaxLimitRequestRatio[name]
			if r.Cmp(*resourceOne()) < 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("maxLimitRequestRatio").Key(string(name)), r.String(), fmt.Sprintf("ratio %s is less than 1", r.String())))
			}
		}
	}
	return allErrs
}

var quotaScopes = sets.New(
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
)

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMeta(&q.ObjectMeta, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	return append(allErrs, validateQuotaList(q.Status.Hard, field.NewPath("status", "hard"))...)
}

func validateQuotaList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, name := range sortedResourceNames(list) {
		p := fldPath.Key(string(name))
		allErrs = append(allErrs, validateQuotaResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, list[name], p)...)
	}
	return allErrs
}

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaList(spec.Hard, fldPath.Child("hard"))
	scopes := sets.New[corev1.ResourceQuotaScope]()
	for _, s := range spec.Scopes {
		if !quotaScopes.Has(s) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("scopes"), spec.Scopes, "unsupported scope"))
		}
		scopes.Insert(s)
	}
	if sel := spec.ScopeSelector; sel != nil {
		p := fldPath.Child("scopeSelector", "matchExpressions")
		for i, req := range sel.MatchExpressions {
			ip := p.Index(i)
			if !quotaScopes.Has(req.ScopeName) {
				allErrs = append(allErrs, field.Invalid(ip.Child("scopeName"), req.ScopeName, "unsupported scope"))
			}
			switch req.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(req.Values) == 0 {
					allErrs = append(allErrs, field.Required(ip.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(req.Values) != 0 {
					allErrs = append(allErrs, field.Invalid(ip.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				allErrs = append(allErrs, field.Invalid(ip.Child("operator"), req.Operator, "not a valid selector operator"))
			}
			scopes.Insert(req.ScopeName)
		}
	}
	if scopes.HasAll(corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort) ||
		scopes.HasAll(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("scopes"), spec.Scopes, "conflicting scopes"))
	}
	return allErrs
}

func validateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	oldScopes, newScopes := sets.New(old.Spec.Scopes...), sets.New(q.Spec.Scopes...)
	if !oldScopes.Equal(newScopes) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, fieldImmutableErrorMsg))
	}
	return allErrs
}

func validateResourceQuotaStatusUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateQuotaList(q.Status.Hard, field.NewPath("status", "hard"))...)
	return append(allErrs, validateQuotaList(q.Status.Used, field.NewPath("status", "used"))...)
}
