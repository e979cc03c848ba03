// Package testtool lets tests depend on an external command (zstd, ...)
// without losing coverage silently: a missing command skips the test on a
// developer machine but fails it in CI (environment variable CI=true), where
// scripts/test-deps.sh must have installed it.
package testtool

import (
	"os"
	"os/exec"
)

// TB is the part of testing.TB that Require uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Require returns the path of the command name, or skips (locally) or fails
// (under CI=true) the test when it is not installed.
func Require(tb TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
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
