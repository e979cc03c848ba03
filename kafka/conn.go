package kafka

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	connReadBuffer = 64 << 10
	// maxInflight bounds the requests of one connection that are read but
	// not yet answered, which bounds its memory.
	maxInflight = 16
)

// conn is one client connection, served by two goroutines:
//
//   - the reader (serve) reads requests and handles them one at a time, in
//     order. Produce writes its batches before the reader moves on, so each
//     partition gets a connection's batches in request order, but it does
//     not wait for them to be durable;
//   - the writer (writeLoop) takes handled requests in the same order, runs
//     their finish step (Produce's durability wait) and sends the response.
//
// So while request N waits for its fsync, requests N+1... are read and
// written, and one fsync covers them all; responses stay in request order.
type conn struct {
	s      *Server
	nc     net.Conn
	r      *bufio.Reader
	logger *slog.Logger
	frame  []byte // reader: the current request; request fields alias it
	out    []byte // writer: the current response frame
}

// answer is a handled request on its way to the writer.
type answer struct {
	key           int16
	correlationID int32
	resp          kmsg.Response // nil: no response (Produce with acks=0)
	finish        func()        // run before resp is sent; may be nil
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:      s,
		nc:     nc,
		r:      bufio.NewReaderSize(nc, connReadBuffer),
		logger: s.logger.With("remote", nc.RemoteAddr().String()),
	}
}

// serve handles requests until the client leaves, sends something that is
// not a request, or the server stops; then it waits for the answers of the
// requests already handled to be sent.
func (c *conn) serve() {
	answers := make(chan answer, maxInflight-1) // plus the one the writer holds
	written := make(chan struct{})
	go func() {
		defer close(written)
		c.writeLoop(answers)
	}()
	defer func() {
		close(answers)
		<-written
	}()
	for {
		var err error
		var a answer
		c.frame, err = readFrame(c.r, c.frame, c.s.cfg.MaxRequestBytes)
		if err == nil {
			a, err = c.handle(c.frame)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.s.isClosed() {
				c.logger.Warn("kafka connection closed", "err", err)
			}
			return
		}
		if a.resp != nil || a.finish != nil {
			answers <- a
		}
		if cap(c.frame) > maxPooledFrameSize {
			c.frame = nil
		}
	}
}

// writeLoop finishes and sends answers in order. After a failed write it
// closes the connection (ending the reader) and only finishes the rest.
func (c *conn) writeLoop(answers <-chan answer) {
	var failed bool
	for a := range answers {
		if a.finish != nil {
			a.finish()
		}
		if a.resp == nil || failed {
			continue
		}
		c.out = appendResponse(c.out[:0], a.correlationID, a.resp)
		if _, err := c.nc.Write(c.out); err != nil {
			failed = true
			if !c.s.isClosed() {
				c.logger.Warn("kafka connection closed", "err", fmt.Errorf("write response to api key %d: %w", a.key, err))
			}
			_ = c.nc.Close()
		}
		if cap(c.out) > maxPooledFrameSize {
			c.out = nil
		}
	}
}

// handle handles one request frame; an error closes the connection. The
// answer must not alias frame, which the next request overwrites.
func (c *conn) handle(frame []byte) (answer, error) {
	h, body, err := parseRequestHeader(frame)
	if err != nil {
		return answer{}, err
	}
	a := answer{key: h.key, correlationID: h.correlationID}
	api := lookupAPI(h.key, h.version)
	if api == nil {
		if a.resp = unsupportedResponse(h); a.resp == nil {
			return a, fmt.Errorf("unsupported api key %d version %d (correlation id %d)", h.key, h.version, h.correlationID)
		}
		return a, nil
	}
	if err := h.req.ReadFrom(body); err != nil {
		return a, fmt.Errorf("parse api key %d version %d request: %w", h.key, h.version, err)
	}
	rc := requestContext{clientID: h.clientID}
	switch {
	case api.handleAsync != nil:
		a.resp, a.finish = api.handleAsync(c, h.req)
	case api.handleWith != nil:
		a.resp = api.handleWith(c, rc, h.req)
	default:
		a.resp = api.handle(c, h.req)
	}
	return a, nil
}

// requestContext is what a handler may need of the request header.
type requestContext struct {
	clientID *string
}

func (rc requestContext) client() string {
	if rc.clientID == nil {
		return ""
	}
	return *rc.clientID
}
