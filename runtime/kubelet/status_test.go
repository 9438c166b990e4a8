package kubelet

import "testing"

func TestImageID(t *testing.T) {
	const d = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7"
	for _, tc := range []struct{ image, digest, want string }{
		{"busybox", d, "docker.io/library/busybox@" + d},
		{"busybox:1.36", d, "docker.io/library/busybox@" + d},
		{"docker.io/library/busybox:latest", d, "docker.io/library/busybox@" + d},
		{"registry.example:5000/team/app:v2", d, "registry.example:5000/team/app@" + d},
		{"localhost:5000/app", d, "localhost:5000/app@" + d},
		{"busybox@" + d, d, "docker.io/library/busybox@" + d},
		{"busybox:1.36@" + d, d, "docker.io/library/busybox@" + d},
		// Containers started before the digest was recorded: the spec's image.
		{"busybox:1.36", "", "busybox:1.36"},
		// A name that does not parse is kept as it is.
		{"Not/A:Valid:Name", d, "Not/A:Valid:Name"},
	} {
		if got := imageID(tc.image, tc.digest); got != tc.want {
			t.Errorf("imageID(%q, %q) = %q, want %q", tc.image, tc.digest, got, tc.want)
		}
	}
}
