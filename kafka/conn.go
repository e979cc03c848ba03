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

const connReadBuffer = 64 << 10

// conn is one client connection. Requests are read, handled and answered one
// at a time, so responses go out in request order.
type conn struct {
	s      *Server
	nc     net.Conn
	r      *bufio.Reader
	logger *slog.Logger
	frame  []byte // the current request; request fields alias it
	out    []byte // the current response frame
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
// not a request, or the server stops.
func (c *conn) serve() {
	for {
		var err error
		c.frame, err = readFrame(c.r, c.frame, c.s.cfg.MaxRequestBytes)
		if err == nil {
			err = c.handle(c.frame)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.s.isClosed() {
				c.logger.Warn("kafka connection closed", "err", err)
			}
			return
		}
		if cap(c.frame) > maxPooledFrameSize {
			c.frame = nil
		}
		if cap(c.out) > maxPooledFrameSize {
			c.out = nil
		}
	}
}

// handle answers one request frame; an error closes the connection.
func (c *conn) handle(frame []byte) error {
	h, body, err := parseRequestHeader(frame)
	if err != nil {
		return err
	}
	api := lookupAPI(h.key, h.version)
	var resp kmsg.Response
	if api == nil {
		if resp = unsupportedResponse(h); resp == nil {
			return fmt.Errorf("unsupported api key %d version %d (correlation id %d)", h.key, h.version, h.correlationID)
		}
	} else {
		if err := h.req.ReadFrom(body); err != nil {
			return fmt.Errorf("parse api key %d version %d request: %w", h.key, h.version, err)
		}
		if resp = api.handle(c, h.req); resp == nil {
			return nil // Produce with acks=0
		}
	}
	c.out = appendResponse(c.out[:0], h.correlationID, resp)
	if _, err := c.nc.Write(c.out); err != nil {
		return fmt.Errorf("write response to api key %d: %w", h.key, err)
	}
	return nil
}
