package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Dir is the store's directory inside silt's data directory.
const Dir = "groups"

// Store holds every tenant's committed offsets. It is a dskit service:
// starting creates the directory, tenants' logs open on first use, stopping
// closes them. Its methods are safe for concurrent use.
type Store struct {
	services.Service

	dir    string
	fs     segments.FS
	logger *slog.Logger

	compactMinBytes int64
	compactRatio    int64

	mu      sync.Mutex
	tenants map[string]*tenantLog // guarded by mu
	running bool                  // guarded by mu
}

// Option configures a Store.
type Option func(*Store)

// WithFS makes the store use fsys for every file operation.
func WithFS(fsys segments.FS) Option { return func(s *Store) { s.fs = fsys } }

// WithCompaction sets when a commit log is rewritten: once it is larger than
// minBytes and ratio times its live state.
func WithCompaction(minBytes int64, ratio int) Option {
	return func(s *Store) { s.compactMinBytes, s.compactRatio = minBytes, int64(max(ratio, 1)) }
}

// NewStore returns the store over dir (usually <data-dir>/groups).
func NewStore(dir string, logger *slog.Logger, opts ...Option) *Store {
	s := &Store{
		dir:             dir,
		fs:              segments.OSFS,
		logger:          logger,
		compactMinBytes: defaultCompactMinBytes,
		compactRatio:    defaultCompactRatio,
		tenants:         map[string]*tenantLog{},
	}
	for _, o := range opts {
		o(s)
	}
	s.Service = services.NewIdleService(s.starting, s.stopping).WithName("groups")
	return s
}

func (s *Store) starting(context.Context) error {
	if err := s.fs.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("create group offsets directory: %w", err)
	}
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("list group offsets directory: %w", err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, fileExt+tmpSuffix) {
			_ = s.fs.Remove(filepath.Join(s.dir, n)) // an interrupted compaction
		}
	}
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	return nil
}

func (s *Store) stopping(error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	var errs []error
	for _, t := range s.tenants {
		errs = append(errs, t.close())
	}
	s.tenants = map[string]*tenantLog{}
	return errors.Join(errs...)
}

// tenant returns tenant's open log, opening (and replaying) it on first use.
func (s *Store) tenant(tenant string) (*tenantLog, error) {
	if err := topics.ValidateTenantID(tenant); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil, ErrNotRunning
	}
	if t, ok := s.tenants[tenant]; ok {
		return t, nil
	}
	t, err := openTenant(s, tenantPath(s.dir, tenant))
	if err != nil {
		return nil, err
	}
	if t.truncated > 0 {
		s.logger.Warn("group offsets log had a torn tail; truncated", "tenant", tenant, "file", t.path, "truncated_bytes", t.truncated)
	}
	s.tenants[tenant] = t
	return t, nil
}

// Commit durably records commits for group; it returns once they are
// fsynced. All of them are recorded, or none.
func (s *Store) Commit(tenant, group string, commits []Commit) error {
	if group == "" {
		return fmt.Errorf("%w: empty group id", ErrInvalid)
	}
	for _, c := range commits {
		if c.Topic == "" {
			return fmt.Errorf("%w: empty topic name", ErrInvalid)
		}
	}
	t, err := s.tenant(tenant)
	if err != nil {
		return err
	}
	return t.write(&record{kind: kindCommit, group: group, entries: commits})
}

// Delete forgets group's commits of the given partitions, or of every
// partition when tps is empty.
func (s *Store) Delete(tenant, group string, tps []TopicPartition) error {
	t, err := s.tenant(tenant)
	if err != nil {
		return err
	}
	r := &record{kind: kindDelete, group: group, entries: make([]Commit, len(tps))}
	for i, tp := range tps {
		r.entries[i].TopicPartition = tp
	}
	return t.write(r)
}

// Offsets returns a copy of everything group committed (empty when nothing).
func (s *Store) Offsets(tenant, group string) (map[TopicPartition]Committed, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[TopicPartition]Committed, len(t.mu.state[group]))
	for tp, c := range t.mu.state[group] {
		out[tp] = c
	}
	return out, nil
}

// Offset returns group's commit of one partition.
func (s *Store) Offset(tenant, group string, tp TopicPartition) (Committed, bool, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return Committed{}, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.mu.state[group][tp]
	return c, ok, nil
}

// Groups returns the sorted names of tenant's groups with commits.
func (s *Store) Groups(tenant string) ([]string, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.mu.state))
	for g := range t.mu.state {
		out = append(out, g)
	}
	slices.Sort(out)
	return out, nil
}
