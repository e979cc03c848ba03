// Package segments is silt's partition log on disk: an append-only sequence of
// segments holding Kafka v2 record batches with dense offsets.
//
// The full format is in FORMAT.md; in short:
//
//   - Every append is one record batch, byte-compatible with Kafka's (magic 2,
//     CRC-32C over everything after the CRC field). The log stamps the base offset and
//     the leader epoch, which sit outside the CRC, so nothing is re-encoded.
//   - The active segment <base>.log takes appends; it rolls by size and by age.
//     A sealed raw segment keeps its .log plus a .index (sparse offset and time
//     index). Past HotBytes, sealed segments are rewritten as <base>.zst: zstd
//     blocks of column-laid records that rebuild the original batches byte for byte.
//   - A MANIFEST (JSON plus a CRC line, replaced atomically) lists live segments.
//   - Appends return once durable: fsync per batch by default, shared by concurrent
//     appenders (group commit), or at an interval. The first failed write or fsync
//     makes the log refuse appends until it is reopened.
//   - Open truncates a torn active tail at the last valid batch, rebuilds missing or
//     damaged indexes, and quarantines damaged sealed segments; Recovery reports it.
//   - Retention deletes whole sealed segments by age and size. Segments are
//     reference counted, so readers finish with files that retention removed.
//
// All file access goes through FS, so tests inject short writes and failed fsyncs.
package segments
