package topics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/siltlog/silt/segments"
)

// DeleteTopic deletes tenant's topic: its registry entry and the data of
// every partition. Built-in topics cannot be deleted (ErrBuiltinTopic).
//
// The steps are ordered so that a crash never lets deleted records reappear:
//
//  1. close the topic's open logs and rename <tenants>/<tenant>/<topic> into
//     DeletedDir, fsyncing both parent directories;
//  2. remove the topic from the registry (persisted atomically);
//  3. remove the renamed directory.
//
// A crash after step 1 leaves the topic registered but empty; the delete was
// not acknowledged, and retrying it succeeds. The opposite order could leave
// partition data without a registry entry, which a topic later created under
// the same name would silently inherit. A crash after step 2 leaves the data
// in DeletedDir, which the next start removes. s.mu is held through steps 1
// and 2, and partition re-checks the registry before opening a log, so no
// log of the topic is reopened meanwhile or afterwards.
func (s *Store) DeleteTopic(tenant, name string) error {
	reg, err := s.Registry()
	if err != nil {
		return err
	}
	if err := validateIDs(tenant, name); err != nil {
		return err
	}
	if IsBuiltin(name) {
		return reg.Delete(tenant, name) // refuses with ErrBuiltinTopic
	}
	s.mu.Lock()
	trash, err := s.deleteTopicLocked(reg, tenant, name)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if trash != "" && s.cold != nil {
		s.deleteColdObjects(tenant, name, filepath.Join(trash, name))
	}
	if trash != "" {
		if err := os.RemoveAll(trash); err != nil {
			// The topic is gone; its data is removed at the next start.
			s.logger.Warn("remove deleted topic data", "tenant", tenant, "topic", name, "dir", trash, "err", err)
		}
	}
	s.logger.Info("topic deleted", "tenant", tenant, "topic", name)
	return nil
}

// deleteTopicLocked runs steps 1 and 2 of DeleteTopic and returns the
// directory now holding the topic's data ("" if it had none).
func (s *Store) deleteTopicLocked(reg *Registry, tenant, name string) (string, error) {
	if s.stopped {
		return "", ErrNotRunning
	}
	if _, err := reg.Get(tenant, name); err != nil {
		return "", err
	}
	for k, l := range s.logs {
		if k.tenant != tenant || k.topic != name {
			continue
		}
		delete(s.logs, k)
		// Its data is about to be deleted: a failed final fsync loses nothing.
		if err := l.Close(); err != nil {
			s.logger.Warn("close deleted partition", "tenant", tenant, "topic", name, "partition", k.partition, "err", err)
		}
	}
	trash, err := s.moveToDeleted(filepath.Join(s.dataDir, TenantsDir, tenant, name))
	if err != nil {
		return "", fmt.Errorf("delete topic %s/%s: %w", tenant, name, err)
	}
	if err := reg.Delete(tenant, name); err != nil {
		return trash, err
	}
	return trash, nil
}

// moveToDeleted renames dir to a fresh directory under DeletedDir and makes
// the rename durable. It returns "" if dir does not exist.
func (s *Store) moveToDeleted(dir string) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	deleted := filepath.Join(s.dataDir, DeletedDir)
	if err := os.MkdirAll(deleted, 0o755); err != nil {
		return "", err
	}
	trash, err := os.MkdirTemp(deleted, "topic-")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(trash, filepath.Base(dir))
	if err := os.Rename(dir, dst); err != nil {
		return trash, err
	}
	if err := errors.Join(segments.OSFS.SyncDir(filepath.Dir(dir)), segments.OSFS.SyncDir(deleted), segments.OSFS.SyncDir(trash)); err != nil {
		return trash, fmt.Errorf("sync after moving %s: %w", dir, err)
	}
	return trash, nil
}

// deleteColdObjects deletes the cold-tier objects of a deleted topic's
// partitions, found from their MANIFESTs in dir (never by listing the bucket).
// Failures are logged: the objects are then left behind in the bucket.
func (s *Store) deleteColdObjects(tenant, topic, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		attempts, err := segments.ColdAttempts(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // no MANIFEST: nothing was uploaded
		}
		cs := s.cold.Partition(tenant, topic, p)
		for _, a := range attempts {
			if err := cs.Delete(ctx, a); err != nil {
				s.logger.Warn("delete cold objects of deleted topic", "tenant", tenant, "topic", topic, "partition", p, "attempt", a.Key(), "err", err)
			}
		}
	}
}
