package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments/topics"
)

// Rules evaluates each tenant's recording rules on their groups' intervals
// and pushes the results into the tenant's metrics topic. It is a dskit
// service; rule files are re-read every RulesReloadInterval.
type Rules struct {
	services.Service

	cfg    Config
	engine *promql.Engine
	m      *Materialiser
	logs   func(tenant string) logql.Querier
	push   func(context.Context, *ingest.PushRequest) error
	logger *slog.Logger

	mu      sync.Mutex
	tenants map[string]*tenantRules // guarded by mu
}

// tenantRules is one tenant's running groups and the file they came from.
type tenantRules struct {
	file    string
	content string
	groups  []*ruleGroup
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// ruleGroup is a group being evaluated; its status is guarded by mu.
type ruleGroup struct {
	tenant string
	file   string
	spec   groupSpec

	mu       sync.Mutex
	lastEval time.Time     // guarded by mu
	evalTook time.Duration // guarded by mu
	rules    []ruleStatus  // guarded by mu
}

type ruleStatus struct {
	health   string
	lastErr  string
	lastEval time.Time
	took     time.Duration
}

// NewRules returns the recording-rule evaluator. logs gives a tenant's LogQL
// storage; push writes results (the ingest distributor's Push).
func NewRules(cfg Config, engine *promql.Engine, m *Materialiser, logs func(string) logql.Querier,
	push func(context.Context, *ingest.PushRequest) error, logger *slog.Logger) *Rules {
	r := &Rules{cfg: cfg, engine: engine, m: m, logs: logs, push: push, logger: logger, tenants: map[string]*tenantRules{}}
	r.Service = services.NewBasicService(nil, r.running, r.stopping).WithName("rules")
	return r
}

func (r *Rules) running(ctx context.Context) error {
	t := time.NewTicker(r.cfg.RulesReloadInterval)
	defer t.Stop()
	for {
		r.Reload(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Rules) stopping(error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for tenant, tr := range r.tenants {
		tr.stop()
		delete(r.tenants, tenant)
	}
	return nil
}

func (tr *tenantRules) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// Reload reads every <tenant>.yaml of the rules directory and restarts the
// groups of the files that changed. A file with an error keeps its tenant's
// previous rules.
func (r *Rules) Reload(ctx context.Context) {
	if r.cfg.RulesDir == "" {
		return
	}
	entries, err := os.ReadDir(r.cfg.RulesDir)
	if err != nil {
		r.logger.Error("cannot read the rules directory", "dir", r.cfg.RulesDir, "err", err)
		return
	}
	found := map[string]bool{}
	for _, e := range entries {
		tenant, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() || topics.ValidateTenantID(tenant) != nil {
			continue
		}
		found[tenant] = true
		if err := r.load(ctx, tenant, filepath.Join(r.cfg.RulesDir, e.Name())); err != nil {
			r.logger.Error("rules file not loaded; the tenant keeps its previous rules", "tenant", tenant, "err", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for tenant, tr := range r.tenants {
		if !found[tenant] {
			tr.stop()
			delete(r.tenants, tenant)
		}
	}
}

// load (re)starts tenant's groups from file when its content changed.
func (r *Rules) load(ctx context.Context, tenant, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.tenants[tenant]; old != nil && old.content == string(data) {
		return nil
	}
	specs, err := parseRules(data, r.cfg.RulesDefaultInterval)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if old := r.tenants[tenant]; old != nil {
		old.stop()
	}
	gctx, cancel := context.WithCancel(ctx)
	tr := &tenantRules{file: file, content: string(data), cancel: cancel}
	for _, spec := range specs {
		g := &ruleGroup{tenant: tenant, file: file, spec: spec, rules: make([]ruleStatus, len(spec.Rules))}
		for i := range g.rules {
			g.rules[i].health = "unknown"
		}
		tr.groups = append(tr.groups, g)
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			r.runGroup(gctx, g)
		}()
	}
	r.tenants[tenant] = tr
	r.logger.Info("recording rules loaded", "tenant", tenant, "file", file, "groups", len(specs))
	return nil
}

// runGroup evaluates g at every multiple of its interval.
func (r *Rules) runGroup(ctx context.Context, g *ruleGroup) {
	iv := g.spec.Interval
	for {
		next := time.Now().Truncate(iv).Add(iv)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.EvalGroup(ctx, g, next)
	}
}

// EvalGroup evaluates every rule of g at ts and pushes the results.
func (r *Rules) EvalGroup(ctx context.Context, g *ruleGroup, ts time.Time) {
	began := time.Now()
	for i, rule := range g.spec.Rules {
		ruleBegan := time.Now()
		err := r.evalRule(ctx, g.tenant, g.spec.Lang, rule, ts)
		st := ruleStatus{health: "ok", lastEval: ruleBegan, took: time.Since(ruleBegan)}
		if err != nil {
			st.health, st.lastErr = "err", err.Error()
			r.logger.Warn("recording rule failed", "tenant", g.tenant, "group", g.spec.Name, "record", rule.Record, "err", err)
		}
		g.mu.Lock()
		g.rules[i] = st
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.lastEval, g.evalTook = began, time.Since(began)
	g.mu.Unlock()
}

// evalRule evaluates one rule at ts and pushes its samples.
func (r *Rules) evalRule(ctx context.Context, tenant, lang string, rule ruleSpec, ts time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	var samples []logql.Sample
	var err error
	if lang == LangLogQL {
		samples, err = r.evalLogQL(ctx, tenant, rule, ts)
	} else {
		samples, err = r.evalPromQL(ctx, tenant, rule, ts)
	}
	if err != nil || len(samples) == 0 {
		return err
	}
	req := &ingest.PushRequest{Tenant: tenant, Protocol: "rules", Topic: topics.TopicMetrics, Binary: true}
	for _, s := range samples {
		b := labels.NewBuilder(s.Labels)
		b.Set(model.MetricNameLabel, rule.Record)
		rule.Labels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
		var ls ingest.Labels
		b.Labels().Range(func(l labels.Label) { ls = append(ls, ingest.Label{Name: l.Name, Value: l.Value}) })
		value := ingest.AppendSamples(nil, []ingest.MetricSample{{T: ts.UnixMilli(), V: s.V}})
		req.Streams = append(req.Streams, ingest.Stream{Labels: ls, Entries: []ingest.Entry{{Timestamp: ts.UnixMilli() * 1e6, Line: string(value)}}})
	}
	if err := r.push(ctx, req); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

func (r *Rules) evalPromQL(ctx context.Context, tenant string, rule ruleSpec, ts time.Time) ([]logql.Sample, error) {
	q, err := r.m.Queryable(ctx, tenant, false)
	if err != nil {
		return nil, err
	}
	qry, err := r.engine.NewInstantQuery(ctx, q, nil, rule.Expr, ts)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	var out []logql.Sample
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			if s.H == nil {
				out = append(out, logql.Sample{Labels: s.Metric, T: s.T, V: s.F})
			}
		}
	case promql.Scalar:
		out = append(out, logql.Sample{Labels: labels.EmptyLabels(), T: v.T, V: v.V})
	default:
		return nil, fmt.Errorf("rule result is a %s, want an instant vector or a scalar", res.Value.Type())
	}
	return out, nil
}

func (r *Rules) evalLogQL(ctx context.Context, tenant string, rule ruleSpec, ts time.Time) ([]logql.Sample, error) {
	if r.logs == nil {
		return nil, errors.New("LogQL rules need the search component")
	}
	res, err := logql.NewEngine(r.logs(tenant), logql.EngineOpts{}).Exec(ctx, rule.logs, logql.QueryParams{
		Query: rule.Expr, Start: ts.UnixNano(), End: ts.UnixNano(), Instant: true,
	})
	if err != nil {
		return nil, err
	}
	switch res.Type {
	case logql.ResultVector:
		return res.Vector, nil
	case logql.ResultScalar:
		return []logql.Sample{{Labels: labels.EmptyLabels(), T: res.Scalar.T, V: res.Scalar.V}}, nil
	}
	return nil, fmt.Errorf("rule result is a %s, want a vector or a scalar", res.Type)
}

// Groups returns tenant's groups (for tests and EvalGroup).
func (r *Rules) Groups(tenant string) []*ruleGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr := r.tenants[tenant]; tr != nil {
		return slices.Clone(tr.groups)
	}
	return nil
}
