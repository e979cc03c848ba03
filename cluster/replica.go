package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/siltlog/silt/segments"
)

// ErrTimeout is a proposal that was not seen committed within its deadline;
// it may still be committed later.
var ErrTimeout = errors.New("write not committed before the deadline (it may still be); retry")

// proposalKey identifies a proposed batch among committed entries: its CRC
// and length, which the replicas' stamping of offsets and epoch leaves alone.
type proposalKey struct {
	crc uint32
	n   int
}

func keyOf(batch []byte) proposalKey {
	return proposalKey{crc: binary.BigEndian.Uint32(batch[batchPosCRC:]), n: len(batch)}
}

// proposal is a write waiting for its entry to be committed.
type proposal struct {
	key        proposalKey
	batch      []byte
	done       chan struct{}
	base, next int64
}

// recentWindow is how long a leader remembers the batches it took, to drop
// a proposal made again (after a leader change, or a client's retry) while
// the first one is still in the log: each batch is written once.
const recentWindow = 10 * time.Second

// seenEntry is a batch a replica appended (index > 0) or, as leader, took
// as a proposal not yet appended (index 0).
type seenEntry struct {
	index uint64
	at    time.Time
}

// replica is this node's member of one partition's raft group: it drives the
// raft node, writes its entries to the partition log and answers proposals
// once committed.
type replica struct {
	key     PartitionKey
	id      uint64
	node    raft.Node
	log     *segments.Log
	storage *logStorage
	wal     *raftWAL
	send    func(r *replica, m *raftpb.Message)
	logger  *slog.Logger
	metrics *raftMetrics

	lead     atomic.Uint64 // the leader's raft ID as last seen; 0 when unknown
	lastLead uint64        // the last leader known, kept while there is none (run's goroutine only)
	done     chan struct{} // closed when run returns

	mu      sync.Mutex
	waiters map[proposalKey][]*proposal // guarded by mu, FIFO per key
	err     error                       // guarded by mu: why the replica stopped
	seen    map[proposalKey]seenEntry   // guarded by mu
	pruned  time.Time                   // guarded by mu: when seen was last pruned
}

// openReplica opens the group's state in log's directory, creating it with
// voters when the partition has none yet.
func openReplica(key PartitionKey, self string, voters []string, log *segments.Log, fsys segments.FS, cfg RaftConfig, logger *slog.Logger) (*replica, error) {
	w, st, err := openWAL(fsys, log.Dir())
	if err != nil {
		return nil, err
	}
	if st == nil {
		if log.WrittenEnd() != log.StartOffset() || log.StartOffset() != 0 {
			return nil, fmt.Errorf("partition %s holds offsets %d..%d written outside raft: a replicated partition must start empty",
				key, log.StartOffset(), log.WrittenEnd())
		}
		st = &walState{snap: &raftpb.SnapshotMetadata{
			Index: new(uint64(0)), Term: new(uint64(0)),
			ConfState: &raftpb.ConfState{Voters: raftIDs(voters)},
		}}
		if err := w.rewrite(st); err != nil {
			return nil, fmt.Errorf("create %s: %w", w.path, err)
		}
	}
	if err := reconcile(log, st); err != nil {
		_ = w.close()
		return nil, fmt.Errorf("partition %s: %w", key, err)
	}
	r := &replica{
		key: key, id: raftID(self), log: log, wal: w,
		storage: &logStorage{log: log, st: st, logger: logger},
		waiters: map[proposalKey][]*proposal{},
		seen:    map[proposalKey]seenEntry{},
		done:    make(chan struct{}),
		logger:  logger,
	}
	applied := st.hard.GetCommit()
	log.Commit(r.storage.endOf(applied))
	r.node = raft.RestartNode(&raft.Config{
		ID:                        r.id,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   r.storage,
		Applied:                   applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  16 << 20,
		MaxUncommittedEntriesSize: 256 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    raftLogger{logger},
	})
	return r, nil
}

