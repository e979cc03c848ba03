package testtool

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server is a running versitygw (an S3 gateway over a local directory).
type S3Server struct {
	Endpoint          string // host:port, plain HTTP
	AccessKey, Secret string
	Bucket            string // created empty
	Dir               string // the gateway's root directory

	bin string
	cmd *exec.Cmd
}

// StartS3 runs versitygw (installed by scripts/test-deps.sh; Require skips or
// fails without it) on 127.0.0.1 with a free port and a temp directory, creates
// an empty bucket, and stops it at the end of the test.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	s := &S3Server{bin: Require(t, "versitygw"), AccessKey: "silt-test", Secret: "silt-test-secret", Bucket: "silt", Dir: t.TempDir()}
	s.Start(t)
	t.Cleanup(s.Stop)
	cl, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.Secret, "")})
	if err != nil {
		t.Fatalf("s3 client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket %s: %v", s.Bucket, err)
	}
	return s
}

// Start (re)starts the gateway; after Stop it comes back on the same port.
func (s *S3Server) Start(t testing.TB) {
	t.Helper()
	if s.Endpoint == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.Endpoint = l.Addr().String()
		_ = l.Close()
	}
	s.cmd = exec.Command(s.bin, "--quiet", "--port", s.Endpoint, "--access", s.AccessKey, "--secret", s.Secret, "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("versitygw not listening on %s after 15s: %v", s.Endpoint, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the gateway (SIGKILL: a server that vanishes mid-request).
func (s *S3Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Config returns the objstore s3 provider settings for the server.
func (s *S3Server) Config() map[string]any {
	return map[string]any{
		"bucket": s.Bucket, "endpoint": s.Endpoint, "access_key": s.AccessKey, "secret_key": s.Secret,
		"insecure": true, "bucket_lookup_type": "path", "region": "us-east-1",
	}
}

// YAML returns the server as a silt cold-tier YAML block body (type, prefix, config).
func (s *S3Server) YAML(prefix string) string {
	return fmt.Sprintf("type: s3\nprefix: %s\nconfig:\n  bucket: %s\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n  insecure: true\n  bucket_lookup_type: path\n  region: us-east-1\n",
		prefix, s.Bucket, s.Endpoint, s.AccessKey, s.Secret)
}
