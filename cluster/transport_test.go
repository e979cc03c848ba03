package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func raftMsg(i uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3), Index: proto.Uint64(i),
		Entries: []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(i + 1), Data: []byte("batch")}},
	}
}

// receiver collects delivered messages.
type receiver struct {
	mu     sync.Mutex
	from   map[string]int
	msgs   []GroupMessage
	frames int
}

func (r *receiver) deliver(from string, msgs []GroupMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from == nil {
		r.from = map[string]int{}
	}
	r.from[from] += len(msgs)
	r.msgs = append(r.msgs, msgs...)
	r.frames++
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func startTransport(t *testing.T, self, label string, peers map[string]string, r *receiver) *Transport {
	t.Helper()
	var mu sync.Mutex
	tr := NewTransport(TransportConfig{
		Self: self, ClusterLabel: label, ListenAddr: "127.0.0.1:0",
		Resolve: func(id string) (string, bool) { mu.Lock(); defer mu.Unlock(); a, ok := peers[id]; return a, ok },
		Deliver: r.deliver,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := services.StartAndAwaitRunning(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), tr) })
	mu.Lock()
	peers[self] = tr.Addr()
	mu.Unlock()
	return tr
}

// TestTransport: messages of several groups reach the peer in order, batched
// into fewer frames than messages; a peer with another cluster label gets
// nothing; garbage on the port does not stop the receiver.
func TestTransport(t *testing.T) {
	peers := map[string]string{}
	var ra, rb, rc receiver
	a := startTransport(t, "a", "prod", peers, &ra)
	startTransport(t, "b", "prod", peers, &rb)
	startTransport(t, "c", "other", peers, &rc)

	// Garbage first: a bad frame closes that connection only.
	conn, err := net.Dial("tcp", peers["b"])
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	_ = conn.Close()

	const n = 3000
	keys := []PartitionKey{{"t", "logs", 0}, {"t", "logs", 1}, {"u", "metrics", 7}}
	for i := range n {
		if !a.Send("b", GroupMessage{Key: keys[i%3], Msg: raftMsg(uint64(i))}) {
			t.Fatalf("message %d dropped", i)
		}
		a.Send("c", GroupMessage{Key: keys[0], Msg: raftMsg(uint64(i))})
	}
	poll(t, 10*time.Second, "b receives every message", func() bool { return rb.count() == n })
	rb.mu.Lock()
	for i, m := range rb.msgs {
		if m.Key != keys[i%3] || m.Msg.GetIndex() != uint64(i) || string(m.Msg.GetEntries()[0].GetData()) != "batch" {
			t.Fatalf("message %d: %v %v", i, m.Key, m.Msg)
		}
	}
	if rb.from["a"] != n || rb.frames >= n {
		t.Errorf("from %v in %d frames; want %d from a in fewer frames", rb.from, rb.frames, n)
	}
	rb.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if rc.count() != 0 {
		t.Errorf("peer with another cluster label received %d messages", rc.count())
	}
}

func TestTransportFrames(t *testing.T) {
	good, err := appendBatch(nil, []GroupMessage{{Key: PartitionKey{"t", "logs", 2}, Msg: raftMsg(9)}})
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	flip[len(flip)-1] ^= 1
	huge := bytes.Clone(good)
	huge[0] = 0xff
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"good", good, nil},
		{"bit flip", flip, ErrFrame},
		{"too long", huge, ErrFrame},
		{"truncated", good[:len(good)-3], ErrFrame},
		{"empty", nil, io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ, body, _, err := readFrame(bytes.NewReader(tc.frame), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("readFrame: %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			msgs, err := decodeBatch(body)
			if typ != frameBatch || err != nil || len(msgs) != 1 || msgs[0].Msg.GetIndex() != 9 || msgs[0].Key.Partition != 2 {
				t.Fatalf("decoded %d %v %v", typ, msgs, err)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	good, _ := appendBatch(nil, []GroupMessage{{Key: PartitionKey{"t", "logs", 2}, Msg: raftMsg(9)}})
	f.Add(good)
	f.Add(appendHello(nil, hello{Version: 1, From: "a", ClusterLabel: "x"}))
	f.Add(appendForward(nil, 7, PartitionKey{"t", "logs", 1}, time.Second, []byte("batch")))
	f.Add(appendForwarded(nil, 7, 10, 12, ErrNotReplica))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, _, err := readFrame(bytes.NewReader(data), nil)
		if err != nil {
			return
		}
		switch typ {
		case frameHello:
			_, _ = decodeHello(body)
		case frameBatch:
			msgs, err := decodeBatch(body)
			if err != nil {
				return
			}
			again, err := appendBatch(nil, msgs)
			if err != nil {
				t.Fatal(err)
			}
			_, body2, _, err := readFrame(bytes.NewReader(again), nil)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := decodeBatch(body2); err != nil || len(back) != len(msgs) {
				t.Fatalf("round trip: %v", err)
			}
		case frameForward:
			req, err := decodeForward(body)
			if err != nil {
				return
			}
			_, body2, _, _ := readFrame(bytes.NewReader(appendForward(nil, req.id, req.key, req.timeout, req.batch)), nil)
			if back, err := decodeForward(body2); err != nil || back.id != req.id || back.key != req.key || !bytes.Equal(back.batch, req.batch) {
				t.Fatalf("forward round trip: %v %+v %+v", err, back, req)
			}
		case frameForwarded:
			_, _, _ = decodeForwarded(body)
		}
	})
}
