package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/grafana/dskit/ring"

	"github.com/siltlog/silt/segments"
)

// ErrNoInstances: the ring has no eligible instance to place a partition on
// (this node has not registered yet, or every node is down).
var ErrNoInstances = errors.New("cluster: no instance in the ring to place partitions on")

// CorruptionError is a placement file that cannot be trusted: it names the
// file and what was wrong. The node refuses to start rather than re-place
// partitions from scratch.
type CorruptionError struct {
	Path   string
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("cluster: corrupt placement file %s: %s (move it aside to re-place partitions from the ring)", e.Path, e.Reason)
}

// Change is one recorded membership change of a partition's replicas.
type Change struct {
	Key           PartitionKey
	Before, After []string
	Epoch         uint64
	Reason        string // "replace" (a node gone too long), "grow", "balance"
}

// Placement is the durable record of where each partition's replicas are.
// A partition is placed once, from the ring; afterwards its replicas change
// only by Rebalance, one membership change at a time, and never because of
// gossip jitter: a node must be gone for Policy.ReplaceAfter before its
// replicas move.
type Placement struct {
	path             string
	fsys             segments.FS
	policy           Policy
	heartbeatTimeout time.Duration
	logger           *slog.Logger

	mu sync.Mutex
	// Guarded by mu.
	assignments map[PartitionKey]Assignment
	gone        goneTracker
}

