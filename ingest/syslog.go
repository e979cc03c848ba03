package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"golang.org/x/time/rate"

	"github.com/siltlog/silt/segments/topics"
)

// SyslogConfig configures the syslog receiver (RFC 5424 and RFC 3164 over TCP
// and UDP on one address).
type SyslogConfig struct {
	ListenAddress  string        `yaml:"listen_address"`
	Tenant         string        `yaml:"tenant"`
	MaxMessageSize int           `yaml:"max_message_size"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxConnections int           `yaml:"max_connections"`
	BatchSize      int           `yaml:"batch_size"`
	BatchWait      time.Duration `yaml:"batch_wait"`
}

// RegisterFlags registers the syslog flags under -syslog.*.
func (c *SyslogConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.ListenAddress, "syslog.listen-address", "127.0.0.1:5514", "TCP and UDP address of the syslog receiver (RFC 5424 and RFC 3164); empty disables it.")
	f.StringVar(&c.Tenant, "syslog.tenant", DefaultTenant, "Tenant that syslog messages are stored under.")
	f.IntVar(&c.MaxMessageSize, "syslog.max-message-size", 64<<10, "Longest syslog message in bytes; longer ones are truncated.")
	f.DurationVar(&c.IdleTimeout, "syslog.idle-timeout", 2*time.Minute, "Close a TCP connection that sends nothing for this long (0 = never).")
	f.IntVar(&c.MaxConnections, "syslog.max-connections", 512, "Most concurrent TCP connections; more are refused.")
	f.IntVar(&c.BatchSize, "syslog.batch-size", 1000, "Messages of a connection appended together.")
	f.DurationVar(&c.BatchWait, "syslog.batch-wait", 100*time.Millisecond, "Longest a received message waits for its batch to fill before it is appended.")
}

// Validate reports the first setting that cannot work.
func (c *SyslogConfig) Validate() error {
	if c.ListenAddress == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("syslog.listen-address %q: %w", c.ListenAddress, err)
	}
	if err := topics.ValidateTenantID(c.Tenant); err != nil {
		return fmt.Errorf("syslog.tenant: %w", err)
	}
	switch {
	case c.MaxMessageSize < 480 || c.MaxMessageSize > 16<<20:
		return errors.New("syslog.max-message-size must be between 480 (RFC 5424's minimum) and 16 MiB")
	case c.IdleTimeout < 0:
		return errors.New("syslog.idle-timeout must not be negative")
	case c.MaxConnections < 1:
		return errors.New("syslog.max-connections must be at least 1")
	case c.BatchSize < 1:
		return errors.New("syslog.batch-size must be at least 1")
	case c.BatchWait <= 0:
		return errors.New("syslog.batch-wait must be positive")
	}
	return nil
}

// SyslogServer receives syslog over TCP (octet counting or LF/NUL framing,
// detected per message, RFC 6587) and UDP (one message per datagram, RFC
// 5426) and pushes batches of messages to the distributor. It is a dskit
// service: starting binds both sockets, running accepts, stopping closes the
// sockets and connections, pushes what they had received and waits for them.
//
// Memory is bounded: each connection holds at most one batch (BatchSize
// messages, 1 MiB of lines) and one message buffer, and there are at most
// MaxConnections. A connection is not read while its batch is being pushed,
// so a slow log backs up into the sender's queue (TCP) or the socket buffer
// (UDP, where the kernel then drops datagrams).
type SyslogServer struct {
	services.Service

	cfg    SyslogConfig
	d      *Distributor
	logger *slog.Logger
	loc    *time.Location // zone of RFC 3164 timestamps, which carry none
	// warnPush and warnConn rate-limit the logs of dropped batches and refused
	// connections: one line per event would flood the log under overload.
	warnPush, warnConn rate.Sometimes
	done               chan struct{}  // closed when stopping begins
	wg                 sync.WaitGroup // the accept loop, the UDP reader and every connection

	tcp net.Listener
	udp *net.UDPConn

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
}

// NewSyslogServer returns the syslog receiver; it listens once started.
func NewSyslogServer(cfg SyslogConfig, d *Distributor, logger *slog.Logger) *SyslogServer {
	s := &SyslogServer{
		cfg:      cfg,
		d:        d,
		logger:   logger,
		loc:      time.Local,
		warnPush: rate.Sometimes{Interval: 10 * time.Second},
		warnConn: rate.Sometimes{Interval: 10 * time.Second},
		done:     make(chan struct{}),
		conns:    map[net.Conn]struct{}{},
	}
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping).WithName("syslog")
	return s
}

// TCPAddr returns the bound TCP address (nil before starting or when disabled).
func (s *SyslogServer) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// UDPAddr returns the bound UDP address (nil before starting or when disabled).
func (s *SyslogServer) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

func (s *SyslogServer) starting(context.Context) error {
	if s.cfg.ListenAddress == "" {
		return nil
	}
	tcp, err := net.Listen("tcp", s.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("syslog: listen on tcp %s: %w", s.cfg.ListenAddress, err)
	}
	addr, err := net.ResolveUDPAddr("udp", s.cfg.ListenAddress)
	if err == nil {
		s.udp, err = net.ListenUDP("udp", addr)
	}
	if err != nil {
		_ = tcp.Close()
		return fmt.Errorf("syslog: listen on udp %s: %w", s.cfg.ListenAddress, err)
	}
	s.tcp = tcp
	s.logger.Info("syslog receiver listening", "tcp", s.TCPAddr().String(), "udp", s.UDPAddr().String(), "tenant", s.cfg.Tenant)
	return nil
}

func (s *SyslogServer) running(ctx context.Context) error {
	if s.tcp == nil {
		<-ctx.Done()
		return nil
	}
	acceptErr := make(chan error, 1)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		acceptErr <- s.acceptLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.serveUDP()
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-acceptErr:
		return err
	}
}

func (s *SyslogServer) stopping(error) error {
	close(s.done)
	if s.tcp == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	_ = s.tcp.Close()
	_ = s.udp.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.logger.Info("syslog receiver stopped")
	return nil
}

func (s *SyslogServer) acceptLoop() error {
	for {
		conn, err := s.tcp.Accept()
		if err != nil {
			var ne net.Error
			switch {
			case s.isClosed():
				return nil
			case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
				continue
			}
			return fmt.Errorf("syslog: accept: %w", err)
		}
		if !s.track(conn) {
			_ = conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.serveConn(conn)
		}()
	}
}

// track registers conn, refusing it past MaxConnections or once stopping.
func (s *SyslogServer) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.warnConn.Do(func() {
			s.logger.Warn("syslog connection refused: at -syslog.max-connections", "remote", conn.RemoteAddr().String(), "max", s.cfg.MaxConnections)
		})
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *SyslogServer) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	_ = conn.Close()
}

func (s *SyslogServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// serveConn reads one TCP connection until it ends, idles out or the server
// stops, pushing a batch when it is full or its first message is BatchWait old.
func (s *SyslogServer) serveConn(conn net.Conn) {
	peer := syslogPeerHost(conn.RemoteAddr())
	fr := newSyslogFramer(conn, s.cfg.MaxMessageSize)
	b := newSyslogBatch(s.cfg.Tenant, &s.d.cfg.Limits, s.loc)
	var deadline time.Time
	setDeadline := func(t time.Time) {
		if !t.Equal(deadline) {
			deadline = t
			_ = conn.SetReadDeadline(t)
		}
	}
	idle := func(now time.Time) time.Time {
		if s.cfg.IdleTimeout == 0 {
			return time.Time{}
		}
		return now.Add(s.cfg.IdleTimeout)
	}
	setDeadline(idle(time.Now()))
	for {
		msg, err := fr.next()
		now := time.Now()
		if err == nil {
			b.add(msg, peer, now)
			if b.lines == 1 {
				setDeadline(b.first.Add(s.cfg.BatchWait))
			}
			if b.full(s.cfg.BatchSize) || !now.Before(b.first.Add(s.cfg.BatchWait)) {
				s.flush(b)
				setDeadline(idle(now))
			}
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && b.lines > 0 {
			s.flush(b)
			setDeadline(idle(now))
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.logger.Debug("syslog connection idle, closing", "remote", conn.RemoteAddr().String(), "idle_timeout", s.cfg.IdleTimeout)
		}
		s.flush(b)
		return
	}
}

// serveUDP reads datagrams until the socket closes, one message each.
func (s *SyslogServer) serveUDP() {
	buf := make([]byte, 64<<10) // the largest UDP payload
	b := newSyslogBatch(s.cfg.Tenant, &s.d.cfg.Limits, s.loc)
	for {
		n, addr, err := s.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err == nil {
			msg := buf[:min(n, s.cfg.MaxMessageSize)]
			if len(trimSyslogNewline(msg)) > 0 {
				b.add(msg, addr.Addr().Unmap().String(), now)
			}
			if b.lines == 1 {
				_ = s.udp.SetReadDeadline(b.first.Add(s.cfg.BatchWait))
			}
			if b.lines > 0 && (b.full(s.cfg.BatchSize) || !now.Before(b.first.Add(s.cfg.BatchWait))) {
				s.flush(b)
				_ = s.udp.SetReadDeadline(time.Time{})
			}
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.flush(b)
			_ = s.udp.SetReadDeadline(time.Time{})
			continue
		}
		s.flush(b)
		if !s.isClosed() {
			s.logger.Error("syslog: udp read failed; UDP receiving stopped", "err", err)
		}
		return
	}
}

// flush pushes the batch, if any; a refused batch is logged (rate-limited)
// and counted, never retried past syslogPushTimeout.
func (s *SyslogServer) flush(b *syslogBatch) {
	if b.lines == 0 {
		return
	}
	req := b.take()
	if err := s.push(req, s.done); err != nil {
		lines, _ := req.Lines()
		s.warnPush.Do(func() {
			s.logger.Warn("syslog messages dropped: append refused", "lines", lines, "tenant", req.Tenant, "err", err)
		})
	}
}

// peerHost returns the IP address of a connection's remote end.
func syslogPeerHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
