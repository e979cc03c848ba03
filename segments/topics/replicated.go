package topics

import (
	"context"
	"sync"

	"github.com/siltlog/silt/segments"
)

// Replicator writes batches through the partitions' raft groups (cluster
// mode). Propose hands the batch to the partition's group and returns at once;
// batches proposed one after another by one caller keep that order. The
// returned wait blocks until the batch is committed, that is durable on a
// majority of the partition's replicas, and gives its base offset and the
// offset after it. The replicas stamp the batch's base offset and leader
// epoch; its bytes may be modified.
type Replicator interface {
	Propose(ctx context.Context, tenant, topic string, partition int, batch []byte) (wait ProposalWait, err error)
}

// ProposalWait waits for a proposed batch to be committed.
type ProposalWait func(ctx context.Context) (base, next int64, err error)

// SetReplicator routes Append and AppendBatch through r. It is set once at
// start, before any write.
func (s *Store) SetReplicator(r Replicator) {
	s.mu.Lock()
	s.replicator = r
	s.mu.Unlock()
}

// Replicator returns the raft groups' writer, or nil on a single node.
func (s *Store) Replicator() Replicator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicator
}

var encoders = sync.Pool{New: func() any { return new(segments.BatchEncoder) }}

// Append writes recs as one batch to a partition and returns its base offset
// once acknowledged: durable on this node, or committed by the partition's
// raft group in a cluster.
func (s *Store) Append(ctx context.Context, tenant, topic string, p int, recs []segments.Record) (int64, error) {
	s.mu.Lock()
	r := s.replicator
	s.mu.Unlock()
	if r == nil {
		log, err := s.Partition(tenant, topic, p)
		if err != nil {
			return 0, err
		}
		return log.Append(ctx, recs)
	}
	if len(recs) == 0 {
		return 0, segments.ErrInvalidBatch
	}
	enc := encoders.Get().(*segments.BatchEncoder)
	batch := enc.AppendBatch(nil, recs)
	encoders.Put(enc)
	wait, err := r.Propose(ctx, tenant, topic, p, batch)
	if err != nil {
		return 0, err
	}
	base, _, err := wait(ctx)
	return base, err
}

// AppendBatch writes one encoded batch to a partition, like Append; it
// returns the batch's base offset and the offset after it.
func (s *Store) AppendBatch(ctx context.Context, tenant, topic string, p int, batch []byte) (base, next int64, err error) {
	s.mu.Lock()
	r := s.replicator
	s.mu.Unlock()
	if r != nil {
		wait, err := r.Propose(ctx, tenant, topic, p, batch)
		if err != nil {
			return 0, 0, err
		}
		return wait(ctx)
	}
	log, err := s.Partition(tenant, topic, p)
	if err != nil {
		return 0, 0, err
	}
	base, next, err = log.StartAppendBatch(batch, 0)
	if err == nil {
		err = log.WaitDurable(next)
	}
	return base, next, err
}
