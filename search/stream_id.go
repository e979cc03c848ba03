package search

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/segments/topics"
)

// streamID is the stream a record belongs to, as both the indexer and the
// query side name it. Records of the logs topic carry their label set as key;
// any other record (a Kafka producer's) belongs to the stream
// {topic="<name>"}, and its key is reported as kafka_key metadata.
type streamID struct {
	key         string // canonical label string
	labels      labels.Labels
	indexLabels []index.Label
	// keyAsMetadata: the record key is not a label set.
	keyAsMetadata bool
}

func parseStream(topic string, key []byte) streamID {
	if topic == topics.TopicLogs {
		if parsed, err := ingest.ParseLabels(string(key)); err == nil {
			b := labels.NewScratchBuilder(len(parsed))
			for _, l := range parsed {
				b.Add(l.Name, l.Value)
			}
			b.Sort()
			return newStreamID(b.Labels(), false)
		}
	}
	return newStreamID(labels.FromStrings(topicLabel, topic), true)
}

func newStreamID(ls labels.Labels, keyAsMetadata bool) streamID {
	id := streamID{key: ls.String(), labels: ls, keyAsMetadata: keyAsMetadata}
	ls.Range(func(l labels.Label) {
		id.indexLabels = append(id.indexLabels, index.Label{Name: l.Name, Value: l.Value})
	})
	return id
}

// streamCache remembers the stream of each record key of one topic. Keys that
// are not label sets (Kafka producers' keys) may be unique, so at most
// maxCachedKafkaKeys of them are remembered.
type streamCache struct {
	byKey map[string]*streamID
	topic map[string]*streamID // topic name -> its {topic=...} stream
}

func newStreamCache() streamCache {
	return streamCache{byKey: map[string]*streamID{}, topic: map[string]*streamID{}}
}

// maxCachedKafkaKeys bounds the cache of non-label keys.
const maxCachedKafkaKeys = 10_000

func (c *streamCache) get(topic string, key []byte) *streamID {
	if topic != topics.TopicLogs {
		key = nil // one stream per topic
	}
	if st, ok := c.byKey[string(key)]; ok {
		return st
	}
	id := parseStream(topic, key)
	if id.keyAsMetadata {
		st := c.topic[topic]
		if st == nil {
			st = &id
			c.topic[topic] = st
		}
		if len(c.byKey) < maxCachedKafkaKeys {
			c.byKey[string(key)] = st
		}
		return st
	}
	c.byKey[string(key)] = &id
	return &id
}
