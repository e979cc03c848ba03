// Package kafka serves silt's partition logs over the Kafka wire protocol, so
// stock Kafka producers and consumers (kcat, librdkafka, franz-go, ...) write
// and replay silt topics.
//
// Requests and responses are encoded with franz-go's kmsg; this package only
// frames them. The wire format, in short (all integers big-endian):
//
//	request   size int32 | apiKey int16 | apiVersion int16 | correlationID int32 |
//	          clientID nullable string | tagged fields (flexible versions) | body
//	response  size int32 | correlationID int32 |
//	          tagged fields (flexible versions, never for ApiVersions) | body
//
// A connection's requests are handled in order and answered in order, as a
// Kafka broker does, but Produce's durability waits are pipelined: a reader
// goroutine handles requests (Produce writes its batches, so each partition
// gets them in request order) while a writer goroutine waits for each
// request's fsync and sends responses (conn.go). Produce with acks=0 sends no
// response. Frames that
// cannot be parsed (bad sizes, truncated headers, unknown API keys, bodies
// kmsg rejects) close the connection with a log line; they never reach a log.
//
// Record batches are stored as received: Produce appends each partition's
// single v2 batch with segments.Log.StartAppendBatch (which checks its CRC and
// structure and stamps its base offset), after decompressing compressed
// batches once to check their records. Fetch returns the stored bytes.
//
// A listener serves one tenant (Config.Tenant). Consumer groups use the
// classic protocol (groups.go); committed offsets are stored in
// segments/groups. Idempotent producers are tracked per partition
// (producers.go); transactions are not supported (see README.md).
package kafka
