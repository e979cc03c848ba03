package search

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/testtool"
	"github.com/siltlog/silt/segments/topics"
)

// The 4M-line search benchmark (issue 4). Run it with
//
//	go test -tags slicelabels -run '^$' -bench Loghub4M -benchtime 5x -timeout 30m ./search/
//
// Setup builds about 4M lines from the loghub files (every digit, and every
// hex ID, redrawn per copy), spread over 40 streams {app, host} and 24 hours,
// pushes them through the distributor, compresses every sealed segment, and
// indexes everything (timing the indexer's CPU alone). Each sub-benchmark then
// times a query through the Loki or native HTTP API and, in the same
// iteration, `rg -c` (and `grep -c`) over the same lines in one text file,
// and reports the medians and their ratio.

var loghub4M struct {
	once  sync.Once
	err   error
	dir   string
	ix    *Indexer
	s     *Searcher
	srv   string
	text  string // the lines, one per line, for rg and grep
	lines int
	start int64 // ns: the first line's time
	end   int64
	setup map[string]float64 // metrics of the setup, reported by every run
	first map[string]float64 // each query's first run (its blocks not yet in the block cache), ms
}

const bench4MLines = 4_000_000

func loghub4MSetup(b *testing.B) {
	l := &loghub4M
	l.once.Do(func() { l.err = buildLoghub4M(b) })
	if l.err != nil {
		b.Fatal(l.err)
	}
}

func buildLoghub4M(b *testing.B) error {
	testtool.Require(b, "rg")
	files := corpusFiles(b)
	if len(files) == 0 {
		return fmt.Errorf("no loghub corpus")
	}
	dir, err := os.MkdirTemp("", "silt-bench4m-")
	if err != nil {
		return err
	}
	l := &loghub4M
	l.dir = dir
	store, err := benchStore(dir)
	if err != nil {
		return err
	}
	l.setup, l.first = map[string]float64{}, map[string]float64{}
	l.end = time.Now().Add(-time.Minute).Truncate(time.Second).UnixNano()
	l.start = l.end - int64(24*time.Hour)
	text, err := os.Create(filepath.Join(dir, "lines.txt"))
	if err != nil {
		return err
	}
	l.text = text.Name()
	t0 := time.Now()
	n, err := pushLoghub4M(store, files, text)
	if err != nil {
		return err
	}
	l.lines = n
	if err := text.Close(); err != nil {
		return err
	}
	l.setup["ingest-s"] = time.Since(t0).Seconds()
	if err := compactAll(store); err != nil {
		return err
	}
	s := NewSearcher(Config{MaxSelectEntries: 1 << 24}, store)
	var icfg IndexerConfig
	icfg.RegisterFlags(flag.NewFlagSet("b", flag.PanicOnError))
	icfg.FlushAge = time.Nanosecond
	ix := NewIndexer(icfg, store, slog.New(slog.DiscardHandler), nil)
	c0, w0 := cpuSeconds(), time.Now()
	ix.IndexAll(context.Background())
	if err := ix.Close(); err != nil { // waits for bleve's merges
		return err
	}
	l.setup["index-cpu-s/Mline"] = (cpuSeconds() - c0) / float64(n) * 1e6
	l.setup["index-lines/s"] = float64(n) / time.Since(w0).Seconds()
	ix.IndexAll(context.Background()) // reopens the indexes
	l.ix = ix
	s.WithIndexer(ix)
	l.s = s
	seg, idx := dirSizes(dir)
	l.setup["segments-B/line"] = float64(seg) / float64(n)
	l.setup["index-B/line"] = float64(idx) / float64(n)
	l.setup["total-B/line"] = float64(seg+idx) / float64(n)
	l.srv = apiServerFor(b, s).URL
	return nil
}

// closeLoghub4M stops what the benchmark's setup started and removes its files.
func closeLoghub4M() {
	l := &loghub4M
	if l.ix != nil {
		_ = l.ix.Close()
	}
	if l.s != nil {
		_ = services.StopAndAwaitTerminated(context.Background(), l.s.store)
	}
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
}

