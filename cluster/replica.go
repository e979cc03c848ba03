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
	inflight   atomic.Bool // a submit is in raft's Propose (it waits there while there is no leader)
}

// recentWindow is how long a leader remembers the batches it took, to drop
// a proposal made again (after a leader change, or a client's retry) while
// the first one is still in the log: each batch is written once.
const recentWindow = 30 * time.Second

// seenEntry is a batch a replica appended (index > 0) or, as leader, took
// as a proposal not yet appended (index 0).
type seenEntry struct {
	index uint64
	at    time.Time
	// forwarded: proposed here and sent to the leader on another node (or
	// taken while this node led, and leadership moved since), so it may
	// have been lost.
	forwarded bool
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

	lead    atomic.Uint64 // the leader's raft ID as last seen; 0 when unknown
	removed atomic.Bool   // a configuration change took this replica out of the group
	applied atomic.Uint64 // the last entry applied as committed
	// leaderless is when the replica last lost its leader (Unix ns); 0
	// while it has one.
	leaderless atomic.Int64
	lastLead   uint64        // the last leader known, kept while there is none (run's goroutine only)
	done       chan struct{} // closed when run returns

	mu      sync.Mutex
	waiters map[proposalKey][]*proposal // guarded by mu, FIFO per key
	err     error                       // guarded by mu: why the replica stopped
	seen    map[proposalKey]seenEntry   // guarded by mu
	pruned  time.Time                   // guarded by mu: when seen was last pruned
	// lastNoted is the last index noteAppended saw; guarded by mu.
	lastNoted uint64
}

// errNotCreator is a write for a group that does not exist here yet and
// that this node may not create: only the group's creator starts it.
var errNotCreator = errors.New("the partition's raft group does not exist here yet")

// openReplica opens the group's state in log's directory. A group that does
// not exist yet starts empty (it learns its configuration from the leader's
// log), or, with bootstrap set, with voters as its first entries.
func openReplica(key PartitionKey, self string, bootstrap []string, log *segments.Log, fsys segments.FS, cfg RaftConfig, logger *slog.Logger) (*replica, error) {
	w, st, err := openWAL(fsys, log.Dir())
	if err != nil {
		return nil, err
	}
	fresh := st == nil
	if fresh {
		if log.WrittenEnd() != log.StartOffset() || log.StartOffset() != 0 {
			return nil, fmt.Errorf("partition %s holds offsets %d..%d written outside raft: a replicated partition must start empty",
				key, log.StartOffset(), log.WrittenEnd())
		}
		st = &walState{snap: &raftpb.SnapshotMetadata{Index: new(uint64(0)), Term: new(uint64(0)), ConfState: &raftpb.ConfState{}}}
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
	r.rememberTail()
	r.leaderless.Store(time.Now().UnixNano()) // no leader known yet
	applied := st.hard.GetCommit()
	r.applied.Store(applied)
	log.Commit(r.storage.endOf(applied))
	rc := &raft.Config{
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
	}
	if fresh && len(bootstrap) > 0 {
		// The group's first entries add its voters (raft's own bootstrap),
		// so that a replica added later learns the whole configuration
		// from the log.
		peers := make([]raft.Peer, 0, len(bootstrap))
		for _, id := range raftIDs(bootstrap) {
			peers = append(peers, raft.Peer{ID: id})
		}
		r.node = raft.StartNode(rc, peers)
	} else {
		r.node = raft.RestartNode(rc)
	}
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
			if r.removed.Load() {
				r.stop(ErrNotReplica)
				return
			}
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handle(rd); err != nil {
				r.logger.Error("raft group failed; it stops until silt restarts", "err", err)
				r.metrics.failures.Inc()
				r.stop(err)
				return
			}
			if r.removed.Load() {
				r.logger.Info("this replica was removed from its raft group; it stops")
				r.stop(ErrNotReplica)
				return
			}
		}
	}
}

