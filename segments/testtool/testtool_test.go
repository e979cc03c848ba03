package testtool

import (
	"fmt"
	"testing"
)

type fakeTB struct{ skipped, failed string }

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestRequire(t *testing.T) {
	tests := []struct {
		name, cmd, ci        string
		wantPath, skip, fail bool
	}{
		{"present", "sh", "true", true, false, false},
		{"missing locally skips", "no-such-command-silt", "", false, true, false},
		{"missing in CI fails", "no-such-command-silt", "true", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var f fakeTB
			path := Require(&f, tc.cmd)
			if (path != "") != tc.wantPath || (f.skipped != "") != tc.skip || (f.failed != "") != tc.fail {
				t.Errorf("path %q skipped %q failed %q", path, f.skipped, f.failed)
			}
		})
	}
}

func TestRequireFile(t *testing.T) {
	tests := []struct {
		name, path, ci string
		skip, fail     bool
	}{
		{"present", "/", "true", false, false},
		{"missing locally skips", "/no/such/file-silt", "", true, false},
		{"missing in CI fails", "/no/such/file-silt", "true", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var f fakeTB
			RequireFile(&f, tc.path)
			if (f.skipped != "") != tc.skip || (f.failed != "") != tc.fail {
				t.Errorf("skipped %q failed %q", f.skipped, f.failed)
			}
		})
	}
}
