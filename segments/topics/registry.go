package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/siltlog/silt/segments"
)

// Built-in topics exist for every tenant; they are created on first use.
const (
	TopicLogs    = "logs"
	TopicMetrics = "metrics"
)

// RegistryFile is the registry's file name inside the data directory.
const RegistryFile = "topics.json"

const registryVersion = 1

var (
	ErrTopicNotFound = errors.New("topic not found")
	ErrTopicExists   = errors.New("topic already exists")
	// ErrBuiltinTopic is returned for changes built-in topics do not allow.
	ErrBuiltinTopic = errors.New("built-in topic")
	// ErrInvalidTopic is wrapped by errors about a topic's settings.
	ErrInvalidTopic = errors.New("invalid topic settings")
)

// IsBuiltin reports whether name is a built-in topic.
func IsBuiltin(name string) bool { return name == TopicLogs || name == TopicMetrics }

// Topic is a named, partitioned log of one tenant.
//
// Retention fields (Kafka's retention.ms, retention.bytes,
// local.retention.ms, local.retention.bytes): 0 inherits the tenant override,
// else the server default; -1 means unlimited; -2 (local ones only) means the
// same as retention; a positive value overrides (see Policy).
type Topic struct {
	Name                string `json:"name"`
	Partitions          int    `json:"partitions"`
	RetentionMs         int64  `json:"retention_ms,omitempty"`
	RetentionBytes      int64  `json:"retention_bytes,omitempty"`
	LocalRetentionMs    int64  `json:"local_retention_ms,omitempty"`
	LocalRetentionBytes int64  `json:"local_retention_bytes,omitempty"`
}

// registryFile is the JSON layout of RegistryFile.
type registryFile struct {
	Version int                `json:"version"`
	Tenants map[string][]Topic `json:"tenants"`
}

// Registry is the set of topics of every tenant, persisted atomically to
// <data>/topics.json on every change.
type Registry struct {
	path string
	cfg  Config

	mu      sync.Mutex
	tenants map[string]map[string]Topic // guarded by mu
}

// OpenRegistry loads the registry in dataDir, or starts an empty one if the
// file does not exist yet.
func OpenRegistry(dataDir string, cfg Config) (*Registry, error) {
	r := &Registry{path: filepath.Join(dataDir, RegistryFile), cfg: cfg, tenants: map[string]map[string]Topic{}}
	data, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read topic registry: %w", err)
	}
	var f registryFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse topic registry %s: %w", r.path, err)
	}
	if f.Version != registryVersion {
		return nil, fmt.Errorf("topic registry %s: unsupported version %d (want %d)", r.path, f.Version, registryVersion)
	}
	for tenant, list := range f.Tenants {
		m := make(map[string]Topic, len(list))
		for _, t := range list {
			m[t.Name] = t
		}
		r.tenants[tenant] = m
	}
	return r, nil
}

