package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"
)

// DefaultBlockLines is the default number of lines per block (B).
const DefaultBlockLines = 1024

// BlockRef names where a block's lines live: the records of one stream between
// FirstOffset and LastOffset (inclusive) of a topic partition. Records of other
// streams may lie in between.
type BlockRef struct {
	Topic       string
	Partition   int32
	FirstOffset int64
	LastOffset  int64
}

// Label is one label of a stream.
type Label struct {
	Name, Value string
}

// Block is up to B lines of one stream, the unit the index knows about.
type Block struct {
	Ref BlockRef
	// Key is the stream's canonical label string; Labels are its labels.
	Key    string
	Labels []Label
	// Start and End are the first and last line times, unix ns, inclusive.
	Start, End int64
	Lines      [][]byte
	// Times are the lines' times (unix ns), parallel to Lines.
	Times []int64
}

// ErrVersion reports a block table written by a different index format; the
// index must be rebuilt from the segments.
var ErrVersion = errors.New("block index format version differs")

// Checkpoint is what the last commit promised: every record of the partition
// below Next is in a committed block.
type Checkpoint struct {
	Blocks   int
	Next     int64
	NextTime int64 // unix ns when the indexer had read up to Next
}

// Options tunes an Index; the zero value takes the defaults.
type Options struct {
	// BloomFPRate is the false-positive rate each block's bloom filter is sized
	// for (default 0.01).
	BloomFPRate float64
	// BatchBlocks caps the blocks per bleve batch (default 256).
	BatchBlocks int
}

func (o *Options) withDefaults() Options {
	r := *o
	if r.BloomFPRate <= 0 || r.BloomFPRate >= 1 {
		r.BloomFPRate = 0.01
	}
	if r.BatchBlocks <= 0 {
		r.BatchBlocks = 256
	}
	return r
}

// Index is the block index of one directory. Its methods are safe for concurrent
// use; Add calls are serialised.
type Index struct {
	dir   string
	opts  Options
	bleve bleve.Index

	addMu sync.Mutex // serialises Add; held before mu
	build builder    // guarded by addMu

	mu sync.RWMutex
	// guarded by mu
	metas  []blockMeta // record i of the block table is block i
	commit commitMeta
	terms  termSet // seen is also read under addMu alone
	table  *os.File
	buf    []byte
	err    error // first write error: Add refuses after it
}

// Open opens or creates the index in dir. A torn or corrupt tail of the block
// table, and blocks no commit closes, are truncated and logged; the indexer reads
// those lines again from Checkpoint().Next. A table of another format version
// fails with ErrVersion.
func Open(dir string, opts Options) (*Index, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	tablePath := filepath.Join(dir, blocksName)
	metas, commit, good, tailErr, err := readBlocks(tablePath)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	if tailErr != nil {
		slog.Warn("block index: truncating damaged tail of block table; those blocks will be re-indexed",
			"path", tablePath, "offset", good, "kept_blocks", len(metas), "err", tailErr)
		if err := os.Truncate(tablePath, good); err != nil {
			return nil, fmt.Errorf("open index %s: truncate block table: %w", dir, err)
		}
	}
	table, err := os.OpenFile(tablePath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	bl, err := openBleve(filepath.Join(dir, bleveDirName))
	if err != nil {
		_ = table.Close()
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	ix := &Index{dir: dir, opts: opts.withDefaults(), bleve: bl, metas: metas, commit: commit, table: table, terms: newTermSet()}
	if err := ix.loadTerms(); err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	return ix, nil
}

func openBleve(path string) (bleve.Index, error) {
	bl, err := bleve.Open(path)
	if err == nil {
		return bl, nil
	}
	if !errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		return nil, fmt.Errorf("open bleve: %w", err)
	}
	// Documents are built by hand (buildDoc); the mapping only serves query
	// strings: every field is keyword-analysed, nothing dynamic or stored.
	m := bleve.NewIndexMapping()
	m.DefaultAnalyzer = keyword.Name
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	bl, err = bleve.New(path, m)
	if err != nil {
		return nil, fmt.Errorf("create bleve: %w", err)
	}
	return bl, nil
}

// Blocks returns the number of blocks indexed.
func (ix *Index) Blocks() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.metas)
}

