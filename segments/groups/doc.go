// Package groups stores consumer groups' committed offsets: per tenant, per
// group, per topic partition, the committed offset, the leader epoch the
// client saw, a metadata string and the commit time.
//
// The Kafka group coordinator writes it on OffsetCommit and reads it on
// OffsetFetch; the HTTP consumer-groups API shares the same Store. The full
// format is in FORMAT.md; in short:
//
//   - Each tenant has one append-only commit log, <tenant>.commits: an 8-byte
//     header ("SILTGRP", version 1), then records framed as length uint32 |
//     CRC-32C uint32 | payload. One record holds one group's commit (or
//     deletion) of any number of partitions, so a commit is atomic.
//   - A commit is written and fsynced before Commit returns; the latest state
//     lives in memory. The first failed write or fsync makes the tenant's log
//     refuse commits (ErrFailed) until the store is reopened.
//   - Opening a tenant's log replays it: a torn tail is truncated, damage
//     before the tail is a *CorruptionError naming the file and byte position.
//   - When the file passes 1 MiB and 4x the live state's size it is rewritten
//     atomically (temp file, fsync, rename, directory fsync).
//
// All file access goes through segments.FS, so tests inject failures.
package groups
