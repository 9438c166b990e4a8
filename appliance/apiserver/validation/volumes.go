package validation

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// sourceCheck is one possible member of a one-of union of volume sources.
type sourceCheck struct {
	name     string
	set      bool
	validate func(*field.Path) field.ErrorList
}

// validateOneSource checks that exactly one source is set and validates it.
func validateOneSource(checks []sourceCheck, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	num := 0
	for _, c := range checks {
		if !c.set {
			continue
		}
		if num > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(c.name), "may not specify more than 1 volume type"))
			continue
		}
		num++
		if c.validate != nil {
			allErrs = append(allErrs, c.validate(fldPath.Child(c.name))...)
		}
	}
	if num == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

func requireValue(value string, p *field.Path) field.ErrorList {
	if len(value) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	return nil
}

func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

// validateVolumes validates pod volumes and returns the valid ones by name.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path, opts podOptions) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	names := sets.New[string]()
	createdPVCs := sets.New[string]()
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				createdPVCs.Insert(podMeta.Name + "-" + v.Name)
			}
		}
	}
	vols := map[string]corev1.VolumeSource{}
	for i, vol := range volumes {
		p := fldPath.Index(i)
		namePath := p.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, p, vol.Name, podMeta, opts)
		if len(vol.Name) == 0 {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if names.Has(vol.Name) {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			names.Insert(vol.Name)
			vols[vol.Name] = vol.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
		if vol.PersistentVolumeClaim != nil && createdPVCs.Has(vol.PersistentVolumeClaim.ClaimName) {
			allErrs = append(allErrs, field.Invalid(p.Child("persistentVolumeClaim", "claimName"), vol.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return vols, allErrs
}

func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path, volName string, podMeta *metav1.ObjectMeta, opts podOptions) field.ErrorList {
	return validateOneSource([]sourceCheck{
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"emptyDir", s.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.GCEPersistentDisk.PDName, p.Child("pdName"))
			return append(allErrs, validateInt32Range(int64(s.GCEPersistentDisk.Partition), 0, 255, p.Child("partition"))...)
		}},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
			return append(allErrs, validateInt32Range(int64(s.AWSElasticBlockStore.Partition), 0, 255, p.Child("partition"))...)
		}},
		{"gitRepo", s.GitRepo != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.GitRepo.Repository, p.Child("repository"))
			return append(allErrs, validateLocalDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"secret", s.Secret != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.Secret.SecretName, p.Child("secretName"))
			allErrs = append(allErrs, validateMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
			for i := range s.Secret.Items {
				allErrs = append(allErrs, validateKeyToPath(&s.Secret.Items[i], p.Child("items").Index(i))...)
			}
			return allErrs
		}},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(s.NFS, p) }},
		{"iscsi", s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, s.ISCSI.DiscoveryCHAPAuth || s.ISCSI.SessionCHAPAuth, s.ISCSI.SecretRef != nil, p)
			if s.ISCSI.InitiatorName != nil && len(volName+":"+s.ISCSI.TargetPortal) > 64 {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), volName, "Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			return allErrs
		}},
		{"glusterfs", s.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.Glusterfs.EndpointsName, p.Child("endpoints")), requireValue(s.Glusterfs.Path, p.Child("path"))...)
		}},
		{"persistentVolumeClaim", s.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.PersistentVolumeClaim.ClaimName, p.Child("claimName"))
		}},
		{"rbd", s.RBD != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.RBD.RBDImage, p.Child("image"))
			if len(s.RBD.CephMonitors) == 0 {
				allErrs = append(allErrs, field.Required(p.Child("monitors"), ""))
			}
			return allErrs
		}},
		{"flexVolume", s.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlexVolume(s.FlexVolume.Driver, s.FlexVolume.Options, p)
		}},
		{"cinder", s.Cinder != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.Cinder.VolumeID, p.Child("volumeID"))
			if s.Cinder.SecretRef != nil {
				allErrs = append(allErrs, requireValue(s.Cinder.SecretRef.Name, p.Child("secretRef", "name"))...)
			}
			return allErrs
		}},
		{"cephfs", s.CephFS != nil, func(p *field.Path) field.ErrorList {
			if len(s.CephFS.Monitors) == 0 {
				return field.ErrorList{field.Required(p.Child("monitors"), "")}
			}
			return nil
		}},
		{"flocker", s.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(s.Flocker, p) }},
		{"downwardAPI", s.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for i := range s.DownwardAPI.Items {
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(&s.DownwardAPI.Items[i], p.Child("items").Index(i))...)
			}
			return allErrs
		}},
		{"fc", s.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(s.FC, p) }},
		{"azureFile", s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.AzureFile.SecretName, p.Child("secretName")), requireValue(s.AzureFile.ShareName, p.Child("shareName"))...)
		}},
		{"configMap", s.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.ConfigMap.Name, p.Child("name"))
			allErrs = append(allErrs, validateMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
			for i := range s.ConfigMap.Items {
				allErrs = append(allErrs, validateKeyToPath(&s.ConfigMap.Items[i], p.Child("items").Index(i))...)
			}
			return allErrs
		}},
		{"vsphereVolume", s.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.VsphereVolume.VolumePath, p.Child("volumePath"))
		}},
		{"quobyte", s.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.Quobyte.Registry, p.Child("registry")), requireValue(s.Quobyte.Volume, p.Child("volume"))...)
		}},
		{"azureDisk", s.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireValue(s.AzureDisk.DiskName, p.Child("diskName")), requireValue(s.AzureDisk.DataDiskURI, p.Child("diskURI"))...)
		}},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.PhotonPersistentDisk.PdID, p.Child("pdID"))
		}},
		{"projected", s.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjected(s.Projected, p) }},
		{"portworxVolume", s.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireValue(s.PortworxVolume.VolumeID, p.Child("volumeID"))
		}},
		{"scaleIO", s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireValue(s.ScaleIO.Gateway, p.Child("gateway"))
			allErrs = append(allErrs, requireValue(s.ScaleIO.System, p.Child("system"))...)
			return append(allErrs, requireValue(s.ScaleIO.VolumeName, p.Child("volumeName"))...)
		}},
		{"storageos", s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			if len(s.StorageOS.VolumeName) == 0 {
				return field.ErrorList{field.Required(p.Child("volumeName"), "")}
			}
			return validateDNS1123Label(s.StorageOS.VolumeName, p.Child("volumeName"))
		}},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			if ref := s.CSI.NodePublishSecretRef; ref != nil {
				if len(ref.Name) == 0 {
					allErrs = append(allErrs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
				} else {
					allErrs = append(allErrs, validateName(ref.Name, nameIsDNSSubdomain, p.Child("nodePublishSecretRef", "name"))...)
				}
			}
			return allErrs
		}},
		{"ephemeral", s.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if s.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			tp := p.Child("volumeClaimTemplate")
			allErrs := validateTemplateObjectMeta(&s.Ephemeral.VolumeClaimTemplate.ObjectMeta, tp.Child("metadata"))
			allErrs = append(allErrs, validatePersistentVolumeClaimSpec(&s.Ephemeral.VolumeClaimTemplate.Spec, tp.Child("spec"))...)
			if podMeta != nil && podMeta.Name != "" && volName != "" {
				pvcName := podMeta.Name + "-" + volName
				for _, msg := range nameIsDNSSubdomain(pvcName, false) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
				}
			}
			return allErrs
		}},
		{"image", s.Image != nil, func(p *field.Path) field.ErrorList {
			var allErrs field.ErrorList
			if opts.resourceIsPod && len(s.Image.Reference) == 0 {
				allErrs = append(allErrs, field.Required(p.Child("reference"), ""))
			}
			return append(allErrs, validatePullPolicy(s.Image.PullPolicy, p.Child("pullPolicy"))...)
		}},
	}, fldPath)
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev,
)

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	if len(hp.Path) == 0 {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
		allErrs = append(allErrs, field.NotSupported(p.Child("type"), *hp.Type, sets.List(supportedHostPathTypes)))
	}
	return allErrs
}

func validateNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	allErrs := requireValue(nfs.Server, p.Child("server"))
	allErrs = append(allErrs, requireValue(nfs.Path, p.Child("path"))...)
	if !path.IsAbs(nfs.Path) {
		allErrs = append(allErrs, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return allErrs
}

func validateISCSI(portal, iqn string, lun int32, chap, hasSecret bool, p *field.Path) field.ErrorList {
	allErrs := requireValue(portal, p.Child("targetPortal"))
	if len(iqn) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("iqn"), ""))
	} else if !strings.HasPrefix(iqn, "iqn") && !strings.HasPrefix(iqn, "eui") && !strings.HasPrefix(iqn, "naa") {
		allErrs = append(allErrs, field.Invalid(p.Child("iqn"), iqn, "must be valid format starting with iqn, eui, or naa"))
	}
	allErrs = append(allErrs, validateInt32Range(int64(lun), 0, 255, p.Child("lun"))...)
	if chap && !hasSecret {
		allErrs = append(allErrs, field.Required(p.Child("secretRef"), ""))
	}
	return allErrs
}

func validateFlexVolume(driver string, options map[string]string, p *field.Path) field.ErrorList {
	allErrs := requireValue(driver, p.Child("driver"))
	for _, k := range sets.List(sets.KeySet(options)) {
		ns := k
		if parts := strings.SplitN(k, "/", 2); len(parts) == 2 {
			ns = parts[0]
		}
		normalized := "." + strings.ToLower(ns)
		if strings.HasSuffix(normalized, ".kubernetes.io") || strings.HasSuffix(normalized, ".k8s.io") {
			allErrs = append(allErrs, field.Invalid(p.Child("options").Key(k), k, "kubernetes.io and k8s.io namespaces are reserved"))
		}
	}
	return allErrs
}