// reconcile makes log and raft.wal agree after a crash: entries whose
// batches the log lost are dropped, batches no entry names are cut.
func reconcile(log *segments.Log, st *walState) error {
	end := log.WrittenEnd()
	for len(st.ents) > 0 && st.ents[len(st.ents)-1].end() > end {
		st.ents = st.ents[:len(st.ents)-1]
	}
	if want := st.end(); want < end {
		if err := log.Truncate(want); err != nil {
			return fmt.Errorf("cut log bytes past the last raft entry (offset %d): %w", want, err)
		}
	} else if want > end {
		return fmt.Errorf("raft.wal ends at offset %d but the log at %d", want, end)
	}
	if c := st.hard.GetCommit(); c > st.lastIndex() {
		return fmt.Errorf("raft.wal: commit index %d is past the last entry %d", c, st.lastIndex())
	}
	return nil
}

// run drives the raft node until ctx ends or a write fails.
func (r *replica) run(ctx context.Context, tick time.Duration) {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.stop(errors.New("replica stopped"))
			return
		case <-t.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handle(rd); err != nil {
				r.logger.Error("raft group failed; it stops until silt restarts", "err", err)
				r.metrics.failures.Inc()
				r.stop(err)
				return
			}
		}
	}
}

// handle persists a Ready (log first, then raft.wal), sends its messages,
// applies committed entries and advances.
func (r *replica) handle(rd raft.Ready) error {
	if rd.SoftState != nil {
		r.lead.Store(rd.SoftState.Lead)
		if l := rd.SoftState.Lead; l != 0 && l != r.lastLead {
			if r.lastLead != 0 {
				go r.resubmitAll() // forwarded proposals may have died with the old leader
			}
			r.lastLead = l
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		return errors.New("received a raft snapshot: catching up from one is not supported yet")
	}
	if len(rd.Entries) > 0 {
		if err := r.storage.append(rd.Entries, r.wal); err != nil {
			return err
		}
		r.noteAppended(rd.Entries)
		if rd.MustSync {
			if err := r.log.Sync(); err != nil {
				return err
			}
		}
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := r.storage.setHardState(rd.HardState, r.wal); err != nil {
			return err
		}
	}
	if err := r.wal.flush(rd.MustSync); err != nil {
		return err
	}
	for _, m := range rd.Messages {
		r.send(r, m)
	}
	if err := r.apply(rd.CommittedEntries); err != nil {
		return err
	}
	r.node.Advance()
	return r.maybeRewrite()
}

// apply publishes committed entries: the log's high watermark moves past
// them and the proposals they carry are answered.
func (r *replica) apply(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryType_EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return err
			}
			r.node.ApplyConfChange(&cc)
		case raftpb.EntryType_EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return err
			}
			r.node.ApplyConfChange(&cc)
		}
		if len(e.Data) < batchHeaderBytes || e.GetType() != raftpb.EntryType_EntryNormal {
			continue
		}
		m, ok := r.storage.meta(e.GetIndex())
		if !ok {
			return fmt.Errorf("committed entry %d is not in the log", e.GetIndex())
		}
		r.answer(keyOf(e.Data), m)
	}
	r.log.Commit(r.storage.endOf(ents[len(ents)-1].GetIndex()))
	r.metrics.committed.Add(float64(len(ents)))
	return nil
}

// answer wakes the oldest proposal waiting for a batch with key.
func (r *replica) answer(key proposalKey, m entryMeta) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.waiters[key]
	if len(list) == 0 {
		return
	}
	p := list[0]
	if len(list) == 1 {
		delete(r.waiters, key)
	} else {
		r.waiters[key] = list[1:]
	}
	p.base, p.next = m.off, m.end()
	close(p.done)
}

// maybeRewrite compacts raft.wal once it is long.
func (r *replica) maybeRewrite() error {
	if r.wal.size < walRewriteBytes {
		return nil
	}
	r.storage.mu.Lock()
	defer r.storage.mu.Unlock()
	return r.wal.rewrite(r.storage.st)
}

// propose hands batch to the group and returns the wait for its commit.
// While it waits, the proposal is made again after a leader change and
// every second, as a forwarded proposal can be lost; the leader drops the
// copies of a batch it already has (seen).
func (r *replica) propose(ctx context.Context, batch []byte) (func(context.Context) (int64, int64, error), error) {
	if len(batch) < batchHeaderBytes {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a batch header", segments.ErrInvalidBatch, len(batch))
	}
	p := &proposal{batch: bytes.Clone(batch), done: make(chan struct{})} // raft holds it until written
	p.key = keyOf(p.batch)
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return nil, r.err
	}
	r.waiters[p.key] = append(r.waiters[p.key], p)
	r.mu.Unlock()
	r.metrics.proposals.Inc()
	if err := r.submit(ctx, p); err != nil {
		r.forget(p)
		return nil, err
	}
	return func(ctx context.Context) (int64, int64, error) {
		again := time.NewTicker(time.Second)
		defer again.Stop()
		for {
			select {
			case <-p.done:
				return p.base, p.next, nil
			case <-again.C:
				go r.resubmit(p)
			case <-ctx.Done():
				r.forget(p)
				return 0, 0, fmt.Errorf("partition %s: %w", r.key, ErrTimeout)
			case <-r.done:
				return 0, 0, r.stoppedErr()
			}
		}
	}, nil
}

