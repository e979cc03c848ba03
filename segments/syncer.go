package segments

import "sync"

// Syncer gathers the fsyncs of many logs into rounds: every file waiting when a
// round starts is fsynced in it, all at once, so the filesystem can commit them
// together instead of one journal commit and device flush per file. Logs that
// share a disk should share a Syncer (WithSyncer); a round's goroutine exits when
// nothing waits.
type Syncer struct {
	mu      sync.Mutex
	pending []syncRequest // guarded by mu
	running bool          // guarded by mu: a round goroutine exists
}

type syncRequest struct {
	f    File
	done chan error
}

// NewSyncer returns a Syncer with no rounds running.
func NewSyncer() *Syncer { return &Syncer{} }

// Sync fsyncs f in the next round and returns its result.
func (s *Syncer) Sync(f File) error {
	req := syncRequest{f: f, done: make(chan error, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, req)
	if !s.running {
		s.running = true
		go s.rounds()
	}
	s.mu.Unlock()
	return <-req.done
}

func (s *Syncer) rounds() {
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if len(batch) == 1 {
			batch[0].done <- batch[0].f.Sync()
			continue
		}
		var wg sync.WaitGroup
		for _, req := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req.done <- req.f.Sync()
			}()
		}
		wg.Wait()
	}
}
