package pods

import (
	"strings"
	"testing"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestRunInteractive: `kubectl run -i --rm` creates a pod with stdin, attaches,
// types into it and reads its answer, then deletes it — the homelab user's
// debugging shell, without a TTY so the test can drive it.
func TestRunInteractive(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	out, errOut, err := c.TryKubectl(t, []byte("hello-from-stdin\n"), "run", "asker", "-i", "--rm", "--restart=Never",
		"--image="+testcluster.BusyboxImage, "--image-pull-policy=Never", "--", "sh", "-c", "read line; echo got:$line")
	if err != nil {
		t.Fatalf("kubectl run -i: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "got:hello-from-stdin") {
		t.Fatalf("kubectl run -i printed %q (stderr %q)", out, errOut)
	}
	if !strings.Contains(out+errOut, `pod "asker" deleted`) {
		t.Fatalf("--rm did not delete the pod: %q %q", out, errOut)
	}
}