// submit proposes p to raft, unless this node leads and already has it.
// Raft blocks it while there is no leader, until ctx ends.
func (r *replica) submit(ctx context.Context, p *proposal) error {
	for {
		if r.isLeader() && !r.take(p.key) {
			return nil
		}
		err := r.node.Propose(ctx, p.batch)
		if err == nil {
			return nil
		}
		r.untake(p.key)
		if !errors.Is(err, raft.ErrProposalDropped) || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = ErrTimeout
			}
			return fmt.Errorf("partition %s: %w", r.key, err)
		}
		select { // dropped during a leadership change
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("partition %s has no leader: %w", r.key, ErrTimeout)
		case <-r.done:
			return r.stoppedErr()
		}
	}
}

// resubmit proposes p again if it is still waiting.
func (r *replica) resubmit(p *proposal) {
	select {
	case <-p.done:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.submit(ctx, p)
}

// resubmitAll proposes every waiting proposal again.
func (r *replica) resubmitAll() {
	r.mu.Lock()
	var list []*proposal
	for _, ps := range r.waiters {
		list = append(list, ps...)
	}
	r.mu.Unlock()
	for _, p := range list {
		r.resubmit(p)
	}
}

// take records key as a batch this leader takes; false when it has it
// already, appended or taken.
func (r *replica) take(key proposalKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[key]; ok {
		return false
	}
	r.seen[key] = seenEntry{at: time.Now()}
	return true
}

// untake forgets key if it was taken but not appended: its proposal did not
// reach raft.
func (r *replica) untake(key proposalKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.seen[key]; ok && e.index == 0 {
		delete(r.seen, key)
	}
}

// filterProposal drops from a proposal forwarded to this node the batches
// it already has; nil when none is left. It does not depend on this node
// knowing it leads: raft may have made it leader a moment ago.
func (r *replica) filterProposal(m *raftpb.Message) *raftpb.Message {
	keep := m.Entries[:0:0]
	for _, e := range m.Entries {
		if len(e.Data) < batchHeaderBytes || r.take(keyOf(e.Data)) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	m.Entries = keep
	return m
}

// noteAppended records the batches just appended, forgetting those a
// conflict cut and those older than recentWindow.
func (r *replica) noteAppended(ents []*raftpb.Entry) {
	now := time.Now()
	first := ents[0].GetIndex()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range r.seen {
		if e.index >= first || now.Sub(e.at) > recentWindow && now.Sub(r.pruned) > time.Second {
			delete(r.seen, k)
		}
	}
	if now.Sub(r.pruned) > time.Second {
		r.pruned = now
	}
	for _, e := range ents {
		if len(e.Data) >= batchHeaderBytes {
			r.seen[keyOf(e.Data)] = seenEntry{index: e.GetIndex(), at: now}
		}
	}
}

func (r *replica) forget(p *proposal) {
	key := p.key
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.waiters[key]
	for i, q := range list {
		if q == p {
			r.waiters[key] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(r.waiters[key]) == 0 {
		delete(r.waiters, key)
	}
}

func (r *replica) stop(err error) {
	r.node.Stop()
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	_ = r.wal.close()
}

func (r *replica) stoppedErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Errorf("partition %s: %w", r.key, r.err)
}

// isLeader reports whether this replica leads its group.
func (r *replica) isLeader() bool { return r.lead.Load() == r.id }

// transferee is the follower best placed to take leadership: the one with
// the most of the log; 0 when there is none.
func (r *replica) transferee() uint64 {
	st := r.node.Status()
	var best, match uint64
	for id, pr := range st.Progress {
		if id != r.id && (best == 0 || pr.Match > match) {
			best, match = id, pr.Match
		}
	}
	return best
}
