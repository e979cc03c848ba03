package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/siltlog/silt/segments"
)

// raft.wal record types (FORMAT.md, "raft.wal").
const (
	walEntries   = 1
	walHardState = 2
	walSnapshot  = 3
	walConfState = 4

	walHeader       = 9        // length, crc, type
	walMaxRecord    = 64 << 20 // a longer record is corruption
	walRewriteBytes = 64 << 20 // rewrite the file once it is this long
)

// entryMeta is where raft entry lives in the partition log. A
// configuration change takes no offset: its data is kept here (and in
// raft.wal).
type entryMeta struct {
	term uint64
	off  int64 // base offset of its batch; the log end at its place when n is 0
	n    int64 // records of its batch; 0 for an entry without a batch
	typ  raftpb.EntryType
	data []byte // a configuration change's data
}

func (e entryMeta) end() int64 { return e.off + e.n }

// walState is what raft.wal holds once replayed.
type walState struct {
	snap    *raftpb.SnapshotMetadata // never nil once opened
	snapOff int64                    // log offset after the snapshot's last entry
	hard    *raftpb.HardState        // nil: none written yet
	ents    []entryMeta              // ents[k] has index snap.Index+1+k
	conf    *raftpb.ConfState        // the last configuration applied; nil: the snapshot's
}

func (s *walState) lastIndex() uint64 { return s.snap.GetIndex() + uint64(len(s.ents)) }

// end is the log offset after the last entry.
func (s *walState) end() int64 {
	if len(s.ents) == 0 {
		return s.snapOff
	}
	return s.ents[len(s.ents)-1].end()
}

// cut drops the entries from index i on.
func (s *walState) cut(i uint64) {
	if i <= s.snap.GetIndex() {
		s.ents = s.ents[:0]
		return
	}
	if k := i - s.snap.GetIndex() - 1; k < uint64(len(s.ents)) {
		s.ents = s.ents[:k]
	}
}

// raftWAL appends to one partition's raft.wal.
type raftWAL struct {
	fs   segments.FS
	path string
	f    segments.File
	size int64
	buf  []byte
}

// openWAL replays dir's raft.wal; a torn or failing tail is cut. It returns a
// nil state when there is no file yet.
func openWAL(fsys segments.FS, dir string) (*raftWAL, *walState, error) {
	path := filepath.Join(dir, WALFile)
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return &raftWAL{fs: fsys, path: path}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	st, good, err := replayWAL(f)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	size, err := f.Size()
	if err == nil && size > good {
		err = f.Truncate(good)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	if st.snap == nil {
		return nil, nil, fmt.Errorf("%s: no snapshot record: the group's start is unknown", path)
	}
	if f, err = fsys.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return nil, nil, err
	}
	return &raftWAL{fs: fsys, path: path, f: f, size: good}, st, nil
}

// replayWAL reads records until the end or the first bad one, returning the
// state and the length of the good prefix.
func replayWAL(f segments.File) (*walState, int64, error) {
	st := &walState{}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 64<<10)
	var good int64
	var hdr [walHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return st, good, nil
		}
		n := binary.BigEndian.Uint32(hdr[0:])
		if n < 1 || n > walMaxRecord {
			return st, good, nil
		}
		body := make([]byte, n-1)
		if _, err := io.ReadFull(r, body); err != nil {
			return st, good, nil
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:9], castagnoli), castagnoli, body)
		if crc != binary.BigEndian.Uint32(hdr[4:]) {
			return st, good, nil
		}
		if err := st.apply(hdr[8], body); err != nil {
			return nil, 0, err
		}
		good += int64(walHeader) + int64(n) - 1
	}
}

