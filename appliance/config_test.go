package appliance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parse(t *testing.T, args []string, file string, env []string) (Config, error) {
	t.Helper()
	cfg := Defaults()
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := Load(fs, file, false, env); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigSources(t *testing.T) {
	file := writeFile(t, "https-port: 7443\nnode-name: from-file\ntls-san: [a.example, 192.0.2.9]\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want func(Config) bool
	}{
		{"file applies", nil, nil, func(c Config) bool {
			return c.HTTPSPort == 7443 && c.NodeName == "from-file" && len(c.TLSSANs) == 2
		}},
		{"environment beats file", nil, []string{"APPLIANCE_HTTPS_PORT=8443", "APPLIANCE_NODE_NAME=from-env"}, func(c Config) bool {
			return c.HTTPSPort == 8443 && c.NodeName == "from-env"
		}},
		{"flag beats environment", []string{"--https-port=9443"}, []string{"APPLIANCE_HTTPS_PORT=8443"}, func(c Config) bool {
			return c.HTTPSPort == 9443
		}},
		{"cidr values parse", []string{"--service-cidr=10.96.0.0/12", "--cluster-dns=10.96.0.10"}, nil, func(c Config) bool {
			return c.ServiceCIDR.String() == "10.96.0.0/12" && c.KubernetesServiceIP().String() == "10.96.0.1"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.args, file, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(cfg) {
				t.Fatalf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		env  []string
		want string
	}{
		{"unknown file key", "nosuchkey: 1\n", nil, nil, `unknown key "nosuchkey"`},
		{"every unknown file key", "foo: 1\nhttps-port: 6443\nbar: 2\n", nil, nil, `unknown keys "bar", "foo"`},
		{"key given twice", "https-port: 6443\nhttps-port: 7443\n", nil, nil, `"https-port"`},
		{"bad file value", "https-port: abc\n", nil, nil, `key "https-port"`},
		{"map value", "node-name: {a: b}\n", nil, nil, `key "node-name"`},
		{"unknown env", "", nil, []string{"APPLIANCE_NOPE=1"}, "APPLIANCE_NOPE"},
		{"bad env value", "", nil, []string{"APPLIANCE_HTTPS_PORT=abc"}, "APPLIANCE_HTTPS_PORT"},
		{"bad flag", "", []string{"--service-cidr=nonsense"}, nil, "service-cidr"},
		{"port range", "", []string{"--https-port=70000"}, nil, "https-port"},
		{"dns outside services", "", []string{"--cluster-dns=10.42.0.10"}, nil, "cluster-dns"},
		{"overlapping cidrs", "", []string{"--service-cidr=10.42.128.0/17"}, nil, "service-cidr"},
		{"relative data dir", "", []string{"--data-dir=data"}, nil, "data-dir"},
		{"relative resolv-conf", "resolv-conf: resolv.conf\n", nil, nil, `resolv-conf: "resolv.conf" must be an absolute path`},
		{"bad disable-kube-proxy", "", nil, []string{"APPLIANCE_DISABLE_KUBE_PROXY=maybe"}, "APPLIANCE_DISABLE_KUBE_PROXY"},
		{"log level", "", []string{"--log-level=loud"}, nil, "log-level"},
		{"image gc above 100", "", []string{"--image-gc-high-threshold=101"}, nil, "image-gc-high-threshold: 101 is not a percentage"},
		{"image gc negative", "image-gc-low-threshold: -1\n", nil, nil, "image-gc-low-threshold: -1 is not a percentage"},
		{"image gc low not below high", "", nil, []string{"APPLIANCE_IMAGE_GC_LOW_THRESHOLD=90"}, "image-gc-low-threshold: 90 must be less than image-gc-high-threshold (85)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "absent.yaml")
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			_, err := parse(t, tt.args, file, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestMissingConfigFileIsFineUnlessNamed(t *testing.T) {
	cfg := Defaults()
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	absent := filepath.Join(t.TempDir(), "absent.yaml")
	if err := Load(fs, absent, false, nil); err != nil {
		t.Fatalf("default file absent: %v", err)
	}
	if err := Load(fs, absent, true, nil); err == nil {
		t.Fatal("a named config file that is missing must be an error")
	}
}
