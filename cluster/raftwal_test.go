package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/siltlog/silt/segments"
)

// TestWALReplay: raft.wal replays to the state written — entries (a later
// record overriding a conflicting tail), configuration changes with their
// data, the last HardState and configuration — and a torn tail is cut.
func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	w, st, err := openWAL(segments.OSFS, dir)
	if err != nil || st != nil {
		t.Fatalf("new wal: %v %v", st, err)
	}
	st = &walState{snap: &raftpb.SnapshotMetadata{Index: new(uint64(0)), Term: new(uint64(0)), ConfState: &raftpb.ConfState{}}}
	if err := w.rewrite(st); err != nil {
		t.Fatal(err)
	}
	w.addEntries(1, []entryMeta{
		{term: 1, typ: raftpb.EntryType_EntryConfChange, data: []byte{1, 2, 3}},
		{term: 1, off: 0, n: 5},
		{term: 1, off: 5, n: 2},
	})
	w.addEntries(3, []entryMeta{{term: 2, off: 5, n: 4}, {term: 2, off: 9}}) // 3 conflicted: replaced
	if err := w.addState(&raftpb.HardState{Term: new(uint64(2)), Commit: new(uint64(3))}); err != nil {
		t.Fatal(err)
	}
	if err := w.addConfState(&raftpb.ConfState{Voters: []uint64{7, 8}}); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(true); err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	// A torn record after the good ones.
	path := filepath.Join(dir, WALFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 40, 1, 2}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	w, st, err = openWAL(segments.OSFS, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if got := st.lastIndex(); got != 4 {
		t.Fatalf("last index %d, want 4", got)
	}
	want := []entryMeta{
		{term: 1, typ: raftpb.EntryType_EntryConfChange, data: []byte{1, 2, 3}},
		{term: 1, off: 0, n: 5},
		{term: 2, off: 5, n: 4},
		{term: 2, off: 9},
	}
	for i, e := range st.ents {
		if e.term != want[i].term || e.off != want[i].off || e.n != want[i].n || e.typ != want[i].typ || string(e.data) != string(want[i].data) {
			t.Errorf("entry %d: %+v, want %+v", i+1, e, want[i])
		}
	}
	if st.hard.GetCommit() != 3 || st.hard.GetTerm() != 2 || len(st.conf.GetVoters()) != 2 || st.end() != 9 {
		t.Errorf("state %v, conf %v, end %d", st.hard, st.conf, st.end())
	}
	if info, _ := os.Stat(path); info.Size() != w.size {
		t.Errorf("torn tail not cut: file %d bytes, good %d", info.Size(), w.size)
	}
}
