package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"google.golang.org/protobuf/proto"
)

// Transport limits.
const (
	peerQueueLen    = 4096             // messages queued per peer before dropping
	maxBatchBytes   = 4 << 20          // encoded bytes gathered into one frame
	dialTimeout     = 2 * time.Second  // connecting to a peer
	ioTimeout       = 10 * time.Second // writing a frame, reading a hello
	redialBackoff   = 100 * time.Millisecond
	readBufferBytes = 64 << 10
)

// TransportConfig configures the internal transport.
type TransportConfig struct {
	Self         string // this node's instance ID, sent in the hello
	ClusterLabel string // must match the peer's
	ListenAddr   string // host:port; port 0 picks one
	// Resolve gives a peer's address (from the ring); false if unknown.
	Resolve func(id string) (string, bool)
	// Deliver receives the messages of one frame from peer from, in order.
	Deliver func(from string, msgs []GroupMessage)
	// HandleForward writes a batch a peer forwarded (nil: this node takes
	// none).
	HandleForward ForwardHandler
}

// Transport carries raft messages between nodes: one outgoing connection
// per peer, messages batched into frames (FORMAT.md, "Internal transport").
// Send never blocks: a full queue drops the message, which raft retransmits.
type Transport struct {
	services.Service
	cfg    TransportConfig
	logger *slog.Logger
	ln     net.Listener
	wg     sync.WaitGroup
	fwd    forwards

	mu sync.Mutex
	// Guarded by mu.
	peers  map[string]*peer
	conns  map[net.Conn]struct{}
	closed bool
}

type peer struct {
	id    string
	queue chan outItem
}

// outItem is a raft message, batched with its neighbours, or a frame sent
// as it is (forwarded writes and their answers).
type outItem struct {
	msg   GroupMessage
	frame []byte
}

// NewTransport prepares the transport; it listens once started.
func NewTransport(cfg TransportConfig, logger *slog.Logger) *Transport {
	t := &Transport{cfg: cfg, logger: logger, peers: map[string]*peer{}, conns: map[net.Conn]struct{}{}}
	t.Service = services.NewBasicService(t.starting, t.running, t.stopping).WithName("cluster transport")
	return t
}

// Addr is the address the transport listens on, once started.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

func (t *Transport) starting(context.Context) error {
	ln, err := net.Listen("tcp", t.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("cluster transport: listen: %w", err)
	}
	t.ln = ln
	return nil
}

func (t *Transport) running(ctx context.Context) error {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.accept()
	}()
	<-ctx.Done()
	return nil
}

func (t *Transport) stopping(error) error {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		_ = c.Close()
	}
	for _, p := range t.peers {
		close(p.queue)
	}
	t.mu.Unlock()
	err := t.ln.Close()
	t.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Send queues m for peer to; false if it was dropped (queue full, or the
// transport stopped).
func (t *Transport) Send(to string, m GroupMessage) bool {
	return t.enqueue(to, outItem{msg: m})
}

// sendFrame queues an encoded frame for peer to; false if it was dropped.
func (t *Transport) sendFrame(to string, frame []byte) bool {
	return t.enqueue(to, outItem{frame: frame})
}

func (t *Transport) enqueue(to string, item outItem) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	p, ok := t.peers[to]
	if !ok {
		p = &peer{id: to, queue: make(chan outItem, peerQueueLen)}
		t.peers[to] = p
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.sendLoop(p)
		}()
	}
	select {
	case p.queue <- item:
		return true
	default:
		return false
	}
}

