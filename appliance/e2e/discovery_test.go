package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestDiscovery: what clients read before they touch a resource. Legacy
// discovery (/apis, /apis/<group>), used by older client-go, helm and k9s
// builds, and aggregated discovery (one document, current kubectl) agree on
// each group's preferred version, autoscaling/v2 for HorizontalPodAutoscalers
// as in Kubernetes; short names and the "all" category are there; the OpenAPI
// documents are served.
func TestDiscovery(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	rc := c.Client.Discovery().RESTClient()
	get := func(path, accept string, into any) {
		t.Helper()
		body, err := rc.Get().AbsPath(path).SetHeader("Accept", accept).DoRaw(context.Background())
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if into != nil {
			if err := json.Unmarshal(body, into); err != nil {
				t.Fatalf("GET %s: %v\n%.300s", path, err, body)
			}
		}
	}

	var groups metav1.APIGroupList
	get("/apis", "application/json", &groups)
	legacy := map[string]string{}
	for _, g := range groups.Groups {
		legacy[g.Name] = g.PreferredVersion.Version
	}
	var autoscaling metav1.APIGroup
	get("/apis/autoscaling", "application/json", &autoscaling)
	if legacy["autoscaling"] != "v2" || autoscaling.PreferredVersion.Version != "v2" {
		t.Errorf("autoscaling preferred version: /apis %q, /apis/autoscaling %q; want v2", legacy["autoscaling"], autoscaling.PreferredVersion.Version)
	}

	var agg apidiscoveryv2.APIGroupDiscoveryList
	get("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", &agg)
	if len(agg.Items) == 0 {
		t.Fatal("aggregated discovery lists no groups")
	}
	for _, g := range agg.Items {
		if len(g.Versions) == 0 {
			t.Errorf("group %q has no versions", g.Name)
			continue
		}
		// The first version listed is the preferred one.
		if want, ok := legacy[g.Name]; ok && g.Versions[0].Version != want {
			t.Errorf("group %q: aggregated discovery prefers %q, legacy discovery %q", g.Name, g.Versions[0].Version, want)
		}
		if g.Name == "apps" {
			d := findResource(g.Versions[0].Resources, "deployments")
			if d == nil || !slices.Contains(d.ShortNames, "deploy") || !slices.Contains(d.Categories, "all") {
				t.Errorf("apps/deployments in aggregated discovery: %+v, want short name deploy and category all", d)
			}
		}
	}
	var core apidiscoveryv2.APIGroupDiscoveryList
	get("/api", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", &core)
	if len(core.Items) != 1 || len(core.Items[0].Versions) == 0 {
		t.Fatalf("aggregated discovery of /api: %+v", core.Items)
	}
	if p := findResource(core.Items[0].Versions[0].Resources, "pods"); p == nil || !slices.Contains(p.ShortNames, "po") || !slices.Contains(p.Categories, "all") {
		t.Errorf("pods in aggregated discovery: %+v, want short name po and category all", p)
	}

	var v2 struct {
		Swagger     string         `json:"swagger"`
		Definitions map[string]any `json:"definitions"`
	}
	get("/openapi/v2", "application/json", &v2)
	if v2.Swagger != "2.0" || v2.Definitions["io.k8s.api.apps.v1.Deployment"] == nil {
		t.Errorf("/openapi/v2: swagger %q, %d definitions, Deployment missing", v2.Swagger, len(v2.Definitions))
	}
	var v3 struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	get("/openapi/v3", "application/json", &v3)
	if _, ok := v3.Paths["apis/autoscaling/v2"]; !ok {
		t.Errorf("/openapi/v3 lists no apis/autoscaling/v2 (%d paths)", len(v3.Paths))
	}
}

func findResource(rs []apidiscoveryv2.APIResourceDiscovery, name string) *apidiscoveryv2.APIResourceDiscovery {
	for i := range rs {
		if rs[i].Resource == name {
			return &rs[i]
		}
	}
	return nil
}