// Get returns tenant's topic, creating a built-in topic on first use.
func (r *Registry) Get(tenant, name string) (Topic, error) {
	if err := validateIDs(tenant, name); err != nil {
		return Topic{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureBuiltinsLocked(tenant); err != nil {
		return Topic{}, err
	}
	t, ok := r.tenants[tenant][name]
	if !ok {
		return Topic{}, fmt.Errorf("%w: tenant %q has no topic %q", ErrTopicNotFound, tenant, name)
	}
	return t, nil
}

// List returns tenant's topics sorted by name, built-ins included.
func (r *Registry) List(tenant string) ([]Topic, error) {
	if err := ValidateTenantID(tenant); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureBuiltinsLocked(tenant); err != nil {
		return nil, err
	}
	out := make([]Topic, 0, len(r.tenants[tenant]))
	for _, t := range r.tenants[tenant] {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Tenants returns every tenant that has topics, sorted.
func (r *Registry) Tenants() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.tenants))
	for t := range r.tenants {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Create adds a topic for tenant. Partitions 0 means the configured default.
func (r *Registry) Create(tenant string, t Topic) (Topic, error) {
	if err := validateIDs(tenant, t.Name); err != nil {
		return Topic{}, err
	}
	if t.Partitions == 0 {
		t.Partitions = r.cfg.DefaultPartitions
	}
	if err := r.validateTopic(t); err != nil {
		return Topic{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureBuiltinsLocked(tenant); err != nil {
		return Topic{}, err
	}
	if _, ok := r.tenants[tenant][t.Name]; ok {
		return Topic{}, fmt.Errorf("%w: tenant %q already has topic %q", ErrTopicExists, tenant, t.Name)
	}
	if err := r.putLocked(tenant, t); err != nil {
		return Topic{}, err
	}
	return t, nil
}

// Delete removes tenant's topic from the registry and persists the change
// before returning. Built-in topics cannot be deleted (ErrBuiltinTopic). It
// does not touch partition data: Store.DeleteTopic does, in a crash-safe order.
func (r *Registry) Delete(tenant, name string) error {
	if err := validateIDs(tenant, name); err != nil {
		return err
	}
	if IsBuiltin(name) {
		return fmt.Errorf("%w: %q exists for every tenant and cannot be deleted", ErrBuiltinTopic, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tenants[tenant][name]; !ok {
		return fmt.Errorf("%w: tenant %q has no topic %q", ErrTopicNotFound, tenant, name)
	}
	next := cloneTenant(r.tenants[tenant])
	delete(next, name)
	return r.commitLocked(tenant, next)
}

func (r *Registry) validateTopic(t Topic) error {
	if t.Partitions < 1 || t.Partitions > r.cfg.MaxPartitions {
		return fmt.Errorf("%w: partitions must be between 1 and %d, got %d", ErrInvalidTopic, r.cfg.MaxPartitions, t.Partitions)
	}
	return t.Policy().Validate()
}

// SetConfig changes tenant's topic's retention settings, named as Kafka names
// them (retention.ms, ...; 0 resets one to inherit), and persists the change.
// The new policy applies from the next tier cycle, without reopening any log.
func (r *Registry) SetConfig(tenant, name string, set map[string]int64) (Topic, error) {
	if err := validateIDs(tenant, name); err != nil {
		return Topic{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureBuiltinsLocked(tenant); err != nil {
		return Topic{}, err
	}
	t, ok := r.tenants[tenant][name]
	if !ok {
		return Topic{}, fmt.Errorf("%w: tenant %q has no topic %q", ErrTopicNotFound, tenant, name)
	}
	p := t.Policy()
	fields := p.fields()
	for k, v := range set {
		f, ok := fields[k]
		if !ok {
			return Topic{}, fmt.Errorf("%w: unknown setting %q (known: %s)", ErrInvalidTopic, k, strings.Join(p.Names(), ", "))
		}
		*f = v
	}
	if err := p.Validate(); err != nil {
		return Topic{}, err
	}
	t.RetentionMs, t.RetentionBytes, t.LocalRetentionMs, t.LocalRetentionBytes =
		p.RetentionMs, p.RetentionBytes, p.LocalRetentionMs, p.LocalRetentionBytes
	if err := r.putLocked(tenant, t); err != nil {
		return Topic{}, err
	}
	return t, nil
}

func validateIDs(tenant, topic string) error {
	if err := ValidateTenantID(tenant); err != nil {
		return err
	}
	return ValidateTopicName(topic)
}

// ensureBuiltinsLocked creates tenant's built-in topics if missing.
func (r *Registry) ensureBuiltinsLocked(tenant string) error {
	m := r.tenants[tenant]
	_, hasLogs := m[TopicLogs]
	_, hasMetrics := m[TopicMetrics]
	if hasLogs && hasMetrics {
		return nil
	}
	next := cloneTenant(m)
	for _, name := range []string{TopicLogs, TopicMetrics} {
		if _, ok := next[name]; !ok {
			next[name] = Topic{Name: name, Partitions: r.cfg.BuiltinPartitions}
		}
	}
	return r.commitLocked(tenant, next)
}

func (r *Registry) putLocked(tenant string, t Topic) error {
	next := cloneTenant(r.tenants[tenant])
	next[t.Name] = t
	return r.commitLocked(tenant, next)
}

// commitLocked persists the registry with tenant's topics replaced by next and
// only then makes the change visible, so memory never runs ahead of disk.
func (r *Registry) commitLocked(tenant string, next map[string]Topic) error {
	f := registryFile{Version: registryVersion, Tenants: make(map[string][]Topic, len(r.tenants)+1)}
	for name, m := range r.tenants {
		f.Tenants[name] = sortedTopics(m)
	}
	f.Tenants[tenant] = sortedTopics(next)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode topic registry: %w", err)
	}
	if err := segments.WriteFileAtomic(segments.OSFS, r.path, append(data, '\n')); err != nil {
		return fmt.Errorf("save topic registry: %w", err)
	}
	r.tenants[tenant] = next
	return nil
}

func cloneTenant(m map[string]Topic) map[string]Topic {
	out := make(map[string]Topic, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedTopics(m map[string]Topic) []Topic {
	out := make([]Topic, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}
