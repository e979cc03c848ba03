package search

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// TestKafkaTopicsSearchable checks that records produced over Kafka — to a
// topic of their own, or to logs with a key that is no label set — are the
// stream {topic="<name>"}, with the key and headers as structured metadata.
func TestKafkaTopicsSearchable(t *testing.T) {
	s, _ := fixture(t)
	reg, err := s.store.Registry()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create("t1", topics.Topic{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	produce := func(topic string, p int, recs ...segments.Record) {
		log, err := s.store.Partition("t1", topic, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	produce("orders", 0, segments.Record{Timestamp: now, Key: []byte("user-1"), Value: []byte("order paid"),
		Headers: []segments.Header{{Key: "shop", Value: []byte("eu")}}})
	produce("orders", 1, segments.Record{Timestamp: now + 1, Value: []byte("order shipped")})
	produce(topics.TopicLogs, 0, segments.Record{Timestamp: now + 2, Key: []byte("not a label set"), Value: []byte("raw kafka line")})

	cases := []struct {
		name  string
		ms    []*labels.Matcher
		lines []string
		meta  []string // metadata of the first entry
	}{
		{"a topic of its own", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "topic", "orders")},
			[]string{"order paid", "order shipped"}, []string{"kafka_key", "user-1", "shop", "eu"}},
		{"topic regex", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "topic", "ord.*")},
			[]string{"order paid", "order shipped"}, nil},
		{"logs written over Kafka", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "topic", "logs")},
			[]string{"raw kafka line"}, []string{"kafka_key", "not a label set"}},
		{"ingested streams unaffected", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "app", "orders")},
			nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it, err := s.Querier("t1").SelectLogs(context.Background(), logql.SelectParams{
				Matchers: tc.ms, Start: now - int64(time.Minute), End: now + int64(time.Minute), Direction: logql.Forward})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			var first logql.Entry
			for it.Next() {
				if len(lines) == 0 {
					first = it.At()
				}
				lines = append(lines, it.At().Line)
			}
			if len(lines) != len(tc.lines) {
				t.Fatalf("lines %q, want %q", lines, tc.lines)
			}
			for i := range lines {
				if lines[i] != tc.lines[i] {
					t.Fatalf("lines %q, want %q", lines, tc.lines)
				}
			}
			for i := 0; i+1 < len(tc.meta); i += 2 {
				if got := first.Metadata.Get(tc.meta[i]); got != tc.meta[i+1] {
					t.Fatalf("metadata %s = %q, want %q (all %v)", tc.meta[i], got, tc.meta[i+1], first.Metadata)
				}
			}
		})
	}
}
