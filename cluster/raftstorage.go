package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/siltlog/silt/segments"
)

// Record batch header positions used here (segments/FORMAT.md).
const (
	batchPosLength    = 8
	batchPosCRC       = 17
	batchHeaderBytes  = 61
	batchLengthAdjust = 12
)

// logStorage is raft's Storage over a partition log and its raft.wal: entries
// are the log's batches, their index-to-offset map and the raft state are in
// memory, replayed from raft.wal (FORMAT.md, "Replication").
type logStorage struct {
	log    *segments.Log
	logger *slog.Logger

	mu sync.Mutex
	st *walState // guarded by mu
}

var _ raft.Storage = (*logStorage)(nil)

// InitialState implements raft.Storage.
func (s *logStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := &raftpb.HardState{}
	if s.st.hard != nil {
		hs = proto.Clone(s.st.hard).(*raftpb.HardState)
	}
	conf := s.st.conf
	if conf == nil {
		conf = s.st.snap.GetConfState()
	}
	cs := raftpb.EnsureConfState(proto.Clone(raftpb.EnsureConfState(conf)).(*raftpb.ConfState))
	return hs, cs, nil
}

// Term implements raft.Storage.
func (s *logStorage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.st.snap.GetIndex()
	switch {
	case i == snap:
		return s.st.snap.GetTerm(), nil
	case i < snap:
		return 0, raft.ErrCompacted
	case i > s.st.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.st.ents[i-snap-1].term, nil
}

// LastIndex implements raft.Storage.
func (s *logStorage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.lastIndex(), nil
}

// FirstIndex implements raft.Storage.
func (s *logStorage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.snap.GetIndex() + 1, nil
}

// Snapshot implements raft.Storage.
func (s *logStorage) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &raftpb.Snapshot{Metadata: proto.Clone(s.st.snap).(*raftpb.SnapshotMetadata)}, nil
}

// Entries implements raft.Storage: the batches of entries [lo, hi), read
// from the log, up to maxSize bytes (at least one entry).
func (s *logStorage) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	snap := s.st.snap.GetIndex()
	if lo <= snap {
		s.mu.Unlock()
		return nil, raft.ErrCompacted
	}
	if hi > s.st.lastIndex()+1 {
		s.mu.Unlock()
		return nil, raft.ErrUnavailable
	}
	metas := append([]entryMeta(nil), s.st.ents[lo-snap-1:hi-snap-1]...)
	s.mu.Unlock()

	out := make([]*raftpb.Entry, 0, len(metas))
	var buf []byte
	var size uint64
	for k, m := range metas {
		e := &raftpb.Entry{Term: new(m.term), Index: new(lo + uint64(k)), Type: new(m.typ), Data: m.data}
		if m.n > 0 {
			if len(buf) == 0 {
				var err error
				if buf, err = s.log.ReadWritten(nil, m.off, int(min(maxSize, 8<<20))); err != nil {
					if errors.Is(err, segments.ErrOffsetOutOfRange) {
						s.logger.Warn("raft entries below the log start", "index", lo+uint64(k), "offset", m.off, "err", err)
						return nil, raft.ErrCompacted
					}
					return nil, fmt.Errorf("read raft entry %d at offset %d: %w", lo+uint64(k), m.off, err)
				}
			}
			n, err := splitBatch(buf, m.off)
			if err != nil {
				return nil, fmt.Errorf("raft entry %d: %w", lo+uint64(k), err)
			}
			e.Data, buf = buf[:n:n], buf[n:]
		}
		size += uint64(len(e.Data))
		if k > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// splitBatch returns the length of the batch at the start of buf, which must
// be based at off.
func splitBatch(buf []byte, off int64) (int, error) {
	if len(buf) < batchHeaderBytes {
		return 0, fmt.Errorf("no batch at offset %d", off)
	}
	if base := int64(binary.BigEndian.Uint64(buf)); base != off {
		return 0, fmt.Errorf("batch at offset %d where %d was expected", base, off)
	}
	n := int(int32(binary.BigEndian.Uint32(buf[batchPosLength:]))) + batchLengthAdjust
	if n < batchHeaderBytes || n > len(buf) {
		return 0, fmt.Errorf("batch at offset %d has a bad length", off)
	}
	return n, nil
}

// append writes entries to the log after cutting any conflicting tail, and
// records them in w's buffer (not yet written). Callers then sync the log,
// then flush w.
func (s *logStorage) append(ents []*raftpb.Entry, w *raftWAL) error {
	first := ents[0].GetIndex()
	s.mu.Lock()
	last, snap := s.st.lastIndex(), s.st.snap.GetIndex()
	var cut int64 = -1
	switch {
	case first <= snap:
		s.mu.Unlock()
		return fmt.Errorf("append entries from %d: at or below the snapshot %d", first, snap)
	case first > last+1:
		s.mu.Unlock()
		return fmt.Errorf("append entries from %d: the log ends at %d", first, last)
	case first <= last:
		cut = s.st.ents[first-snap-1].off
		s.st.cut(first)
	}
	end := s.st.end()
	s.mu.Unlock()
	if cut >= 0 {
		if err := s.log.Truncate(cut); err != nil {
			return fmt.Errorf("cut the log at %d for a conflicting entry %d: %w", cut, first, err)
		}
	}
	metas := make([]entryMeta, 0, len(ents))
	for _, e := range ents {
		m := entryMeta{term: e.GetTerm(), off: end, typ: e.GetType()}
		if m.typ != raftpb.EntryType_EntryNormal {
			m.data = bytes.Clone(e.Data) // a configuration change: raft.wal only
		} else if len(e.Data) > 0 {
			base, next, err := s.log.StartAppendBatch(e.Data, int32(e.GetTerm()))
			if err != nil {
				return fmt.Errorf("append raft entry %d: %w", e.GetIndex(), err)
			}
			if base != end {
				return fmt.Errorf("append raft entry %d: the log put it at %d, not %d", e.GetIndex(), base, end)
			}
			m.n, end = next-base, next
		}
		metas = append(metas, m)
	}
	s.mu.Lock()
	s.st.ents = append(s.st.ents, metas...)
	s.mu.Unlock()
	w.addEntries(first, metas)
	return nil
}

// setConfState records the configuration just applied.
func (s *logStorage) setConfState(cs *raftpb.ConfState, w *raftWAL) error {
	s.mu.Lock()
	s.st.conf = proto.Clone(cs).(*raftpb.ConfState)
	s.mu.Unlock()
	return w.addConfState(cs)
}

// setHardState records hs in memory and in w's buffer.
func (s *logStorage) setHardState(hs *raftpb.HardState, w *raftWAL) error {
	s.mu.Lock()
	s.st.hard = proto.Clone(hs).(*raftpb.HardState)
	s.mu.Unlock()
	return w.addState(hs)
}

// meta returns where entry i is; false when it is not held.
func (s *logStorage) meta(i uint64) (entryMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.st.snap.GetIndex()
	if i <= snap || i > s.st.lastIndex() {
		return entryMeta{}, false
	}
	return s.st.ents[i-snap-1], true
}

// endOf returns the log offset after entry i (the snapshot's for i at or
// below it).
func (s *logStorage) endOf(i uint64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.st.snap.GetIndex()
	if i <= snap {
		return s.st.snapOff
	}
	return s.st.ents[min(i, s.st.lastIndex())-snap-1].end()
}
