package packaging

import (
	"reflect"
	"strings"
	"testing"
)

func TestUnitParsesAndExpands(t *testing.T) {
	u := ParseUnit(UnitFile)
	if got := u["User"]; len(got) != 1 || got[0] != RegistryUser {
		t.Errorf("User %v", got)
	}
	if got := u["Environment"]; len(got) != 1 || got[0] != "ZOSNET_STATE_DIR="+RegistryState {
		t.Errorf("Environment %v", got)
	}
	env := ParseEnvFile(DefaultFile)
	if len(env) != 1 || env["ZOSNET_REGISTRY_ARGS"] != "" {
		t.Errorf("default file sets %v, want only an empty ZOSNET_REGISTRY_ARGS (everything else commented)", env)
	}
	if got := ExpandExec(u["ExecStart"][0], env); !reflect.DeepEqual(got, []string{RegistryBinary}) {
		t.Errorf("ExecStart %v", got)
	}
	env["ZOSNET_REGISTRY_ARGS"] = "--tls-cert /a.crt --tls-key /a.key"
	want := []string{RegistryBinary, "--tls-cert", "/a.crt", "--tls-key", "/a.key"}
	if got := ExpandExec(u["ExecStart"][0], env); !reflect.DeepEqual(got, want) {
		t.Errorf("ExecStart %v, want %v", got, want)
	}
	if got := ExpandExec("/bin/x ${A} $B", map[string]string{"A": "one word", "B": "two words"}); !reflect.DeepEqual(got, []string{"/bin/x", "one word", "two", "words"}) {
		t.Errorf("expand %q", got)
	}
}

func TestParseUnitSectionsAndContinuations(t *testing.T) {
	u := ParseUnit("[Unit]\nUser=no\n[Service]\n# c\nExecStart=/bin/a \\\n  --b\nEnvironment=A=1\nEnvironment=B=2\n[Install]\nUser=no\n")
	if got := strings.Join(strings.Fields(u["ExecStart"][0]), " "); got != "/bin/a --b" {
		t.Errorf("ExecStart %q", got)
	}
	if !reflect.DeepEqual(u["Environment"], []string{"A=1", "B=2"}) || u["User"] != nil {
		t.Errorf("unit %v", u)
	}
}

func TestScriptsAndNames(t *testing.T) {
	for _, s := range []string{PostInstall, PreRemove, PostRemove} {
		if !strings.HasPrefix(s, "#!/bin/sh\nset -e\n") {
			t.Errorf("script does not start with sh -e: %q", s[:20])
		}
	}
	for _, want := range []string{"useradd --system", "ca init --dir " + RegistryState + "/ca", "--out " + RegistryState + "/tls/server", "systemctl enable"} {
		if !strings.Contains(PostInstall, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{"linux", "arm64"}, "zosnet_0.1.0_arm64.deb"},
		{Target{"darwin", "arm64"}, "zosnet_0.1.0_darwin_arm64.tar.gz"},
		{Target{"windows", "amd64"}, "zosnet_0.1.0_windows_amd64.zip"},
	} {
		if got := ArtifactName("zosnet", "v0.1.0", tc.t); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.t, got, tc.want)
		}
	}
	if binName("zosnet", Target{"windows", "amd64"}) != "zosnet.exe" {
		t.Error("windows binary name")
	}
}
