package main

import (
	"runtime"
	"runtime/debug"

	"github.com/siltlog/silt/metrics"
)

// Build information, set with -ldflags, e.g.
//
//	go build -ldflags "-X main.version=1.2.3 -X main.revision=$(git rev-parse HEAD)" ./cmd/silt
//
// Unset values fall back to what the Go toolchain stamped into the binary.
var (
	version   = ""
	revision  = ""
	branch    = ""
	buildUser = ""
	buildDate = ""
)

// BuildInfo is the data of /api/v1/status/buildinfo (Prometheus's shape).
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

func currentBuildInfo() BuildInfo {
	b := BuildInfo{
		Version: version, Revision: revision, Branch: branch,
		BuildUser: buildUser, BuildDate: buildDate, GoVersion: runtime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Revision == "":
				b.Revision = s.Value
			case s.Key == "vcs.time" && b.BuildDate == "":
				b.BuildDate = s.Value
			}
		}
	}
	for _, v := range []*string{&b.Version, &b.Revision, &b.Branch, &b.BuildUser, &b.BuildDate} {
		if *v == "" {
			*v = "unknown"
		}
	}
	if b.Version == "unknown" {
		b.Version = "0.0.0-dev"
	}
	return b
}

// prometheusBuildInfo is the buildinfo of the Prometheus API under
// /prometheus: silt's build, with the version of the Prometheus release whose
// PromQL engine silt embeds, so Grafana enables the features it supports.
func prometheusBuildInfo() metrics.BuildInfo {
	b := currentBuildInfo()
	return metrics.BuildInfo{
		Version: metrics.PrometheusVersion(), Revision: b.Revision, Branch: b.Branch,
		BuildUser: b.BuildUser, BuildDate: b.BuildDate, GoVersion: b.GoVersion,
	}
}
