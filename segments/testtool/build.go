package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var silt struct {
	once sync.Once
	path string
	err  error
}

// BuildSilt builds the silt binary (cmd/silt) once per test process and
// returns its path, for tests that run real silt processes.
func BuildSilt(t testing.TB) string {
	t.Helper()
	silt.once.Do(func() {
		dir, err := os.MkdirTemp("", "silt-bin-")
		if err != nil {
			silt.err = err
			return
		}
		silt.path = filepath.Join(dir, "silt")
		cmd := exec.Command("go", "build", "-o", silt.path, "github.com/siltlog/silt/cmd/silt")
		if out, err := cmd.CombinedOutput(); err != nil {
			silt.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if silt.err != nil {
		t.Fatal(silt.err)
	}
	return silt.path
}