func benchStore(dir string) (*topics.Store, error) {
	var tcfg topics.Config
	tcfg.RegisterFlags(flag.NewFlagSet("b", flag.PanicOnError))
	seg := segments.DefaultConfig()
	seg.SegmentBytes = 32 << 20
	seg.FsyncInterval = time.Second // setup speed; queries do not depend on it
	// The server's default block cache (-storage.block-cache-bytes).
	store := topics.NewStore(dir, tcfg, seg, slog.New(slog.DiscardHandler), nil,
		topics.WithBlockCache(segments.NewBlockCache(1<<30, nil)))
	return store, services.StartAndAwaitRunning(context.Background(), store)
}

// pushLoghub4M pushes copies of the corpus, 2,000 lines per request of one
// stream, the streams' lines evenly spread over [start, end), and writes every
// line to text.
func pushLoghub4M(store *topics.Store, files []corpusFile, text io.Writer) (int, error) {
	var icfg ingest.Config
	icfg.RegisterFlags(flag.NewFlagSet("b", flag.PanicOnError))
	icfg.Limits.IngestionRateMB = 0 // setup, not an ingest benchmark
	d := ingest.NewDistributor(icfg, store, ingest.NewMetrics(nil), nil)
	const hosts, batch = 4, 2000
	total := 0
	for _, f := range files {
		total += len(f.lines)
	}
	copies := (bench4MLines + total - 1) / total
	rng := rand.New(rand.NewPCG(4, 2))
	l := &loghub4M
	w := &bytes.Buffer{}
	n := 0
	for fi, f := range files {
		app := strings.TrimSuffix(filepath.Base(f.name), "_2k.log")
		perStream := len(f.lines) * copies / hosts
		for h := 0; h < hosts; h++ {
			st := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: app}, {Name: "host", Value: "h" + strconv.Itoa(h)}}}
			for i := 0; i < perStream; i++ {
				line := redraw(f.lines[(i*hosts+h)%len(f.lines)], rng)
				ts := l.start + int64(i)*(l.end-l.start)/int64(perStream) + int64(fi*hosts+h)
				st.Entries = append(st.Entries, ingest.Entry{Timestamp: ts, Line: line})
				w.WriteString(line)
				w.WriteByte('\n')
				if len(st.Entries) == batch || i == perStream-1 {
					if err := d.Push(context.Background(), &ingest.PushRequest{Tenant: "t1", Streams: []ingest.Stream{st}}); err != nil {
						return n, err
					}
					n += len(st.Entries)
					st.Entries = st.Entries[:0]
					if _, err := text.Write(w.Bytes()); err != nil {
						return n, err
					}
					w.Reset()
				}
			}
		}
	}
	return n, nil
}