// apply replays one record.
func (s *walState) apply(typ byte, body []byte) error {
	switch typ {
	case walSnapshot:
		off, k := binary.Uvarint(body)
		if k <= 0 {
			return errors.New("bad snapshot record")
		}
		md := &raftpb.SnapshotMetadata{}
		if err := proto.Unmarshal(body[k:], md); err != nil {
			return fmt.Errorf("snapshot record: %w", err)
		}
		s.snap, s.snapOff, s.ents = md, int64(off), s.ents[:0]
	case walHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(body, hs); err != nil {
			return fmt.Errorf("state record: %w", err)
		}
		s.hard = hs
	case walEntries:
		return s.applyEntries(body)
	case walConfState:
		cs := &raftpb.ConfState{}
		if err := proto.Unmarshal(body, cs); err != nil {
			return fmt.Errorf("configuration record: %w", err)
		}
		s.conf = cs
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

func (s *walState) applyEntries(body []byte) error {
	if s.snap == nil {
		return errors.New("entries before the snapshot record")
	}
	var v [5]uint64
	read := func(want int) error {
		for i := range want {
			x, k := binary.Uvarint(body)
			if k <= 0 {
				return errors.New("bad entries record")
			}
			v[i], body = x, body[k:]
		}
		return nil
	}
	if err := read(2); err != nil {
		return err
	}
	first, count := v[0], v[1]
	if first <= s.snap.GetIndex() || first > s.lastIndex()+1 {
		return fmt.Errorf("entries from %d do not follow the log (snapshot %d, last %d)", first, s.snap.GetIndex(), s.lastIndex())
	}
	s.cut(first)
	for range count {
		if err := read(4); err != nil {
			return err
		}
		e := entryMeta{term: v[0], off: int64(v[1]), n: int64(v[2]), typ: raftpb.EntryType(v[3])}
		if e.typ != raftpb.EntryType_EntryNormal {
			n, k := binary.Uvarint(body)
			if k <= 0 || n > uint64(len(body)-k) {
				return errors.New("bad configuration entry")
			}
			e.data, body = bytes.Clone(body[k:k+int(n)]), body[k+int(n):]
		}
		s.ents = append(s.ents, e)
	}
	return nil
}

// appendRecord adds one record to w's buffer; flush writes the buffer.
func (w *raftWAL) appendRecord(typ byte, body []byte) {
	var hdr [walHeader]byte
	binary.BigEndian.PutUint32(hdr[0:], uint32(len(body)+1))
	hdr[8] = typ
	crc := crc32.Update(crc32.Checksum(hdr[8:9], castagnoli), castagnoli, body)
	binary.BigEndian.PutUint32(hdr[4:], crc)
	w.buf = append(append(w.buf, hdr[:]...), body...)
}

func (w *raftWAL) addEntries(first uint64, ents []entryMeta) {
	body := binary.AppendUvarint(nil, first)
	body = binary.AppendUvarint(body, uint64(len(ents)))
	for _, e := range ents {
		body = binary.AppendUvarint(body, e.term)
		body = binary.AppendUvarint(body, uint64(e.off))
		body = binary.AppendUvarint(body, uint64(e.n))
		body = binary.AppendUvarint(body, uint64(e.typ))
		if e.typ != raftpb.EntryType_EntryNormal {
			body = binary.AppendUvarint(body, uint64(len(e.data)))
			body = append(body, e.data...)
		}
	}
	w.appendRecord(walEntries, body)
}

func (w *raftWAL) addState(hs *raftpb.HardState) error {
	b, err := proto.Marshal(hs)
	if err != nil {
		return err
	}
	w.appendRecord(walHardState, b)
	return nil
}

func (w *raftWAL) addConfState(cs *raftpb.ConfState) error {
	b, err := proto.Marshal(cs)
	if err != nil {
		return err
	}
	w.appendRecord(walConfState, b)
	return nil
}

func (w *raftWAL) addSnapshot(md *raftpb.SnapshotMetadata, off int64) error {
	b, err := proto.Marshal(md)
	if err != nil {
		return err
	}
	w.appendRecord(walSnapshot, append(binary.AppendUvarint(nil, uint64(off)), b...))
	return nil
}

// flush writes the buffered records and, when sync is set, fsyncs them.
func (w *raftWAL) flush(sync bool) error {
	if len(w.buf) > 0 {
		if _, err := w.f.Write(w.buf); err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
		w.size += int64(len(w.buf))
		w.buf = w.buf[:0]
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", w.path, err)
		}
	}
	return nil
}

// rewrite replaces the file with one holding st alone (temp file, fsync,
// rename), so the file does not grow without bound.
func (w *raftWAL) rewrite(st *walState) error {
	tmp := w.path + ".tmp"
	f, err := w.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	nw := &raftWAL{fs: w.fs, path: w.path, f: f}
	if err := nw.addSnapshot(st.snap, st.snapOff); err != nil {
		_ = f.Close()
		return err
	}
	for i := 0; i < len(st.ents); i += 1 << 16 {
		chunk := st.ents[i:min(i+1<<16, len(st.ents))]
		nw.addEntries(st.snap.GetIndex()+1+uint64(i), chunk)
	}
	if st.hard != nil {
		if err := nw.addState(st.hard); err != nil {
			_ = f.Close()
			return err
		}
	}
	if st.conf != nil {
		if err := nw.addConfState(st.conf); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := nw.flush(true); err != nil {
		_ = f.Close()
		return err
	}
	if err := w.fs.Rename(tmp, w.path); err != nil {
		_ = f.Close()
		return err
	}
	if err := w.fs.SyncDir(filepath.Dir(w.path)); err != nil {
		_ = f.Close()
		return err
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	w.f, w.size = f, nw.size
	return nil
}

func (w *raftWAL) close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}