// track registers c for closing at stop; false if stopping already.
func (t *Transport) track(c net.Conn, add bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !add {
		delete(t.conns, c)
		return true
	}
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// sendLoop drains p's queue into frames on one connection, redialling after
// an error. A batch that could not be written is dropped.
func (t *Transport) sendLoop(p *peer) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
			t.track(conn, false)
		}
	}()
	var frame []byte
	for first := range p.queue {
		items := []outItem{first}
		size := 0
	gather:
		for size < maxBatchBytes {
			select {
			case it, ok := <-p.queue:
				if !ok {
					break gather
				}
				items = append(items, it)
				size += len(it.frame)
				if it.msg.Msg != nil {
					size += proto.Size(it.msg.Msg)
				}
			default:
				break gather
			}
		}
		if conn == nil {
			conn = t.dial(p.id)
			if conn == nil {
				time.Sleep(redialBackoff)
				continue
			}
		}
		var err error
		if frame, err = encodeItems(frame[:0], items); err != nil {
			t.logger.Error("encode raft batch", "peer", p.id, "err", err)
			continue
		}
		_ = conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := conn.Write(frame); err != nil {
			t.logger.Debug("send to peer", "peer", p.id, "err", err)
			_ = conn.Close()
			t.track(conn, false)
			conn = nil
		}
	}
}

// dial connects to peer id and sends the hello; nil on failure.
func (t *Transport) dial(id string) net.Conn {
	addr, ok := t.cfg.Resolve(id)
	if !ok {
		return nil
	}
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		t.logger.Debug("dial peer", "peer", id, "addr", addr, "err", err)
		return nil
	}
	if !t.track(c, true) {
		_ = c.Close()
		return nil
	}
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(appendHello(nil, hello{Version: transportVersion, From: t.cfg.Self, ClusterLabel: t.cfg.ClusterLabel})); err != nil {
		_ = c.Close()
		t.track(c, false)
		return nil
	}
	return c
}

func (t *Transport) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return // listener closed at stop
		}
		if !t.track(c, true) {
			_ = c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.track(c, false)
			defer c.Close()
			err := t.receive(c) // returns only when the connection ends
			t.logger.Debug("raft connection closed", "remote", c.RemoteAddr().String(), "err", err)
		}()
	}
}

// receive reads the hello, then delivers each batch frame until the
// connection fails or sends a bad frame; it always returns why.
func (t *Transport) receive(c net.Conn) error {
	r := bufio.NewReaderSize(c, readBufferBytes)
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	typ, body, buf, err := readFrame(r, nil)
	if err != nil {
		return err
	}
	if typ != frameHello {
		return fmt.Errorf("%w: first frame of type %d, want hello", ErrFrame, typ)
	}
	h, err := decodeHello(body)
	if err != nil {
		return err
	}
	if h.Version != transportVersion || h.ClusterLabel != t.cfg.ClusterLabel {
		return fmt.Errorf("peer %q: version %d, cluster label %q; want %d, %q",
			h.From, h.Version, h.ClusterLabel, transportVersion, t.cfg.ClusterLabel)
	}
	_ = c.SetReadDeadline(time.Time{})
	for {
		typ, body, buf, err = readFrame(r, buf)
		if err != nil {
			return err
		}
		switch typ {
		case frameBatch:
			msgs, err := decodeBatch(body)
			if err != nil {
				return err
			}
			t.cfg.Deliver(h.From, msgs)
		case frameForward:
			if err := t.serveForward(h.From, body); err != nil {
				return err
			}
		case frameForwarded:
			id, res, err := decodeForwarded(body)
			if err != nil {
				return err
			}
			t.fwd.done(id, res)
		default:
			return fmt.Errorf("%w: frame type %d", ErrFrame, typ)
		}
	}
}

// encodeItems appends items as frames: runs of raft messages as one batch
// frame each, encoded frames as they are.
func encodeItems(dst []byte, items []outItem) ([]byte, error) {
	var run []GroupMessage
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		var err error
		dst, err = appendBatch(dst, run)
		run = run[:0]
		return err
	}
	for _, it := range items {
		if it.frame == nil {
			run = append(run, it.msg)
			continue
		}
		if err := flush(); err != nil {
			return dst, err
		}
		dst = append(dst, it.frame...)
	}
	return dst, flush()
}