// redraw re-randomises a line's IDs: every digit, and every letter of a
// hex-looking token (6+ characters of [0-9a-f] with a digit).
func redraw(line string, rng *rand.Rand) string {
	b := []byte(line)
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && (isAlnumByte(b[j])) {
			j++
		}
		if j == i {
			i++
			continue
		}
		hex := j-i >= 6 && isHexID(b[i:j])
		for k := i; k < j; k++ {
			switch {
			case b[k] >= '0' && b[k] <= '9':
				b[k] = byte('0' + rng.IntN(10))
			case hex:
				b[k] = "0123456789abcdef"[rng.IntN(16)]
			}
		}
		i = j
	}
	return string(b)
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHexID(tok []byte) bool {
	digit := false
	for _, c := range tok {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return digit
}

// compactAll rolls and compresses every partition of t1's logs topic.
func compactAll(store *topics.Store) error {
	for p := 0; p < 4; p++ {
		log, err := store.Partition("t1", topics.TopicLogs, p)
		if err != nil {
			return err
		}
		if err := log.Roll(); err != nil {
			return err
		}
		if err := log.Compact(); err != nil {
			return err
		}
	}
	return nil
}

// dirSizes sums the bytes of segment files and of index files under dir.
func dirSizes(dir string) (seg, idx int64) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "lines.txt") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if strings.Contains(path, string(filepath.Separator)+indexDirName+string(filepath.Separator)) {
			idx += info.Size()
		} else {
			seg += info.Size()
		}
		return nil
	})
	return seg, idx
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func BenchmarkLoghub4M(b *testing.B) {
	loghub4MSetup(b)
	l := &loghub4M
	count := func(q string) url.Values {
		return url.Values{"query": {"sum(count_over_time(" + q + " [24h]))"}, "time": {strconv.FormatInt(l.end, 10)}}
	}
	for _, bc := range []struct {
		name, path string
		form       url.Values
		rg         string // rg's pattern (a fixed string)
		exact      bool   // silt's count must equal rg's (no selector)
	}{
		{"word-rare-timeout", "/loki/api/v1/query", count(`{app=~".+"} |= "timeout"`), "timeout", true},
		{"word-ERROR", "/loki/api/v1/query", count(`{app=~".+"} |= "ERROR"`), "ERROR", true},
		{"word-common-error", "/loki/api/v1/query", count(`{app=~".+"} |= "error"`), "error", true},
		{"phrase-session-opened", "/loki/api/v1/query", count(`{app=~".+"} |= "session opened"`), "session opened", true},
		{"phrase-Received-block", "/loki/api/v1/query", count(`{app=~".+"} |= "Received block"`), "Received block", true},
		{"selector+word-OpenSSH-Failed", "/loki/api/v1/query", count(`{app="OpenSSH"} |= "Failed"`), "Failed", false},
		{"hits-5m-24h", "/api/v1/hits", url.Values{"query": {`{app=~".+"}`}, "step": {"5m"},
			"start": {strconv.FormatInt(l.start, 10)}, "end": {strconv.FormatInt(l.end+1e9, 10)}}, "", true},
		{"newest100-error", "/loki/api/v1/query_range", url.Values{"query": {`{app=~".+"} |= "error"`}, "limit": {"100"},
			"start": {strconv.FormatInt(l.start, 10)}, "end": {strconv.FormatInt(l.end+1e9, 10)}, "direction": {"backward"}}, "error", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var silt, rg, grep []float64
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				body := benchGet(b, l.srv+bc.path+"?"+bc.form.Encode())
				silt = append(silt, msSince(t0))
				if _, ok := l.first[bc.name]; !ok {
					l.first[bc.name] = silt[0]
				}
				rgCount, rgMs := runCounter(b, "rg", "-c", "-F", "--", bc.rg, l.text)
				_, grepMs := runCounter(b, "grep", "-c", "-F", "--", bc.rg, l.text)
				rg, grep = append(rg, rgMs), append(grep, grepMs)
				if i == 0 && bc.exact {
					checkBenchAnswer(b, bc.path, body, rgCount)
				}
			}
			ms, rgMs, grepMs := median(silt), median(rg), median(grep)
			b.ReportMetric(ms, "silt-ms")
			b.ReportMetric(rgMs, "rg-ms")
			b.ReportMetric(grepMs, "grep-ms")
			b.ReportMetric(ms/rgMs, "x-rg")
			b.ReportMetric(l.first[bc.name], "silt-first-ms")
			for k, v := range l.setup {
				b.ReportMetric(v, k)
			}
		})
	}
}

func benchGet(b *testing.B, u string) []byte {
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("%s: %d %s %v", u, resp.StatusCode, body, err)
	}
	return body
}

// runCounter runs a counting command and returns its count and wall time.
func runCounter(b *testing.B, name string, args ...string) (int, float64) {
	t0 := time.Now()
	out, err := exec.Command(name, args...).Output()
	ms := msSince(t0)
	if err != nil && len(out) == 0 {
		out = []byte("0")
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		b.Fatalf("%s %v: %q: %v", name, args, out, err)
	}
	return n, ms
}

// checkBenchAnswer checks a count query's answer against rg's count.
func checkBenchAnswer(b *testing.B, path string, body []byte, want int) {
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		b.Fatal(err)
	}
	got := r.Total
	switch path {
	case "/loki/api/v1/query":
		if len(r.Data.Result) > 0 {
			got, _ = strconv.Atoi(r.Data.Result[0].Value[1].(string))
		}
	}
	if got != want {
		b.Errorf("silt counts %d, rg %d", got, want)
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / 1e6 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
