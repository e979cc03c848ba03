package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments"
)

// rawClient speaks the wire protocol by hand, for frames no client library
// would send.
type rawClient struct {
	tb testing.TB
	nc net.Conn
}

func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{tb: tb, nc: nc}
}

func (c *rawClient) send(p []byte) {
	c.tb.Helper()
	if _, err := c.nc.Write(p); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// request sends req and returns the response body after the header, which
// it checks carries correlation id 7.
func (c *rawClient) request(req kmsg.Request, flexibleHeader bool) []byte {
	c.tb.Helper()
	c.send(kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 7))
	body, err := c.readResponse()
	if err != nil {
		c.tb.Fatalf("read response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != 7 {
		c.tb.Fatalf("correlation id %d, want 7", got)
	}
	body = body[4:]
	if flexibleHeader {
		body = body[1:]
	}
	return body
}

func (c *rawClient) readResponse() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, body)
	return body, err
}

// expectClosed checks that the server closed the connection without a reply.
func (c *rawClient) expectClosed() {
	c.tb.Helper()
	if b, err := c.readResponse(); err == nil {
		c.tb.Fatalf("got a %d-byte response, want the connection closed", len(b))
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		c.tb.Fatalf("want the connection closed, got %v", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func header(key, version int16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	ts := startServer(t, nil)
	ts.createTopic(t, "t", 1)
	produce := validProduceRequest(t, "t")
	cases := []struct {
		name string
		raw  []byte
	}{
		{"negative size", []byte{0xff, 0xff, 0xff, 0xff}},
		{"absurd size", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"size above max request bytes", binary.BigEndian.AppendUint32(nil, 200<<20)},
		{"size below a header", frame([]byte{0, 18, 0})},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), header(18, 0)...)},
		{"unknown api key", frame(header(999, 0))},
		{"negative api key", frame(header(-3, 0))},
		{"truncated client id", frame(append(header(3, 1)[:8], 0, 20, 'a'))},
		{"flexible header without tags", frame(header(3, 9))},
		{"produce body cut short", frame(produce[4 : len(produce)-9])},
		{"produce version kmsg does not know", frame(append(header(0, 99), produce[14:]...))},
		{"fetch v3 (not served, no top-level error code)", frame(header(1, 3))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.send(tc.raw)
			if tc.name == "truncated frame" {
				_ = c.nc.(*net.TCPConn).CloseWrite()
			}
			c.expectClosed()
			// The broker still serves and the log is untouched.
			var resp kmsg.ApiVersionsResponse
			resp.Version = 0
			if err := resp.ReadFrom(dialRaw(t, ts.addr).request(kmsg.NewPtrApiVersionsRequest(), false)); err != nil || resp.ErrorCode != 0 {
				t.Fatalf("ApiVersions after a bad frame: %v, error code %d", err, resp.ErrorCode)
			}
			if n := ts.log(t, "t", 0).NextOffset(); n != 0 {
				t.Fatalf("log next offset %d after bad frames, want 0", n)
			}
		})
	}
}

// validProduceRequest is a Produce v7 request frame for topic partition 0
// holding one valid batch.
func validProduceRequest(tb testing.TB, topic string) []byte {
	tb.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch(3)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return kmsg.NewRequestFormatter().AppendRequest(nil, req, 7)
}

// testBatch encodes n records as one uncompressed batch.
func testBatch(n int) []byte {
	recs := make([]segments.Record, n)
	for i := range recs {
		recs[i] = segments.Record{Timestamp: int64(1_700_000_000_000+i) * 1e6, Value: []byte("line " + string(rune('a'+i%26)))}
	}
	var enc segments.BatchEncoder
	return enc.AppendBatch(nil, recs)
}

func TestUnsupportedVersions(t *testing.T) {
	ts := startServer(t, nil)
	t.Run("ApiVersions v9 answers v0 with the supported list", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 9 // formatted as flexible; the response header stays v0
		var resp kmsg.ApiVersionsResponse
		if err := resp.ReadFrom(dialRaw(t, ts.addr).request(req, false)); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(apis) {
			t.Fatalf("error code %d, %d api keys; want %d and %d", resp.ErrorCode, len(resp.ApiKeys), kerr.UnsupportedVersion.Code, len(apis))
		}
	})
	t.Run("ApiVersions v3 has a v0 response header", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		if err := resp.ReadFrom(dialRaw(t, ts.addr).request(req, false)); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
			t.Fatalf("error code %d, %d api keys", resp.ErrorCode, len(resp.ApiKeys))
		}
	})
	t.Run("EndTxn (not served) gets UNSUPPORTED_VERSION", func(t *testing.T) {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version, req.TransactionalID = 3, "tx"
		resp := kmsg.NewPtrEndTxnResponse()
		resp.Version = 3
		c := dialRaw(t, ts.addr)
		if err := resp.ReadFrom(c.request(req, true)); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error code %d, want %d", resp.ErrorCode, kerr.UnsupportedVersion.Code)
		}
		// The connection stays usable.
		var av kmsg.ApiVersionsResponse
		if err := av.ReadFrom(c.request(kmsg.NewPtrApiVersionsRequest(), false)); err != nil {
			t.Fatal(err)
		}
	})
}