// Checkpoint returns the last commit.
func (ix *Index) Checkpoint() Checkpoint {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return Checkpoint{Blocks: int(ix.commit.blocks), Next: ix.commit.next, NextTime: ix.commit.nextTime}
}

// StreamEnds returns, per stream key, the last offset of its newest block.
func (ix *Index) StreamEnds() map[string]int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return streamEnds(ix.metas)
}

// Add indexes blocks and commits them, keeping the checkpoint's Next.
func (ix *Index) Add(blocks ...Block) error {
	cp := ix.Checkpoint()
	return ix.Commit(blocks, cp.Next, cp.NextTime)
}

// Commit indexes blocks (in bleve batches of at most Options.BatchBlocks) and
// then commits them all at once with the checkpoint next: the caller promises
// that every record below next is in a committed block. On error nothing is
// committed.
func (ix *Index) Commit(blocks []Block, next, nextTime int64) error {
	ix.addMu.Lock()
	defer ix.addMu.Unlock()
	ix.mu.RLock()
	seq, werr := uint64(len(ix.metas)), ix.err
	ix.mu.RUnlock()
	if werr != nil {
		return fmt.Errorf("index %s is failed: %w", ix.dir, werr)
	}
	metas := make([]blockMeta, 0, len(blocks))
	newTerms := map[string]struct{}{}
	for len(blocks) > 0 {
		n := min(len(blocks), ix.opts.BatchBlocks)
		ms, err := ix.indexBatch(seq+uint64(len(metas)), blocks[:n], newTerms)
		if err != nil {
			return err
		}
		metas = append(metas, ms...)
		blocks = blocks[n:]
	}
	return ix.commitBlocks(seq, metas, next, nextTime, newTerms)
}

// indexBatch puts blocks (sequence numbers seq, seq+1, ...) into bleve and adds
// their terms that the term set lacks to newTerms.
func (ix *Index) indexBatch(seq uint64, blocks []Block, newTerms map[string]struct{}) ([]blockMeta, error) {
	batch := ix.bleve.NewBatch()
	metas := make([]blockMeta, 0, len(blocks))
	for i := range blocks {
		b := &blocks[i]
		if err := b.validate(); err != nil {
			return nil, err
		}
		doc, meta := ix.build.block(seq+uint64(i), b, ix.opts.BloomFPRate)
		for w := range ix.build.words {
			if _, ok := ix.terms.seen[w]; !ok {
				newTerms[w] = struct{}{}
			}
		}
		if err := batch.IndexAdvanced(doc); err != nil {
			return nil, fmt.Errorf("index block %+v: %w", b.Ref, err)
		}
		metas = append(metas, meta)
	}
	if err := ix.bleve.Batch(batch); err != nil {
		return nil, fmt.Errorf("index %s: bleve batch: %w", ix.dir, err)
	}
	return metas, nil
}

// commitBlocks appends the records of metas (blocks seq, seq+1, ...) and a
// commit record to the block table in one write, syncs it, and makes the blocks
// visible to Candidates.
func (ix *Index) commitBlocks(seq uint64, metas []blockMeta, next, nextTime int64, newTerms map[string]struct{}) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	buf := ix.buf[:0]
	for i := range metas {
		var err error
		if buf, err = appendRecord(buf, seq+uint64(i), &metas[i]); err != nil {
			return err
		}
	}
	c := commitMeta{blocks: seq + uint64(len(metas)), next: next, nextTime: nextTime}
	buf = appendCommit(buf, c)
	ix.buf = buf
	if _, err := ix.table.Write(buf); err != nil {
		ix.err = err
		return fmt.Errorf("index %s: write block table: %w", ix.dir, err)
	}
	if err := ix.table.Sync(); err != nil {
		ix.err = err
		return fmt.Errorf("index %s: sync block table: %w", ix.dir, err)
	}
	ix.metas = append(ix.metas, metas...)
	ix.commit = c
	for w := range newTerms {
		ix.terms.add(w)
	}
	return nil
}

