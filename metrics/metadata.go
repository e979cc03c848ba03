package metrics

import (
	"maps"
	"sync"

	"github.com/siltlog/silt/ingest"
)

// MetricMetadata is a metric family's type, unit and help.
type MetricMetadata = ingest.MetricMetadata

// metadataStore keeps the newest metadata of each tenant's metric families,
// from the metadata records of the metrics topic.
type metadataStore struct {
	mu       sync.Mutex
	byTenant map[string]map[string]MetricMetadata // guarded by mu
}

func newMetadataStore() *metadataStore {
	return &metadataStore{byTenant: map[string]map[string]MetricMetadata{}}
}

func (s *metadataStore) set(tenant, family string, m MetricMetadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byTenant[tenant]
	if t == nil {
		t = map[string]MetricMetadata{}
		s.byTenant[tenant] = t
	}
	t[family] = m
}

// get returns a copy of tenant's metadata.
func (s *metadataStore) get(tenant string) map[string]MetricMetadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byTenant[tenant])
}