// OpenPlacement loads dir/placement.json (absent: nothing placed yet).
func OpenPlacement(fsys segments.FS, dir string, policy Policy, heartbeatTimeout time.Duration, logger *slog.Logger) (*Placement, error) {
	p := &Placement{
		path: filepath.Join(dir, PlacementFile), fsys: fsys, policy: policy,
		heartbeatTimeout: heartbeatTimeout, logger: logger, assignments: map[PartitionKey]Assignment{},
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	data, err := readAll(fsys, p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read placement: %w", err)
	}
	list, err := decodePlacement(data)
	if err != nil {
		return nil, &CorruptionError{Path: p.path, Reason: err.Error()}
	}
	for _, a := range list {
		p.assignments[a.Key] = a
	}
	return p, nil
}

// Get returns the recorded assignment of k.
func (p *Placement) Get(k PartitionKey) (Assignment, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.assignments[k]
	return a, ok
}

// All returns every assignment sorted by key.
func (p *Placement) All() []Assignment {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sortedLocked()
}

// Ensure returns the assignments of keys, placing (from desc) and recording
// those placed for the first time. New partitions go to healthy instances
// only: there is nothing to move yet, so no reason to wait for a down node.
func (p *Placement) Ensure(desc *ring.Desc, keys []PartitionKey, now time.Time) ([]Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Assignment, 0, len(keys))
	var placer *Placer
	added := false
	for _, k := range keys {
		a, ok := p.assignments[k]
		if !ok {
			if placer == nil {
				placer = NewPlacer(desc, p.policy.ZoneAware, func(_ string, inst ring.InstanceDesc) bool {
					return !inst.IsHeartbeatHealthy(p.heartbeatTimeout, now)
				})
			}
			if placer.Instances() == 0 {
				return nil, ErrNoInstances
			}
			a = Assignment{Key: k, Replicas: placer.Place(k.Token(), p.policy.ReplicationFactor, nil), Epoch: 1}
			p.assignments[k] = a
			added = true
		}
		out = append(out, a)
	}
	if added {
		if err := p.saveLocked(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Rebalance moves each recorded partition one membership change toward its
// place on the current ring: replicas on nodes gone for Policy.ReplaceAfter
// are replaced, under-replicated partitions grow to the replication factor,
// and, while every node is healthy, partitions whose replicas differ from
// the ring's choice move one replica (at most Policy.MaxMoves of those per
// call). A partition with a replica on a node missing for less than
// Policy.ReplaceAfter does not change. The record is saved before the
// changes are returned.
func (p *Placement) Rebalance(desc *ring.Desc, now time.Time) ([]Change, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	known := map[string]bool{}
	for _, a := range p.assignments {
		for _, id := range a.Replicas {
			known[id] = true
		}
	}
	ids := make([]string, 0, len(known))
	for id := range known {
		ids = append(ids, id)
	}
	p.gone.update(desc, ids, p.heartbeatTimeout, now)
	gone := func(id string) bool { return p.gone.goneFor(id, now, p.policy.ReplaceAfter) }
	// An unsettled node is missing (unhealthy or out of the ring) but not
	// for long enough to be replaced: partitions on it stay as they are, and
	// no partition moves for balance while any node is unsettled, since the
	// ring's choice without it is not the one it will make when it is back.
	unsettled := func(id string) bool { _, missing := p.gone.since[id]; return missing && !gone(id) }
	anyUnsettled := false
	for id := range p.gone.since {
		anyUnsettled = anyUnsettled || unsettled(id)
	}
	placer := NewPlacer(desc, p.policy.ZoneAware, func(id string, _ ring.InstanceDesc) bool { return gone(id) })
	if placer.Instances() == 0 {
		return nil, nil // nothing to move to; never empty a partition
	}
	var changes []Change
	moves := 0
	for _, a := range p.sortedLocked() {
		if slices.ContainsFunc(a.Replicas, unsettled) {
			continue
		}
		want := placer.Place(a.Key.Token(), p.policy.ReplicationFactor, nil)
		next, changed := nextStep(a.Replicas, want, gone)
		if !changed {
			continue
		}
		reason := "balance"
		switch {
		case slices.ContainsFunc(a.Replicas, func(id string) bool { return gone(id) && !slices.Contains(next, id) }):
			reason = "replace"
		case len(next) > len(a.Replicas):
			reason = "grow"
		case len(next) < len(a.Replicas):
			reason = "shrink" // the replication factor was lowered
		}
		if reason == "balance" || reason == "shrink" {
			if anyUnsettled || moves >= p.policy.MaxMoves {
				continue
			}
			moves++
		}
		changes = append(changes, Change{Key: a.Key, Before: a.Replicas, After: next, Epoch: a.Epoch + 1, Reason: reason})
		p.assignments[a.Key] = Assignment{Key: a.Key, Replicas: next, Epoch: a.Epoch + 1}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := p.saveLocked(); err != nil {
		return nil, err
	}
	for _, c := range changes {
		p.logger.Info("partition placement changed", "partition", c.Key.String(), "reason", c.Reason,
			"change", describeChange(c.Before, c.After), "replicas", c.After, "epoch", c.Epoch)
	}
	return changes, nil
}

func (p *Placement) sortedLocked() []Assignment {
	out := make([]Assignment, 0, len(p.assignments))
	for _, a := range p.assignments {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i].Key, out[j].Key) })
	return out
}

func keyLess(a, b PartitionKey) bool {
	if a.Tenant != b.Tenant {
		return a.Tenant < b.Tenant
	}
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	return a.Partition < b.Partition
}

func (p *Placement) saveLocked() error {
	data, err := encodePlacement(p.sortedLocked())
	if err != nil {
		return err
	}
	if err := segments.WriteFileAtomic(p.fsys, p.path, data); err != nil {
		return fmt.Errorf("cluster: save placement: %w", err)
	}
	return nil
}

// placementFile is the JSON document of FORMAT.md.
type placementFile struct {
	Version     int          `json:"version"`
	CRC32C      uint32       `json:"crc32c"`
	Assignments []Assignment `json:"assignments"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// assignmentsCRC is the CRC-32C of the compact JSON encoding of list.
func assignmentsCRC(list []Assignment) (uint32, error) {
	b, err := json.Marshal(list)
	if err != nil {
		return 0, fmt.Errorf("cluster: encode placement: %w", err)
	}
	return crc32.Checksum(b, castagnoli), nil
}

func encodePlacement(list []Assignment) ([]byte, error) {
	sum, err := assignmentsCRC(list)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(placementFile{Version: placementVersion, CRC32C: sum, Assignments: list}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("cluster: encode placement: %w", err)
	}
	return append(b, '\n'), nil
}

// decodePlacement parses and checks a placement file; its error says what is
// wrong.
func decodePlacement(data []byte) ([]Assignment, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f placementFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON document")
	}
	if f.Version != placementVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, placementVersion)
	}
	if f.Assignments == nil {
		f.Assignments = []Assignment{}
	}
	sum, err := assignmentsCRC(f.Assignments)
	if err != nil {
		return nil, err
	}
	if sum != f.CRC32C {
		return nil, fmt.Errorf("checksum %08x, computed %08x", f.CRC32C, sum)
	}
	seen := map[PartitionKey]bool{}
	for _, a := range f.Assignments {
		if seen[a.Key] {
			return nil, fmt.Errorf("partition %s listed twice", a.Key)
		}
		seen[a.Key] = true
		if len(a.Replicas) == 0 || a.Epoch == 0 {
			return nil, fmt.Errorf("partition %s has no replicas or epoch 0", a.Key)
		}
	}
	return f.Assignments, nil
}

func readAll(fsys segments.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, 0, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}
