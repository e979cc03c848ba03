package segments

// Replication support: a replicated partition's log holds batches that are
// written (and fsynced) before a majority of replicas has them. Readers must
// not see them until they are committed, since a new leader may cut them.

// WithCommitGate makes readers see only offsets below the commit point set
// with Commit (the high watermark), besides durable. The log starts with
// nothing committed past its start offset.
func WithCommitGate() Option { return func(l *Log) { l.gated = true } }

// Commit raises the commit point to next: offsets below it are committed by
// replication and, once durable, readable. It never lowers it.
func (l *Log) Commit(next int64) {
	l.mu.Lock()
	l.mu.committed = max(l.mu.committed, next)
	l.raiseVisibleLocked()
	l.mu.Unlock()
}

// WrittenEnd returns the offset after the last written batch, durable or
// not, committed or not.
func (l *Log) WrittenEnd() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.segs[len(l.mu.segs)-1].next()
}

// ReadWritten is ReadBatches over every written batch, past the commit
// point and durability: replication sends followers what they lack.
func (l *Log) ReadWritten(dst []byte, off int64, maxBytes int) ([]byte, error) {
	return l.readBatches(dst, off, maxBytes, true)
}

// Sync makes every written batch durable, whatever the fsync policy:
// replication acknowledges entries only once they are on disk.
func (l *Log) Sync() error {
	return l.syncTo(l.WrittenEnd())
}
