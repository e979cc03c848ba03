// Package metrics turns the metrics topic into something Grafana can query.
//
// The Materialiser is an internal consumer: for every local partition of
// every tenant's metrics topic it applies the records (samples and metric
// metadata, ingest/FORMAT.md), in offset order, to an embedded Prometheus
// TSDB kept in <partition dir>/metrics/tsdb. The TSDB's WAL is off; the
// partition is the WAL. The consumer compacts the TSDB's head into blocks
// itself, and after each block persists a CHECKPOINT: the offset a restart
// replays from, chosen so that replay is idempotent (FORMAT.md explains why).
//
// Per record the consumer hashes the key into its series cache (two 64-bit
// hashes, no strings kept) and hands the TSDB head the series reference; a
// key is parsed into labels only the first time it is seen, or after the
// head dropped its series.
//
// API serves the Prometheus HTTP API that Grafana's Prometheus data source
// calls (query, query_range, labels, label values, series, metadata,
// exemplars, format_query, rules, buildinfo) over the TSDBs of a tenant,
// refusing with 503 while a partition lags more than MaxLag unless the query
// asks for a strong read. The partitions' series are concatenated rather
// than merge-sorted (querier.go), and an aggregation of a per-series
// expression is evaluated in concurrent shards of the series (shard.go).
//
// Rules evaluates recording rules (PromQL, or LogQL metric queries through
// search/logql) per tenant and writes their results into the metrics topic.
package metrics
