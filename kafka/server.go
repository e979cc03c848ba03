package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"golang.org/x/time/rate"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/groups"
	"github.com/siltlog/silt/segments/topics"
)

// Store is what the listener needs of the topic store (*topics.Store).
type Store interface {
	Registry() (*topics.Registry, error)
	Partition(tenant, topic string, p int) (*segments.Log, error)
	DeleteTopic(tenant, name string) error
	// Replicator is the partitions' raft groups in a cluster, nil on a
	// single node.
	Replicator() topics.Replicator
}

// Server is the Kafka protocol listener. It is a dskit service: starting
// binds the listener, running accepts connections, stopping closes the
// listener and every connection (ending their long polls) and waits for them.
type Server struct {
	services.Service

	cfg       Config
	store     Store
	offsets   *groups.Store // committed offsets, shared with the HTTP groups API
	coord     *coordinator
	producers *producers
	logger    *slog.Logger
	// warn rate-limits logs of refused connections and storage errors, which
	// could otherwise flood the log.
	warn rate.Sometimes
	done chan struct{}  // closed when stopping begins: ends long polls
	wg   sync.WaitGroup // the accept loop and every connection

	ln        net.Listener
	host      string // advertised in Metadata
	port      int32
	clusterID string

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
}

// NewServer returns the Kafka listener; it listens once started. offsets
// must be running while the listener is.
func NewServer(cfg Config, store Store, offsets *groups.Store, logger *slog.Logger) *Server {
	s := &Server{
		cfg:       cfg,
		store:     store,
		offsets:   offsets,
		coord:     newCoordinator(),
		producers: newProducers(),
		logger:    logger,
		warn:      rate.Sometimes{Interval: 10 * time.Second},
		done:      make(chan struct{}),
		conns:     map[net.Conn]struct{}{},
		clusterID: "silt",
	}
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping).WithName("kafka")
	return s
}

// Addr returns the bound address (nil before starting or when disabled).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) starting(context.Context) error {
	if s.cfg.ListenAddress == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("kafka: listen on %s: %w", s.cfg.ListenAddress, err)
	}
	adv := s.cfg.AdvertisedAddress
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, port, err := splitHostPort(adv)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("kafka: advertised address %q: %w", adv, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			_ = ln.Close()
			return fmt.Errorf("kafka: listening on %s needs -kafka.advertised-address (no hostname: %w)", adv, err)
		}
	}
	s.ln, s.host, s.port = ln, host, port
	s.logger.Info("kafka listener started", "addr", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))), "tenant", s.cfg.Tenant)
	return nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("want host:port with a numeric port")
	}
	return host, int32(port), nil
}

func (s *Server) running(ctx context.Context) error {
	if s.ln == nil {
		<-ctx.Done()
		return nil
	}
	acceptErr := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		acceptErr <- s.acceptLoop()
	}()
	// Group sessions and rebalance deadlines are checked here.
	tick := time.NewTicker(groupTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-acceptErr:
			return err
		case now := <-tick.C:
			s.coord.tick(now)
		}
	}
}

func (s *Server) stopping(error) error {
	close(s.done)
	if s.ln == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.logger.Info("kafka listener stopped")
	return nil
}

func (s *Server) acceptLoop() error {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			switch {
			case s.isClosed():
				return nil
			case errors.As(err, &ne) && ne.Timeout():
				continue
			}
			return fmt.Errorf("kafka: accept: %w", err)
		}
		if !s.track(nc) {
			_ = nc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			newConn(s, nc).serve()
		}()
	}
}

// track registers nc, refusing it past MaxConnections or once stopping.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.warn.Do(func() {
			s.logger.Warn("kafka connection refused: at -kafka.max-connections", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConnections)
		})
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	_ = nc.Close()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// partition returns the served tenant's partition log.
func (s *Server) partition(topic string, p int32) (*segments.Log, error) {
	return s.store.Partition(s.cfg.Tenant, topic, int(p))
}
