package topics

import (
	"fmt"
	"sort"
	"time"

	"github.com/siltlog/silt/segments"
)

// Kafka's names of the retention settings a topic, a tenant override or the
// server may set.
const (
	ConfigRetentionMs         = "retention.ms"
	ConfigRetentionBytes      = "retention.bytes"
	ConfigLocalRetentionMs    = "local.retention.ms"
	ConfigLocalRetentionBytes = "local.retention.bytes"
)

// Special values of the retention settings. 0 is "not set here": the value
// comes from the tenant override, else the server default.
const (
	Unlimited       int64 = -1
	SameAsRetention int64 = -2 // local.retention.* only
)

// Policy is a retention policy under Kafka's names and conventions: -1 is
// unlimited, local.retention.* = -2 is "the same as retention.*", and 0 (unset)
// inherits the next level (topic, then tenant override, then server default).
type Policy struct {
	RetentionMs         int64 `yaml:"retention.ms" json:"retention.ms"`
	RetentionBytes      int64 `yaml:"retention.bytes" json:"retention.bytes"`
	LocalRetentionMs    int64 `yaml:"local.retention.ms" json:"local.retention.ms"`
	LocalRetentionBytes int64 `yaml:"local.retention.bytes" json:"local.retention.bytes"`
}

// Policy returns the topic's own settings.
func (t Topic) Policy() Policy {
	return Policy{RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes,
		LocalRetentionMs: t.LocalRetentionMs, LocalRetentionBytes: t.LocalRetentionBytes}
}

// fields returns the settings by Kafka name, for validation and updates.
func (p *Policy) fields() map[string]*int64 {
	return map[string]*int64{
		ConfigRetentionMs: &p.RetentionMs, ConfigRetentionBytes: &p.RetentionBytes,
		ConfigLocalRetentionMs: &p.LocalRetentionMs, ConfigLocalRetentionBytes: &p.LocalRetentionBytes,
	}
}

// Names lists the settings' Kafka names, sorted.
func (p *Policy) Names() []string {
	var out []string
	for k := range p.fields() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Get returns the setting named by its Kafka name.
func (p *Policy) Get(name string) (int64, bool) {
	v, ok := p.fields()[name]
	if !ok {
		return 0, false
	}
	return *v, true
}

// Validate reports the first setting out of range.
func (p Policy) Validate() error {
	for name, v := range p.fields() {
		lowest := Unlimited
		if name == ConfigLocalRetentionMs || name == ConfigLocalRetentionBytes {
			lowest = SameAsRetention
		}
		if *v < lowest {
			return fmt.Errorf("%w: %s must be positive, 0 (inherit), -1 (unlimited)%s; got %d", ErrInvalidTopic, name,
				map[bool]string{true: " or -2 (same as retention)", false: ""}[lowest == SameAsRetention], *v)
		}
	}
	if p.LocalRetentionMs > 0 && p.RetentionMs > 0 && p.LocalRetentionMs > p.RetentionMs {
		return fmt.Errorf("%w: local.retention.ms (%d) must not exceed retention.ms (%d)", ErrInvalidTopic, p.LocalRetentionMs, p.RetentionMs)
	}
	if p.LocalRetentionBytes > 0 && p.RetentionBytes > 0 && p.LocalRetentionBytes > p.RetentionBytes {
		return fmt.Errorf("%w: local.retention.bytes (%d) must not exceed retention.bytes (%d)", ErrInvalidTopic, p.LocalRetentionBytes, p.RetentionBytes)
	}
	return nil
}

// over returns p with every unset (0) setting taken from base.
func (p Policy) over(base Policy) Policy {
	out := p
	for name, v := range out.fields() {
		if *v == 0 {
			*v, _ = base.Get(name)
		}
	}
	return out
}

// Effective is a fully resolved policy: every setting is -1 or positive
// (local ones resolved from -2), with where each value came from.
type Effective struct {
	Policy
	Sources map[string]string // Kafka name -> "topic", "tenant" or "default"
}

// Resolve applies topic settings over tenant ones over server defaults and
// resolves -2.
func Resolve(topic, tenant, server Policy) Effective {
	eff := Effective{Policy: topic.over(tenant).over(server), Sources: map[string]string{}}
	for _, name := range eff.Names() {
		switch {
		case mustGet(topic, name) != 0:
			eff.Sources[name] = "topic"
		case mustGet(tenant, name) != 0:
			eff.Sources[name] = "tenant"
		default:
			eff.Sources[name] = "default"
		}
	}
	for _, v := range eff.fields() {
		if *v == 0 {
			*v = Unlimited
		}
	}
	if eff.LocalRetentionMs == SameAsRetention {
		eff.LocalRetentionMs = eff.RetentionMs
	}
	if eff.LocalRetentionBytes == SameAsRetention {
		eff.LocalRetentionBytes = eff.RetentionBytes
	}
	return eff
}

func mustGet(p Policy, name string) int64 {
	v, _ := p.Get(name)
	return v
}

// Retention converts the resolved policy to the segments package's terms, where
// 0 is unlimited.
func (e Effective) Retention() segments.Retention {
	pos := func(v int64) int64 { return max(v, 0) }
	return segments.Retention{
		Age:        time.Duration(pos(e.RetentionMs)) * time.Millisecond,
		Bytes:      pos(e.RetentionBytes),
		LocalAge:   time.Duration(pos(e.LocalRetentionMs)) * time.Millisecond,
		LocalBytes: pos(e.LocalRetentionBytes),
	}
}

// serverPolicy is the server-wide default policy: the segments retention
// (0 = unlimited there) and the topics local retention defaults.
func (s *Store) serverPolicy() Policy {
	p := Policy{RetentionMs: Unlimited, RetentionBytes: Unlimited,
		LocalRetentionMs: s.cfg.LocalRetentionMs, LocalRetentionBytes: s.cfg.LocalRetentionBytes}
	if s.segCfg.RetentionAge > 0 {
		p.RetentionMs = s.segCfg.RetentionAge.Milliseconds()
	}
	if s.segCfg.RetentionBytes > 0 {
		p.RetentionBytes = s.segCfg.RetentionBytes
	}
	return p
}

// EffectivePolicy resolves tenant's topic t against the tenant override and the
// server defaults.
func (s *Store) EffectivePolicy(tenant string, t Topic) Effective {
	return Resolve(t.Policy(), s.cfg.TenantOverrides[tenant], s.serverPolicy())
}
