package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// deployDir is deploy/ from this package's directory.
var deployDir = filepath.Join("..", "..", "deploy")

// siltRun is one way deploy/ starts silt: its arguments and, for
// -config.file, the deploy file mounted at that path.
type siltRun struct {
	where  string
	args   []string
	config map[string]string // path inside the container/host -> file in deploy/
}

// TestDeployFlagsAndKeys checks that every silt flag and config key used in
// deploy/ exists and that each way of starting silt there parses and
// validates: docker-compose services, the Dockerfile's CMD, the Kubernetes
// StatefulSet with its ConfigMap, the systemd unit; plus every silt YAML
// file on its own, and the silt URLs in the example agent configs.
func TestDeployFlagsAndKeys(t *testing.T) {
	var runs []siltRun
	runs = append(runs, composeRuns(t)...)
	runs = append(runs, dockerfileRun(t), systemdRun(t))
	k8sRuns, k8sConfig := kubernetesRuns(t)
	runs = append(runs, k8sRuns...)
	if len(runs) < 6 {
		t.Fatalf("found %d silt invocations in deploy/, want at least 6", len(runs))
	}
	for _, r := range runs {
		args := make([]string, 0, len(r.args))
		for _, a := range r.args {
			if v, ok := strings.CutPrefix(a, "-config.file="); ok {
				file, ok := r.config[v]
				if !ok {
					t.Errorf("%s: -config.file=%s is not a file deploy/ provides there", r.where, v)
					continue
				}
				a = "-config.file=" + file
			}
			args = append(args, os.Expand(strings.NewReplacer("$(", "${", ")", "}").Replace(a), func(string) string { return "silt-0" }))
		}
		if _, err := parseServerArgs(args, io.Discard); err != nil {
			t.Errorf("%s: silt %s: %v", r.where, strings.Join(args, " "), err)
		}
	}
	configs := []string{k8sConfig}
	for _, dir := range []string{"docker-compose", "systemd"} {
		more, _ := filepath.Glob(filepath.Join(deployDir, dir, "silt*.yaml"))
		configs = append(configs, more...)
	}
	if len(configs) < 4 {
		t.Errorf("found %d silt config files in deploy/, want at least 4", len(configs))
	}
	for _, c := range configs {
		if _, err := parseServerArgs([]string{"-config.file=" + c}, io.Discard); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	checkComposeHealthcheck(t)
	checkAgentURLs(t)
}

func readDeploy(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type composeFile struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Command     []string `yaml:"command"`
		Volumes     []string `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var f composeFile
	if err := yaml.Unmarshal(readDeploy(t, "docker-compose/docker-compose.yaml"), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func composeRuns(t *testing.T) []siltRun {
	var runs []siltRun
	for name, s := range readCompose(t).Services {
		if !strings.HasPrefix(s.Image, "silt") {
			continue
		}
		mounts := map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
				mounts[parts[1]] = filepath.Join(deployDir, "docker-compose", parts[0])
			}
		}
		runs = append(runs, siltRun{where: "docker-compose service " + name, args: s.Command, config: mounts})
	}
	return runs
}

func dockerfileRun(t *testing.T) siltRun {
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindSubmatch(readDeploy(t, "Dockerfile"))
	if m == nil {
		t.Fatal("deploy/Dockerfile has no CMD [...]")
	}
	var args []string
	if err := json.Unmarshal(m[1], &args); err != nil {
		t.Fatal(err)
	}
	// The compose file mounts its silt.yaml where the image expects one.
	return siltRun{where: "Dockerfile CMD", args: args,
		config: map[string]string{"/etc/silt/silt.yaml": filepath.Join(deployDir, "docker-compose", "silt.yaml")}}
}

func systemdRun(t *testing.T) siltRun {
	m := regexp.MustCompile(`(?m)^ExecStart=\S+/silt server (.*)$`).FindSubmatch(readDeploy(t, "systemd/silt.service"))
	if m == nil {
		t.Fatal("deploy/systemd/silt.service has no ExecStart=.../silt server ...")
	}
	return siltRun{where: "systemd ExecStart", args: strings.Fields(string(m[1])),
		config: map[string]string{"/etc/silt/silt.yaml": filepath.Join(deployDir, "systemd", "silt.yaml")}}
}

// kubernetesRuns reads the StatefulSet's silt container and the ConfigMap
// it mounts; it returns the runs and the ConfigMap's silt.yaml as a file.
func kubernetesRuns(t *testing.T) ([]siltRun, string) {
	dec := yaml.NewDecoder(bytes.NewReader(readDeploy(t, "kubernetes/silt.yaml")))
	var runs []siltRun
	configFile := filepath.Join(t.TempDir(), "silt.yaml")
	kinds := map[string]bool{}
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name         string   `yaml:"name"`
							Args         []string `yaml:"args"`
							VolumeMounts []struct {
								Name      string `yaml:"name"`
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds[doc.Kind] = true
		switch doc.Kind {
		case "ConfigMap":
			if err := os.WriteFile(configFile, []byte(doc.Data["silt.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
		case "StatefulSet":
			for _, c := range doc.Spec.Template.Spec.Containers {
				if c.Name == "silt" {
					runs = append(runs, siltRun{where: "Kubernetes StatefulSet", args: c.Args,
						config: map[string]string{"/etc/silt/silt.yaml": configFile}})
				}
			}
		}
	}
	for _, k := range []string{"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"} {
		if !kinds[k] {
			t.Errorf("deploy/kubernetes/silt.yaml has no %s", k)
		}
	}
	return runs, configFile
}

// checkComposeHealthcheck runs the silt CLI command of the healthcheck
// against a closed port: it must fail to connect (1), not reject its flags
// (2).
func checkComposeHealthcheck(t *testing.T) {
	for name, s := range readCompose(t).Services {
		test := s.Healthcheck.Test
		if len(test) < 3 || !strings.HasSuffix(test[1], "/silt") {
			continue
		}
		args := append([]string(nil), test[2:]...)
		for i := 1; i < len(args); i++ {
			if args[i-1] == "-addr" {
				args[i] = "http://127.0.0.1:1"
			}
		}
		var stderr bytes.Buffer
		if code := run(args, nil, io.Discard, &stderr); code != 1 {
			t.Errorf("%s healthcheck silt %v: exit %d, want 1 (no server): %s", name, args, code, stderr.String())
		}
	}
}

// checkAgentURLs: every path of a silt URL in deploy/agents is a route that
// accepts a POST.
func checkAgentURLs(t *testing.T) {
	ts := startServer(t)
	files, _ := filepath.Glob(filepath.Join(deployDir, "agents", "*"))
	urlRE := regexp.MustCompile(`http://silt:3100(/[^\s"'\]]*)?`)
	found := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range urlRE.FindAllStringSubmatch(string(b), -1) {
			path := m[1]
			switch path {
			case "":
				continue // a base URL (Elasticsearch clients, Loki sinks)
			case "/otlp":
				path += "/v1/logs" // otlphttp appends the signal path
			}
			found++
			code, body := ts.do(t, http.MethodPost, path, "application/json", "{}")
			if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
				t.Errorf("%s: POST %s: %d %s", filepath.Base(f), path, code, body)
			}
		}
	}
	if found < 3 {
		t.Errorf("found %d silt URLs with a path in deploy/agents, want at least 3", found)
	}
}
