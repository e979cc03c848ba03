package search

import (
	"net/http"
	"sort"
	"strings"
	"unicode"

	"github.com/siltlog/silt/search/logql"
)

// /loki/api/v1/patterns, which Grafana's Explore Logs (Logs Drilldown) calls,
// groups the lines of a query into patterns such as "<_> GET /api <_>" with a
// count per step. Loki mines them in its pattern ingesters as lines arrive;
// silt mines them at query time, with a small Drain-like clusterer:
//
//   - a line is split at single spaces, so a pattern joined back with spaces
//     matches its lines as a LogQL pattern filter (|> "...");
//   - a token that contains a digit is a variable (<_>) from the start;
//   - a line joins the cluster of lines with as many tokens whose template has
//     the most positions equal to its tokens, if that is at least half of them
//     (positions that are <_> in both count as equal); else it starts a new
//     cluster;
//   - joining a cluster turns each position where the template and the line
//     differ into <_>.
//
// Lines are clustered oldest first, so the answer depends only on the lines.
const (
	// maxPatternLines is how many lines one request mines: the newest of the
	// range. Older lines are not looked at, so the counts of a long range are
	// those of its most recent 10,000 lines.
	maxPatternLines = 10_000
	// maxPatternClusters bounds the patterns kept; once reached, a line that
	// fits no existing pattern is not counted.
	maxPatternClusters = 1_000
	// maxPatternTokens bounds the tokens compared per line; the rest of a
	// longer line becomes one final <_>.
	maxPatternTokens = 64
	// patternSimilarity is the least share of equal positions to join a cluster.
	patternSimilarity = 0.5
	patternWildcard   = "<_>"
)

// patternSeries is one pattern of the answer, with [unix seconds, count]
// samples, oldest first.
type patternSeries struct {
	Pattern string     `json:"pattern"`
	Samples [][2]int64 `json:"samples"`
}

// patterns answers /loki/api/v1/patterns?query=<log query>&start&end&step.
func (a *API) patterns(r *http.Request, tenant string) (any, error) {
	q := r.Form.Get("query")
	if strings.TrimSpace(q) == "" {
		return nil, badRequest(`query is empty: pass a stream selector such as {app="api"}`)
	}
	le, err := logql.ParseLogSelector(q)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	step, err := parseStep(r.Form.Get("step"), start, end)
	if err != nil {
		return nil, err
	}
	res, err := logql.NewEngine(a.s.Querier(tenant), logql.EngineOpts{}).Exec(r.Context(), le, logql.QueryParams{
		Query: q, Start: start, End: end, Direction: logql.Backward, Limit: maxPatternLines})
	if err != nil {
		return nil, err
	}
	var lines []logql.StreamEntry
	for _, s := range res.Streams {
		lines = append(lines, s.Entries...)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Timestamp < lines[j].Timestamp })
	m := newPatternMiner(step.Nanoseconds())
	for _, e := range lines {
		m.add(e.Timestamp, e.Line)
	}
	return m.series(), nil
}

// patternCluster is the template of a group of lines and their counts.
type patternCluster struct {
	tokens []string
	counts map[int64]int64 // unix seconds of the bucket start -> lines
	total  int64
}

// patternMiner clusters lines as described above.
type patternMiner struct {
	step     int64 // ns
	byLength map[int][]*patternCluster
	n        int
}

func newPatternMiner(step int64) *patternMiner {
	return &patternMiner{step: max(step, 1), byLength: map[int][]*patternCluster{}}
}

// add counts one line at ts (ns) in its cluster.
func (m *patternMiner) add(ts int64, line string) {
	toks := patternTokens(line)
	var best *patternCluster
	bestEqual := -1
	for _, c := range m.byLength[len(toks)] {
		if eq := equalTokens(c.tokens, toks); eq > bestEqual {
			best, bestEqual = c, eq
		}
	}
	if best == nil || float64(bestEqual) < patternSimilarity*float64(len(toks)) {
		if m.n >= maxPatternClusters {
			return
		}
		best = &patternCluster{tokens: toks, counts: map[int64]int64{}}
		m.byLength[len(toks)] = append(m.byLength[len(toks)], best)
		m.n++
	} else {
		for i, t := range toks {
			if best.tokens[i] != t {
				best.tokens[i] = patternWildcard
			}
		}
	}
	best.counts[floorDiv(floorDiv(ts, m.step)*m.step, 1e9)]++
	best.total++
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// patternTokens splits a line at spaces and masks tokens with digits.
func patternTokens(line string) []string {
	toks := strings.Split(line, " ")
	if len(toks) > maxPatternTokens {
		toks = append(toks[:maxPatternTokens-1], patternWildcard)
	}
	for i, t := range toks {
		if strings.ContainsFunc(t, unicode.IsDigit) {
			toks[i] = patternWildcard
		}
	}
	return toks
}

// equalTokens counts the positions where a template and a line agree.
func equalTokens(template, toks []string) int {
	n := 0
	for i, t := range toks {
		if template[i] == t {
			n++
		}
	}
	return n
}

// series returns the patterns, most frequent first (ties by pattern); clusters
// that ended with the same template are one pattern.
func (m *patternMiner) series() []patternSeries {
	merged := map[string]*patternCluster{}
	for _, cs := range m.byLength {
		for _, c := range cs {
			p := strings.Join(c.tokens, " ")
			into := merged[p]
			if into == nil {
				merged[p] = &patternCluster{tokens: c.tokens, counts: c.counts, total: c.total}
				continue
			}
			for b, n := range c.counts {
				into.counts[b] += n
			}
			into.total += c.total
		}
	}
	keys := make([]string, 0, len(merged))
	for p := range merged {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ti, tj := merged[keys[i]].total, merged[keys[j]].total; ti != tj {
			return ti > tj
		}
		return keys[i] < keys[j]
	})
	out := make([]patternSeries, 0, len(keys))
	for _, p := range keys {
		c := merged[p]
		s := patternSeries{Pattern: p, Samples: make([][2]int64, 0, len(c.counts))}
		for b, n := range c.counts {
			s.Samples = append(s.Samples, [2]int64{b, n})
		}
		sort.Slice(s.Samples, func(i, j int) bool { return s.Samples[i][0] < s.Samples[j][0] })
		out = append(out, s)
	}
	return out
}
