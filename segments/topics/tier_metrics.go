package topics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltlog/silt/segments"
)

var (
	tierBytesDesc = prometheus.NewDesc("silt_tier_bytes",
		"Bytes per storage tier over every open partition: hot (raw record batches), warm (local compressed), cold (object storage).",
		[]string{"tier"}, nil)
	tierSegmentsDesc = prometheus.NewDesc("silt_tier_segments",
		"Segments per storage tier over every open partition.", []string{"tier"}, nil)
)

// TierCollector returns a collector of the bytes and segments per tier, summed
// over the store's open partitions at scrape time.
func (s *Store) TierCollector() prometheus.Collector { return tierCollector{s} }

type tierCollector struct{ s *Store }

func (c tierCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tierBytesDesc
	ch <- tierSegmentsDesc
}

func (c tierCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	logs := make([]*segments.Log, 0, len(c.s.logs))
	for _, l := range c.s.logs {
		logs = append(logs, l)
	}
	c.s.mu.Unlock()
	var sum segments.TierStats
	for _, l := range logs {
		st := l.TierStats()
		for _, p := range [][2]*segments.TierSize{{&sum.Hot, &st.Hot}, {&sum.Warm, &st.Warm}, {&sum.Cold, &st.Cold}} {
			p[0].Bytes += p[1].Bytes
			p[0].Segments += p[1].Segments
		}
	}
	for name, t := range map[string]segments.TierSize{"hot": sum.Hot, "warm": sum.Warm, "cold": sum.Cold} {
		ch <- prometheus.MustNewConstMetric(tierBytesDesc, prometheus.GaugeValue, float64(t.Bytes), name)
		ch <- prometheus.MustNewConstMetric(tierSegmentsDesc, prometheus.GaugeValue, float64(t.Segments), name)
	}
}
