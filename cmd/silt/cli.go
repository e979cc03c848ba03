package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/siltlog/silt/ingest"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// client talks to a silt server's native API for the CLI commands.
type client struct {
	addr   string
	tenant string
	http   *http.Client
}

// registerClientFlags adds the flags every CLI command shares.
func registerClientFlags(f *flag.FlagSet) *client {
	c := &client{http: &http.Client{}}
	f.StringVar(&c.addr, "addr", "http://127.0.0.1:3100", "silt server URL.")
	f.StringVar(&c.tenant, "tenant", "", "Tenant to send as X-Scope-OrgID (needed when the server has -auth.enabled).")
	return c
}

// apiError is a non-2xx answer from the server.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (c *client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, out any) error {
	u := strings.TrimSuffix(c.addr, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.tenant != "" {
		req.Header.Set(ingest.TenantHeader, c.tenant)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return &apiError{Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func topicPath(topic string, rest ...string) string {
	p := "/api/v1/topics/" + url.PathEscape(topic)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// cliFail prints a runtime error and returns exit code 1.
func cliFail(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintf(stderr, "silt %s: %v\n", cmd, err)
	return 1
}

// parseCLIFlags parses args and rejects positional arguments.
func parseCLIFlags(f *flag.FlagSet, args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see silt %s -h)", f.Arg(0), f.Name())
	}
	return nil
}

// usageError is a bad combination of flags.
func usageError(f *flag.FlagSet, format string, args ...any) error {
	return fmt.Errorf("%s (see silt %s -h)", fmt.Sprintf(format, args...), f.Name())
}