func validateFlocker(f *corev1.FlockerVolumeSource, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(f.DatasetName) == 0 && len(f.DatasetUUID) == 0 {
		allErrs = append(allErrs, field.Required(p, "one of datasetName and datasetUUID is required"))
	}
	if len(f.DatasetName) != 0 && len(f.DatasetUUID) != 0 {
		allErrs = append(allErrs, field.Invalid(p, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(f.DatasetName, "/") {
		allErrs = append(allErrs, field.Invalid(p.Child("datasetName"), f.DatasetName, "must not contain '/'"))
	}
	return allErrs
}

func validateFC(fc *corev1.FCVolumeSource, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(fc.TargetWWNs) < 1 && len(fc.WWIDs) < 1 {
		allErrs = append(allErrs, field.Required(p.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			allErrs = append(allErrs, field.Required(p.Child("lun"), "lun is required if targetWWNs is specified"))
		} else {
			allErrs = append(allErrs, validateInt32Range(int64(*fc.Lun), 0, 255, p.Child("lun"))...)
		}
	}
	return allErrs
}

func validateCSIDriverName(driver string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(driver) == 0 {
		allErrs = append(allErrs, field.Required(p, ""))
	}
	if len(driver) > 63 {
		allErrs = append(allErrs, field.TooLong(p, "", 63))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(driver)) {
		allErrs = append(allErrs, field.Invalid(p, driver, msg))
	}
	return allErrs
}

func validateKeyToPath(kp *corev1.KeyToPath, p *field.Path) field.ErrorList {
	allErrs := requireValue(kp.Key, p.Child("key"))
	allErrs = append(allErrs, requireValue(kp.Path, p.Child("path"))...)
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
	return append(allErrs, validateMode(kp.Mode, p.Child("mode"))...)
}

func validateDownwardAPIVolumeFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	allErrs := requireValue(f.Path, p.Child("path"))
	allErrs = append(allErrs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(f.FieldRef, validVolumeDownwardAPIFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateContainerResourceFieldSelector(f.ResourceFieldRef, p.Child("resourceFieldRef"), true)...)
	default:
		allErrs = append(allErrs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateMode(f.Mode, p.Child("mode"))...)
}

func validateProjected(proj *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateMode(proj.DefaultMode, fldPath.Child("defaultMode"))
	paths := sets.New[string]()
	addPath := func(pth string) {
		if len(pth) == 0 {
			return
		}
		if paths.Has(pth) {
			allErrs = append(allErrs, field.Invalid(fldPath, pth, "conflicting duplicate paths"))
		}
		paths.Insert(pth)
	}
	for i, src := range proj.Sources {
		sp := fldPath.Child("sources").Index(i)
		num := 0
		if src.Secret != nil {
			num++
			p := sp.Child("secret")
			allErrs = append(allErrs, requireValue(src.Secret.Name, p.Child("name"))...)
			for j := range src.Secret.Items {
				allErrs = append(allErrs, validateKeyToPath(&src.Secret.Items[j], p.Child("items").Index(j))...)
				addPath(src.Secret.Items[j].Path)
			}
		}
		if src.ConfigMap != nil {
			num++
			p := sp.Child("configMap")
			allErrs = append(allErrs, requireValue(src.ConfigMap.Name, p.Child("name"))...)
			for j := range src.ConfigMap.Items {
				allErrs = append(allErrs, validateKeyToPath(&src.ConfigMap.Items[j], p.Child("items").Index(j))...)
				addPath(src.ConfigMap.Items[j].Path)
			}
		}
		if src.DownwardAPI != nil {
			num++
			p := sp.Child("downwardAPI")
			for j := range src.DownwardAPI.Items {
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(&src.DownwardAPI.Items[j], p.Child("items").Index(j))...)
				addPath(src.DownwardAPI.Items[j].Path)
			}
		}
		if sat := src.ServiceAccountToken; sat != nil {
			num++
			p := sp.Child("serviceAccountToken")
			if sat.ExpirationSeconds != nil {
				if *sat.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *sat.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *sat.ExpirationSeconds > 1<<32 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *sat.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if sat.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(sat.Path, p.Child("path"))...)
			}
			addPath(sat.Path)
		}
		if ctb := src.ClusterTrustBundle; ctb != nil {
			num++
			p := sp.Child("clusterTrustBundle")
			switch {
			case ctb.Name != nil && ctb.SignerName != nil:
				allErrs = append(allErrs, field.Invalid(p, ctb, "only one of name and signerName may be used"))
			case ctb.Name != nil:
				if *ctb.Name == "" {
					allErrs = append(allErrs, field.Required(p.Child("name"), "must be a valid object name"))
				}
				if ctb.LabelSelector != nil {
					allErrs = append(allErrs, field.Invalid(p.Child("labelSelector"), ctb.LabelSelector, "labelSelector must be unset if name is specified"))
				}
			case ctb.SignerName != nil:
				if *ctb.SignerName == "" {
					allErrs = append(allErrs, field.Required(p.Child("signerName"), "must be a valid signer name"))
				}
				allErrs = append(allErrs, metav1validation.ValidateLabelSelector(ctb.LabelSelector, strictSelectorOpts, p.Child("labelSelector"))...)
			default:
				allErrs = append(allErrs, field.Required(p, "either name or signerName must be specified"))
			}
			if ctb.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			}
			allErrs = append(allErrs, validateLocalNonReservedPath(ctb.Path, p.Child("path"))...)
			addPath(ctb.Path)
		}
		if pc := src.PodCertificate; pc != nil {
			num++
			p := sp.Child("podCertificate")
			allErrs = append(allErrs, requireValue(pc.SignerName, p.Child("signerName"))...)
			allErrs = append(allErrs, requireValue(string(pc.KeyType), p.Child("keyType"))...)
			for _, f := range []struct{ name, path string }{
				{"credentialBundlePath", pc.CredentialBundlePath}, {"keyPath", pc.KeyPath}, {"certificateChainPath", pc.CertificateChainPath},
			} {
				name, pth := f.name, f.path
				if pth != "" {
					allErrs = append(allErrs, validateLocalNonReservedPath(pth, p.Child(name))...)
					addPath(pth)
				}
			}
		}
		if num > 1 {
			allErrs = append(allErrs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

// validateLocalDescendingPath: relative and without "..".
func validateLocalDescendingPath(targetPath string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(targetPath) {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(targetPath, fldPath)...)
}

func validatePathNoBacksteps(targetPath string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(targetPath), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, targetPath, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalNonReservedPath: relative, no "..", and not starting with "..".
func validateLocalNonReservedPath(targetPath string, fldPath *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(targetPath, fldPath)
	if strings.HasPrefix(targetPath, "..") && !strings.HasPrefix(targetPath, "../") {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must not start with '..'"))
	}
	return allErrs
}
