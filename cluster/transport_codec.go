package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Frame types and limits of the internal transport; see FORMAT.md.
const (
	frameHello       = 1
	frameBatch       = 2
	transportVersion = 1
	// maxFrameBytes bounds a frame, so a corrupt length cannot make the
	// receiver allocate without limit.
	maxFrameBytes = 64 << 20
	frameHeader   = 4 + 4 + 1
)

// ErrFrame is a frame that cannot be trusted: the connection is closed.
var ErrFrame = errors.New("cluster transport: bad frame")

// GroupMessage is one raft message of one partition's group.
type GroupMessage struct {
	Key PartitionKey
	Msg *raftpb.Message
}

// appendFrame appends a frame of typ with body to dst.
func appendFrame(dst []byte, typ byte, body []byte) []byte {
	var h [frameHeader]byte
	binary.BigEndian.PutUint32(h[0:], uint32(4+1+len(body)))
	crc := crc32.Update(crc32.Checksum([]byte{typ}, castagnoli), castagnoli, body)
	binary.BigEndian.PutUint32(h[4:], crc)
	h[8] = typ
	return append(append(dst, h[:]...), body...)
}

// readFrame reads one frame into buf (grown as needed) and returns its type
// and body (aliasing buf).
func readFrame(r io.Reader, buf []byte) (byte, []byte, []byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(h[0:])
	if n < 5 || n > maxFrameBytes {
		return 0, nil, buf, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	size := int(n) - 5
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	body := buf[:size]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, buf, fmt.Errorf("%w: short body: %v", ErrFrame, err)
	}
	typ := h[8]
	if crc := crc32.Update(crc32.Checksum([]byte{typ}, castagnoli), castagnoli, body); crc != binary.BigEndian.Uint32(h[4:]) {
		return 0, nil, buf, fmt.Errorf("%w: checksum", ErrFrame)
	}
	return typ, body, buf, nil
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// decoder reads the fields of a frame body and keeps the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrFrame)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrFrame)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: field of %d bytes, %d left", ErrFrame, n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("%w: truncated", ErrFrame)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// hello is the first frame of a connection.
type hello struct {
	Version      byte
	From         string
	ClusterLabel string
}

func appendHello(dst []byte, h hello) []byte {
	body := appendString(appendString([]byte{h.Version}, h.From), h.ClusterLabel)
	return appendFrame(dst, frameHello, body)
}

func decodeHello(body []byte) (hello, error) {
	d := decoder{b: body}
	h := hello{Version: d.byte(), From: string(d.bytes()), ClusterLabel: string(d.bytes())}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after hello", ErrFrame, len(d.b))
	}
	return h, d.err
}

// appendBatch appends a batch frame of msgs to dst.
func appendBatch(dst []byte, msgs []GroupMessage) ([]byte, error) {
	body := binary.AppendUvarint(nil, uint64(len(msgs)))
	for _, m := range msgs {
		b, err := proto.Marshal(m.Msg)
		if err != nil {
			return dst, fmt.Errorf("cluster transport: encode raft message: %w", err)
		}
		body = appendString(body, m.Key.Tenant)
		body = appendString(body, m.Key.Topic)
		body = binary.AppendUvarint(body, uint64(m.Key.Partition))
		body = appendString(body, string(b))
	}
	return appendFrame(dst, frameBatch, body), nil
}

// decodeBatch decodes a batch frame's body.
func decodeBatch(body []byte) ([]GroupMessage, error) {
	d := decoder{b: body}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(body)) { // every message takes at least a byte
		return nil, fmt.Errorf("%w: %d messages in %d bytes", ErrFrame, n, len(body))
	}
	out := make([]GroupMessage, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var m GroupMessage
		m.Key.Tenant = string(d.bytes())
		m.Key.Topic = string(d.bytes())
		p := d.uvarint()
		if p > math.MaxInt32 {
			d.err = fmt.Errorf("%w: partition %d", ErrFrame, p)
		}
		m.Key.Partition = int32(p)
		raw := d.bytes()
		if d.err != nil {
			break
		}
		m.Msg = &raftpb.Message{}
		if err := proto.Unmarshal(raw, m.Msg); err != nil {
			return nil, fmt.Errorf("%w: raft message: %v", ErrFrame, err)
		}
		out = append(out, m)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after the batch", ErrFrame, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}
