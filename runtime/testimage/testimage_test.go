package testimage

import (
	"archive/tar"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
)

func TestBusyboxTarIsOCILayout(t *testing.T) {
	path := BusyboxTar(t, "appliance.test/busybox:1")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "index.json" || h.Name == "oci-layout" {
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != "appliance.test/busybox:1" {
		t.Fatalf("index.json manifests = %+v", idx.Manifests)
	}
	if len(files["oci-layout"]) == 0 {
		t.Fatal("no oci-layout file")
	}
}

func TestRegistryServesImage(t *testing.T) {
	host := Registry(t, "library/busybox:1.0")
	req, _ := http.NewRequest("GET", "http://"+host+"/v2/library/busybox/manifests/1.0", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("manifest GET = %s", resp.Status)
	}
	resp2, err := http.Get("http://" + host + "/v2/library/busybox/manifests/2.0")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 404 {
		t.Fatalf("missing tag GET = %s, want 404", resp2.Status)
	}
}
