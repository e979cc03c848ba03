package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Forwarding: a node that holds no replica of a partition hands a write to
// a node that does, over the internal transport (FORMAT.md, "Forwarding").
const (
	frameForward   = 3
	frameForwarded = 4

	forwardOK         = 0
	forwardTimeout    = 1
	forwardNotReplica = 2
	forwardFailed     = 3
)

// ForwardHandler writes a forwarded batch on the receiving node and returns
// its offsets once committed.
type ForwardHandler func(ctx context.Context, k PartitionKey, batch []byte) (base, next int64, err error)

// forwardResult is the answer to one forwarded write.
type forwardResult struct {
	base, next int64
	err        error
}

// forwards tracks this node's forwarded writes waiting for an answer.
type forwards struct {
	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan forwardResult
}

func (f *forwards) add() (uint64, chan forwardResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[uint64]chan forwardResult{}
	}
	f.next++
	ch := make(chan forwardResult, 1)
	f.pending[f.next] = ch
	return f.next, ch
}

func (f *forwards) done(id uint64, r forwardResult) {
	f.mu.Lock()
	ch, ok := f.pending[id]
	delete(f.pending, id)
	f.mu.Unlock()
	if ok {
		ch <- r
	}
}

func (f *forwards) forget(id uint64) {
	f.mu.Lock()
	delete(f.pending, id)
	f.mu.Unlock()
}

// Forward asks peer to to write batch to partition k and waits, until ctx
// ends, for its answer.
func (t *Transport) Forward(ctx context.Context, to string, k PartitionKey, batch []byte) (int64, int64, error) {
	id, ch := t.fwd.add()
	defer t.fwd.forget(id)
	timeout := time.Until(deadlineOf(ctx))
	frame := appendForward(nil, id, k, timeout, batch)
	if !t.sendFrame(to, frame) {
		return 0, 0, fmt.Errorf("forward to %s: its queue is full or the transport stopped", to)
	}
	select {
	case r := <-ch:
		return r.base, r.next, r.err
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("forward to %s: %w", to, ErrTimeout)
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(30 * time.Second)
}

// serveForward runs a forwarded write from peer from and sends the answer
// back.
func (t *Transport) serveForward(from string, body []byte) error {
	req, err := decodeForward(body)
	if err != nil {
		return err
	}
	if t.cfg.HandleForward == nil {
		t.sendFrame(from, appendForwarded(nil, req.id, 0, 0, ErrNotReplica))
		return nil
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), req.timeout)
		defer cancel()
		base, next, err := t.cfg.HandleForward(ctx, req.key, req.batch)
		t.sendFrame(from, appendForwarded(nil, req.id, base, next, err))
	}()
	return nil
}

// errorCode and codeError carry a forwarded write's error across the wire.
func errorCode(err error) byte {
	switch {
	case err == nil:
		return forwardOK
	case errors.Is(err, ErrTimeout):
		return forwardTimeout
	case errors.Is(err, ErrNotReplica):
		return forwardNotReplica
	}
	return forwardFailed
}

func codeError(code byte, msg string) error {
	switch code {
	case forwardOK:
		return nil
	case forwardTimeout:
		return fmt.Errorf("%s: %w", msg, ErrTimeout)
	case forwardNotReplica:
		return fmt.Errorf("%s: %w", msg, ErrNotReplica)
	}
	return errors.New(msg)
}

// forwardRequest is a decoded forward frame.
type forwardRequest struct {
	id      uint64
	key     PartitionKey
	timeout time.Duration
	batch   []byte
}

// appendForward appends a forward frame: uvarint id, tenant, topic,
// uvarint partition, uvarint timeout in milliseconds, batch.
func appendForward(dst []byte, id uint64, k PartitionKey, timeout time.Duration, batch []byte) []byte {
	body := binary.AppendUvarint(nil, id)
	body = appendString(body, k.Tenant)
	body = appendString(body, k.Topic)
	body = binary.AppendUvarint(body, uint64(k.Partition))
	body = binary.AppendUvarint(body, uint64(max(timeout, 0)/time.Millisecond))
	body = appendString(body, string(batch))
	return appendFrame(dst, frameForward, body)
}

func decodeForward(body []byte) (forwardRequest, error) {
	d := decoder{b: body}
	var r forwardRequest
	r.id = d.uvarint()
	r.key.Tenant = string(d.bytes())
	r.key.Topic = string(d.bytes())
	p := d.uvarint()
	ms := d.uvarint()
	r.batch = bytes.Clone(d.bytes()) // the frame's buffer is reused
	switch {
	case d.err != nil:
		return r, d.err
	case p > math.MaxInt32 || ms > uint64(time.Hour/time.Millisecond):
		return r, fmt.Errorf("%w: forward of partition %d with timeout %d ms", ErrFrame, p, ms)
	case len(d.b) != 0:
		return r, fmt.Errorf("%w: %d bytes after a forward", ErrFrame, len(d.b))
	}
	r.key.Partition, r.timeout = int32(p), time.Duration(ms)*time.Millisecond
	return r, nil
}

// appendForwarded appends the answer to forward id: uvarint id, code byte,
// varint base, varint next, error text.
func appendForwarded(dst []byte, id uint64, base, next int64, err error) []byte {
	body := binary.AppendUvarint(nil, id)
	body = append(body, errorCode(err))
	body = binary.AppendVarint(body, base)
	body = binary.AppendVarint(body, next)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return appendFrame(dst, frameForwarded, appendString(body, msg))
}

func decodeForwarded(body []byte) (uint64, forwardResult, error) {
	d := decoder{b: body}
	id := d.uvarint()
	code := d.byte()
	var r forwardResult
	r.base, r.next = d.varint(), d.varint()
	msg := string(d.bytes())
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after a forward answer", ErrFrame, len(d.b))
	}
	r.err = codeError(code, msg)
	return id, r, d.err
}