// Close closes the index.
func (ix *Index) Close() error {
	ix.addMu.Lock()
	defer ix.addMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := ix.bleve.Close()
	if cerr := ix.table.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *Block) validate() error {
	switch {
	case len(b.Lines) == 0:
		return fmt.Errorf("block %+v has no lines", b.Ref)
	case len(b.Times) != len(b.Lines):
		return fmt.Errorf("block %+v has %d times for %d lines", b.Ref, len(b.Times), len(b.Lines))
	case b.Ref.FirstOffset > b.Ref.LastOffset:
		return fmt.Errorf("block %+v: first offset after last", b.Ref)
	case b.Start > b.End:
		return fmt.Errorf("block %+v: start time after end", b.Ref)
	}
	return nil
}

// builder turns blocks into bleve documents and blooms, reusing its sets.
type builder struct {
	words map[string]struct{}
	ids   map[string]struct{}
}

func (bd *builder) block(seq uint64, b *Block, fpRate float64) (*document.Document, blockMeta) {
	if bd.words == nil {
		bd.words, bd.ids = make(map[string]struct{}), make(map[string]struct{})
	}
	clear(bd.words)
	clear(bd.ids)
	size := 0
	var lineBytes int64
	for _, line := range b.Lines {
		lineBytes += int64(len(line))
		Tokens(line, func(tok []byte) {
			if IsIDLike(string(tok)) {
				if _, ok := bd.ids[string(tok)]; !ok {
					bd.ids[string(tok)] = struct{}{}
				}
				return
			}
			if _, ok := bd.words[string(tok)]; !ok {
				bd.words[string(tok)] = struct{}{}
				size += len(tok) + 1
			}
		})
	}
	meta := blockMeta{ref: b.Ref, start: b.Start, end: b.End, lines: len(b.Lines), lineBytes: lineBytes, key: b.Key,
		buckets: encodeBuckets(nil, b.Start, b.Times)}
	if len(bd.ids) > 0 {
		meta.bloom = bloom.NewWithEstimates(uint(len(bd.ids)), fpRate)
		for id := range bd.ids {
			meta.bloom.AddString(id)
		}
	}
	joined := make([]byte, 0, size)
	for w := range bd.words {
		joined = append(joined, w...)
		joined = append(joined, '\n')
	}
	doc := document.NewDocument(fmt.Sprintf("%016x", seq))
	const opts = bindex.IndexField | bindex.SkipFreqNorm
	doc.AddField(document.NewTextFieldCustom(fieldTokens, nil, joined, opts, lineAnalyzer{}))
	for _, l := range b.Labels {
		doc.AddField(document.NewTextFieldCustom(fieldLabelPrefix+l.Name, nil, []byte(l.Value), opts, wholeAnalyzer{}))
	}
	for _, t := range []struct {
		name string
		ns   int64
	}{{fieldStart, b.Start}, {fieldEnd, b.End}} {
		f, err := document.NewDateTimeFieldWithIndexingOptions(t.name, nil, time.Unix(0, t.ns), time.RFC3339Nano, bindex.IndexField)
		if err == nil { // out of bleve's date range: the block table still filters time
			doc.AddField(f)
		}
	}
	return doc, meta
}

// lineAnalyzer makes one term of each '\n'-terminated token. Tokens never hold
// '\n' (not a word byte), so the terms are exactly the block's distinct tokens.
type lineAnalyzer struct{}

func (lineAnalyzer) Analyze(in []byte) analysis.TokenStream {
	out := make(analysis.TokenStream, 0, 64)
	toks := make([]analysis.Token, 0, 64)
	start, pos := 0, 1
	for i, c := range in {
		if c != '\n' {
			continue
		}
		toks = append(toks, analysis.Token{Start: start, End: i, Term: in[start:i], Position: pos, Type: analysis.AlphaNumeric})
		start = i + 1
		pos++
	}
	for i := range toks {
		out = append(out, &toks[i])
	}
	return out
}

// wholeAnalyzer makes one term of the whole value (a label value).
type wholeAnalyzer struct{}

func (wholeAnalyzer) Analyze(in []byte) analysis.TokenStream {
	return analysis.TokenStream{{Start: 0, End: len(in), Term: in, Position: 1, Type: analysis.AlphaNumeric}}
}
