// Package index is silt's block index for full-text search: it narrows a LogQL
// `|=` query to the blocks of lines that may match, and the caller confirms by
// scanning those blocks' records. It never produces a false negative.
//
// A block is up to B lines of one stream of one topic partition. Each block is one
// bleve document holding its distinct tokens (maximal runs of ASCII letters, digits
// and bytes >= 0x80, case-sensitive), its labels as keyword fields and its time
// range. ID-like tokens (only [0-9a-f], with a digit) stay out of bleve and
// go to a per-block bloom filter kept in the block table file `blocks`, which also
// maps a bleve hit back to its BlockRef (topic, partition, offsets) and time range.
//
// FORMAT.md beside this file is the specification: tokens, the query rules that keep
// the candidate set exact, the bleve document and the byte layout of `blocks`.
package index
