// Package tier is the cold tier of silt's partition logs: object storage
// through github.com/thanos-io/objstore (a local directory or any S3-compatible
// service), configured in YAML as Thanos and Loki configure it (type, config,
// prefix).
//
// A Tier is shared by every partition: one bucket, one bytes-per-second upload
// limit and one on-disk chunk cache. Tier.Partition returns the
// segments.ColdStore of one partition, whose objects live under
// <prefix>/<tenant>/<topic>/<partition>/<base>-<uuid>/ (segments/FORMAT.md,
// "Cold tier"). The upload protocol and its state live in the partition's
// MANIFEST, in package segments; this package only moves bytes and never lists
// the bucket.
//
// Reads are ranged GETs of chunk-aligned ranges (cache.chunk_bytes) into an
// on-disk LRU cache capped at cache.max_bytes. Concurrent readers of one chunk
// share one GET. Sequential readers get cache.read_ahead_bytes fetched ahead
// of them; at most cache.fetch_concurrency GETs run at once, which bounds the
// memory of fetches to fetch_concurrency chunks. The cache is emptied at start
// and never fsynced: chunks are cheap to fetch again and an empty cache needs
// no recovery.
package tier