// handle persists a Ready (log first, then raft.wal), sends its messages,
// applies committed entries and advances.
func (r *replica) handle(rd raft.Ready) error {
	if rd.SoftState != nil {
		if old := r.lead.Swap(rd.SoftState.Lead); old == r.id && rd.SoftState.Lead != r.id {
			r.forgetLeadership()
		}
		if rd.SoftState.Lead == 0 {
			r.leaderless.CompareAndSwap(0, time.Now().UnixNano())
		} else {
			r.leaderless.Store(0)
		}
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
	}
	// A leader replicates while it makes its own copy durable (raft allows
	// it: the leader counts itself only once its log is stable); other
	// messages (votes, acknowledgements) wait for the fsyncs.
	early := r.isLeader()
	if early {
		r.sendAll(rd.Messages)
	}
	if len(rd.Entries) > 0 && rd.MustSync {
		if err := r.log.Sync(); err != nil {
			return err
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
	if !early {
		r.sendAll(rd.Messages)
	}
	if err := r.apply(rd.CommittedEntries); err != nil {
		return err
	}
	r.node.Advance()
	return r.maybeRewrite()
}

// sendAll hands messages to the transport.
func (r *replica) sendAll(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m.GetType() == raftpb.MessageType_MsgProp {
			r.markForwarded(m.Entries)
		}
		r.send(r, m)
	}
}

// apply publishes committed entries: the log's high watermark moves past
// them and the proposals they carry are answered.
func (r *replica) apply(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		if e.GetType() != raftpb.EntryType_EntryNormal {
			if err := r.applyConfChange(e); err != nil {
				return err
			}
			continue
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
	r.applied.Store(ents[len(ents)-1].GetIndex())
	r.metrics.committed.Add(float64(len(ents)))
	return nil
}

// applyConfChange applies a committed configuration change and records the
// resulting configuration durably (raft does not deliver applied entries
// again after a restart).
func (r *replica) applyConfChange(e *raftpb.Entry) error {
	var cc raftpb.ConfChangeI
	switch e.GetType() {
	case raftpb.EntryType_EntryConfChange:
		v1 := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.Data, v1); err != nil {
			return fmt.Errorf("configuration change %d: %w", e.GetIndex(), err)
		}
		cc = v1
	case raftpb.EntryType_EntryConfChangeV2:
		v2 := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.Data, v2); err != nil {
			return fmt.Errorf("configuration change %d: %w", e.GetIndex(), err)
		}
		cc = v2
	default:
		return fmt.Errorf("entry %d of unknown type %v", e.GetIndex(), e.GetType())
	}
	cs := r.node.ApplyConfChange(cc)
	if err := r.storage.setConfState(cs, r.wal); err != nil {
		return err
	}
	if err := r.wal.flush(true); err != nil {
		return err
	}
	r.logger.Info("raft configuration changed", "index", e.GetIndex(), "voters", cs.GetVoters(), "learners", cs.GetLearners())
	for _, c := range cc.AsV2().GetChanges() {
		if c.GetType() == raftpb.ConfChangeType_ConfChangeRemoveNode && c.GetNodeId() == r.id {
			r.removed.Store(true) // (the bootstrap's first entries list the voters one by one)
		}
	}
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
	if e, ok := r.seen[p.key]; ok && e.index > 0 && e.index <= r.applied.Load() {
		// A copy of a batch already committed (a client's retry): answer
		// with where it is, write nothing.
		r.mu.Unlock()
		if m, ok := r.committedAt(e.index, p.key); ok {
			return func(context.Context) (int64, int64, error) { return m.off, m.end(), nil }, nil
		}
		r.mu.Lock()
	}
	r.waiters[p.key] = append(r.waiters[p.key], p)
	r.mu.Unlock()
	r.metrics.proposals.Inc()
	if err := r.submit(ctx, p, false); err != nil {
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

// submit proposes p to raft. The first time, p's batch is recorded as
// taken here (whether or not this node leads: raft may make it leader while
// the proposal waits, and a copy forwarded by another node must then be
// dropped); an identical batch already taken is not proposed again. Again
// (again set), it is proposed unless this node leads and has it. Raft
// blocks a proposal while there is no leader, until ctx ends.
func (r *replica) submit(ctx context.Context, p *proposal, again bool) error {
	if !p.inflight.CompareAndSwap(false, true) {
		return nil // the last submit still waits for a leader
	}
	defer p.inflight.Store(false)
	for {
		switch {
		case !again && !r.take(p.key, false):
			return nil
		case again && !r.retake(p.key):
			return nil
		}
		err := r.node.Propose(ctx, p.batch)
		if err == nil {
			return nil
		}
		if !again {
			r.untake(p.key)
		}
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
	_ = r.submit(ctx, p, true)
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

// take records key as a batch taken here; false when it has it already,
// appended or taken.
func (r *replica) take(key proposalKey, forwarded bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[key]; ok {
		return false
	}
	r.seen[key] = seenEntry{at: time.Now(), forwarded: forwarded}
	return true
}

// markForwarded records that proposals went to the leader on another node,
// which may lose them.
func (r *replica) markForwarded(ents []*raftpb.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range ents {
		if !isBatch(e) {
			continue
		}
		if s, ok := r.seen[keyOf(e.Data)]; ok && s.index == 0 {
			s.forwarded = true
			r.seen[keyOf(e.Data)] = s
		}
	}
}

// forgetLeadership marks the batches this node took as leader and has not
// appended as possibly lost: raft may drop proposals when leadership
// moves, so they may be proposed again.
func (r *replica) forgetLeadership() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range r.seen {
		if e.index == 0 && !e.forwarded {
			e.forwarded = true
			r.seen[k] = e
		}
	}
}

// retake is take for a batch proposed again: true when this node has not
// appended it and took it only as a proposal that went to another leader
// (which may have lost it). It does not depend on this node knowing
// whether it leads: raft may have made it leader a moment ago.
func (r *replica) retake(key proposalKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.seen[key]; ok && (e.index > 0 || !e.forwarded) {
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
		if !isBatch(e) || r.take(keyOf(e.Data), false) {
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
	if first <= r.lastNoted { // a conflicting tail was cut
		for k, e := range r.seen {
			if e.index >= first {
				delete(r.seen, k)
			}
		}
	}
	r.lastNoted = ents[len(ents)-1].GetIndex()
	if now.Sub(r.pruned) > time.Second {
		r.pruned = now
		for k, e := range r.seen {
			if now.Sub(e.at) > recentWindow {
				delete(r.seen, k)
			}
		}
	}
	for _, e := range ents {
		if isBatch(e) {
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

// leaderlessFor is how long the replica has had no leader.
func (r *replica) leaderlessFor() time.Duration {
	since := r.leaderless.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
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

// committedAt returns where the committed entry i is if it holds the batch
// with key.
func (r *replica) committedAt(i uint64, key proposalKey) (entryMeta, bool) {
	ents, err := r.storage.Entries(i, i+1, 1<<30)
	if err != nil || len(ents) != 1 || !isBatch(ents[0]) || keyOf(ents[0].Data) != key {
		return entryMeta{}, false
	}
	return r.storage.meta(i)
}

// rememberTail fills seen with the last batches of the log, so that a
// client retrying a write that was committed just before a restart does not
// write it twice.
func (r *replica) rememberTail() {
	last, _ := r.storage.LastIndex()
	first, _ := r.storage.FirstIndex()
	if last < first {
		return
	}
	lo := max(first, last+1-min(last+1-first, recentTailEntries))
	ents, err := r.storage.Entries(lo, last+1, 64<<20)
	if err != nil {
		r.logger.Warn("read the log's last batches", "err", err)
		return
	}
	now := time.Now()
	for _, e := range ents {
		if isBatch(e) {
			r.seen[keyOf(e.Data)] = seenEntry{index: e.GetIndex(), at: now}
		}
	}
	r.lastNoted = last
}

// recentTailEntries bounds the entries rememberTail reads.
const recentTailEntries = 4096

// isBatch reports whether e carries a record batch (not a configuration
// change or a leader's empty entry).
func isBatch(e *raftpb.Entry) bool {
	return e.GetType() == raftpb.EntryType_EntryNormal && len(e.Data) >= batchHeaderBytes
}
