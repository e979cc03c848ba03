package index

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/siltlog/silt/segments/testtool"
)

// loghubFiles returns the lines of each ../shared/data/loghub/*.log by file stem;
// it skips locally and fails under CI=true when the corpus is absent.
func loghubFiles(tb testing.TB) map[string][]string {
	tb.Helper()
	dir := os.Getenv("SILT_LOGHUB")
	if dir == "" {
		wd, _ := os.Getwd()
		dir = filepath.Join(wd, "shared", "data", "loghub")
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "shared", "data", "loghub")); err == nil {
				dir = filepath.Join(d, "shared", "data", "loghub")
				break
			}
		}
	}
	testtool.RequireFile(tb, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	out := make(map[string][]string)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		out[strings.TrimSuffix(filepath.Base(f), ".log")] = lines
	}
	if len(out) == 0 {
		tb.Fatalf("no *.log files in %s", dir)
	}
	return out
}

// cutBlocks cuts each file into blocks of up to n lines: one stream per file
// (labels app=<file>, job=loghub), partition = file number, offset = line number,
// line i at time i seconds.
func cutBlocks(files map[string][]string, n int) []Block {
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sortStrings(names)
	var blocks []Block
	for p, name := range names {
		lines := files[name]
		for i := 0; i < len(lines); i += n {
			j := min(i+n, len(lines))
			b := Block{
				Ref:    BlockRef{Topic: "logs", Partition: int32(p), FirstOffset: int64(i), LastOffset: int64(j - 1)},
				Key:    `{app="` + name + `", job="loghub"}`,
				Labels: []Label{{"app", name}, {"job", "loghub"}},
				Start:  int64(i) * 1e9, End: int64(j-1) * 1e9,
			}
			for k, l := range lines[i:j] {
				b.Lines = append(b.Lines, []byte(l))
				b.Times = append(b.Times, int64(i+k)*1e9)
			}
			blocks = append(blocks, b)
		}
	}
	return blocks
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// bruteForce returns the blocks holding a line that matches q, by scanning.
func bruteForce(blocks []Block, q Query) map[BlockRef]bool {
	out := make(map[BlockRef]bool)
	end := q.End
	if end == 0 {
		end = 1<<63 - 1
	}
	for _, b := range blocks {
		if !labelsMatch(b.Labels, q.Labels) {
			continue
		}
		for i, line := range b.Lines {
			ts := b.Start + int64(i)*1e9 // cutBlocks: one line per second
			if ts < q.Start || ts > end {
				continue
			}
			all := true
			for _, s := range q.Contains {
				all = all && strings.Contains(string(line), s)
			}
			if all {
				out[b.Ref] = true
				break
			}
		}
	}
	return out
}

func labelsMatch(ls []Label, ms []LabelMatcher) bool {
	for _, m := range ms {
		v := ""
		for _, l := range ls {
			if l.Name == m.Name {
				v = l.Value
			}
		}
		switch m.Type {
		case MatchEqual:
			if v != m.Value {
				return false
			}
		case MatchNotEqual:
			if v == m.Value {
				return false
			}
		default:
			panic("test only uses = and !=")
		}
	}
	return true
}

// TestCandidatesNeverMiss checks, over the loghub corpus, that the candidates of
// every query include every block a brute-force scan finds, and reports how
// selective they are.
func TestCandidatesNeverMiss(t *testing.T) {
	blocks := cutBlocks(loghubFiles(t), 128)
	ix, err := Open(t.TempDir(), Options{BatchBlocks: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ix.Close() }()
	if err := ix.Add(blocks...); err != nil {
		t.Fatal(err)
	}
	withMatch := 0
	app := func(v string) []LabelMatcher { return []LabelMatcher{{Type: MatchEqual, Name: "app", Value: v}} }
	for _, tc := range []struct {
		name string
		q    Query
	}{
		{"word", Query{Contains: []string{"error"}}},
		{"word capitalised", Query{Contains: []string{"Error"}}},
		{"word upper", Query{Contains: []string{"ERROR"}}},
		{"bounded word", Query{Contains: []string{" INFO "}}},
		{"phrase", Query{Contains: []string{"Receiving block"}}},
		{"phrase with punctuation", Query{Contains: []string{"dfs.DataNode$PacketResponder: "}}},
		{"phrase three words", Query{Contains: []string{"Failed password for root"}}},
		{"partial prefix", Query{Contains: []string{"user=roo"}}},
		{"partial suffix", Query{Contains: []string{"xception:"}}},
		{"partial infix", Query{Contains: []string{"onnect"}}},
		{"partial hex infix", Query{Contains: []string{"a0f"}}},
		{"block id", Query{Contains: []string{"blk_-6952295868487656571"}}},
		{"block id bounded", Query{Contains: []string{"blk_-6952295868487656571 "}}},
		{"block id partial", Query{Contains: []string{"blk_91421141"}}},
		{"ip", Query{Contains: []string{"10.251.73.220"}}},
		{"ip bounded", Query{Contains: []string{" 10.251.73.220:"}}},
		{"hex uuid parts", Query{Contains: []string{" 0673dd71-34c5-4fbb"}}},
		{"number", Query{Contains: []string{"081109 203615 "}}},
		{"rhost", Query{Contains: []string{"rhost=218.188.2.4 "}}},
		{"short number", Query{Contains: []string{" 143 "}}},
		{"uuid part", Query{Contains: []string{"req-"}}},
		{"path", Query{Contains: []string{"/home/"}}},
		{"pid", Query{Contains: []string{"[19939]"}}},
		{"absent word", Query{Contains: []string{"zzqqxx"}}},
		{"absent whole", Query{Contains: []string{" zzqqxx "}}},
		{"chained", Query{Contains: []string{"session", "closed"}}},
		{"stream and word", Query{Contains: []string{"error"}, Labels: app("Apache_2k")}},
		{"stream not equal", Query{Contains: []string{" INFO "}, Labels: []LabelMatcher{{Type: MatchNotEqual, Name: "app", Value: "HDFS_2k"}}}},
		{"time range", Query{Contains: []string{"session"}, Start: 300e9, End: 700e9}},
		{"only labels", Query{Labels: app("Linux_2k")}},
		{"empty string", Query{Contains: []string{""}}},
		{"unicode", Query{Contains: []string{"é"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.Candidates(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			cand := make(map[BlockRef]bool, len(got))
			for _, r := range got {
				cand[r] = true
			}
			want := bruteForce(blocks, tc.q)
			if len(want) > 0 {
				withMatch++
			}
			for ref := range want {
				if !cand[ref] {
					t.Errorf("false negative: block %+v holds a match but is no candidate", ref)
				}
			}
			t.Logf("%-26q candidates %4d / %d blocks (ratio %.3f), truly matching %d",
				tc.q.Contains, len(got), len(blocks), float64(len(got))/float64(len(blocks)), len(want))
		})
	}
	// The table has teeth only if most queries match something.
	if withMatch < 20 {
		t.Fatalf("only %d queries match any line; want >= 20", withMatch)
	}
}

// TestLabelsAndReopen checks label matchers (regexps are fully anchored) and that
// a reopened index answers as before, after a torn tail is truncated.
func TestLabelsAndReopen(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(first int64, app, line string) Block {
		return Block{Ref: BlockRef{Topic: "t", FirstOffset: first, LastOffset: first},
			Labels: []Label{{"app", app}}, Start: first, End: first, Lines: [][]byte{[]byte(line)}, Times: []int64{first}}
	}
	if err := ix.Add(mk(0, "api", "GET /users 200 id=4fbb."), mk(1, "apiserver", "POST /users 500")); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn record at the tail, as a crash mid-append leaves it.
	f, err := os.OpenFile(filepath.Join(dir, blocksName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 0, 40, 1, 2})
	_ = f.Close()
	if ix, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ix.Close() }()
	if ix.Blocks() != 2 {
		t.Fatalf("reopened with %d blocks, want 2", ix.Blocks())
	}
	for _, tc := range []struct {
		name string
		q    Query
		want []int64 // first offsets
	}{
		{"equal", Query{Labels: []LabelMatcher{{MatchEqual, "app", "api"}}}, []int64{0}},
		{"not equal", Query{Labels: []LabelMatcher{{MatchNotEqual, "app", "api"}}}, []int64{1}},
		{"regexp anchored", Query{Labels: []LabelMatcher{{MatchRegexp, "app", "api"}}}, []int64{0}},
		{"regexp", Query{Labels: []LabelMatcher{{MatchRegexp, "app", "api.+"}}}, []int64{1}},
		{"not regexp", Query{Labels: []LabelMatcher{{MatchNotRegexp, "app", "api.*"}}}, nil},
		{"absent label equal empty", Query{Labels: []LabelMatcher{{MatchEqual, "env", ""}}}, []int64{0, 1}},
		{"word", Query{Contains: []string{"POST"}}, []int64{1}},
		{"bloom", Query{Contains: []string{"=4fbb."}}, []int64{0}},
		{"bloom miss", Query{Contains: []string{"=4fbc."}}, nil},
		{"bloom prefix cannot answer", Query{Contains: []string{"=4fb"}}, []int64{0, 1}},
		{"time", Query{Contains: []string{"users"}, Start: 1}, []int64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.Candidates(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int64
			for _, r := range got {
				offs = append(offs, r.FirstOffset)
			}
			if !reflect.DeepEqual(offs, tc.want) {
				t.Fatalf("candidates %v, want %v", offs, tc.want)
			}
		})
	}
}
