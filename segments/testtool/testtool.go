// Package testtool lets tests depend on an external command (zstd, ...)
// without losing coverage silently: a missing command skips the test on a
// developer machine but fails it in CI (environment variable CI=true), where
// scripts/test-deps.sh must have installed it.
package testtool

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TB is the part of testing.TB that Require uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Require returns the path of the command name, or skips (locally) or fails
// (under CI=true) the test when it is not installed. Besides PATH it looks
// where `go install` puts commands ($GOBIN, else $GOPATH/bin, else ~/go/bin),
// since scripts/test-deps.sh installs Go tools there.
func Require(tb TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range goBinDirs() {
		if p, lerr := exec.LookPath(filepath.Join(dir, name)); lerr == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("required command %q not found (CI=true): add it to scripts/test-deps.sh: %v", name, err)
	} else {
		tb.Skipf("command %q not installed; skipping (run scripts/test-deps.sh as root, or this fails under CI=true)", name)
	}
	return ""
}

// RequireFile is Require for a file that is not a command, such as an
// rsyslog plugin: it skips (locally) or fails (under CI=true) the test when
// path does not exist.
func RequireFile(tb TB, path string) {
	tb.Helper()
	_, err := os.Stat(path)
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("required file %s not found (CI=true): add its package to scripts/test-deps.sh: %v", path, err)
	} else {
		tb.Skipf("%s not installed; skipping (run scripts/test-deps.sh as root, or this fails under CI=true)", path)
	}
}

// goBinDirs lists where `go install` may have put a command.
func goBinDirs() []string {
	if d := os.Getenv("GOBIN"); d != "" {
		return []string{d}
	}
	var dirs []string
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return dirs
}

// FreePort returns a 127.0.0.1 TCP port that was free a moment ago, for a
// process the test starts.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
