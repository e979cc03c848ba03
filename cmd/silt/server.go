package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/grafana/dskit/modules"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/kafka"
	"github.com/siltlog/silt/metrics"
	"github.com/siltlog/silt/search"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/groups"
	"github.com/siltlog/silt/segments/tier"
	"github.com/siltlog/silt/segments/topics"
)

// Module names. The all-in-one target runs every module; dependencies start
// first and stop last.
const (
	moduleStore  = "store"
	moduleServer = "server"
	moduleSyslog = "syslog"
	moduleKafka  = "kafka"
	moduleGroups = "groups"
	moduleIndex  = "indexer"
	moduleMetric = "materialiser"
	moduleRules  = "rules"
	targetAll    = "all"
)

// App is a running silt node: its components and the manager of their
// services.
type App struct {
	cfg      Config
	logger   *slog.Logger
	registry *prometheus.Registry
	store    *topics.Store
	http     *httpService
	kafka    *kafka.Server
	cluster  *clusterNode // nil in single-node mode
	manager  *services.Manager
	healthy  atomic.Bool
}

// newApp wires the components; nothing runs until Start.
func newApp(cfg Config, logger *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, logger: logger, registry: prometheus.NewRegistry()}
	a.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoCollector(),
	)
	segMetrics := segments.NewMetrics(a.registry)
	storeOpts := []topics.StoreOption{topics.WithBlockCache(segments.NewBlockCache(cfg.Storage.BlockCacheBytes, a.registry))}
	if cfg.Storage.Cold.Enabled() {
		cold, err := newColdTier(cfg.Storage, logger.With("component", "tier"), a.registry)
		if err != nil {
			return nil, err
		}
		storeOpts = append(storeOpts, topics.WithColdTier(cold))
	}
	if cfg.Cluster.Enabled {
		storeOpts = append(storeOpts, topics.WithCommitGate()) // replicated: read up to the high watermark
	}
	a.store = topics.NewStore(cfg.Storage.DataDir, cfg.Topics, cfg.Storage.Segments, logger, segMetrics, storeOpts...)
	a.registry.MustRegister(a.store.TierCollector())

	// Committed consumer group offsets, shared by the Kafka coordinator and
	// the HTTP groups API.
	offsets := groups.NewStore(filepath.Join(cfg.Storage.DataDir, groups.Dir), logger.With("component", "groups"))
	draining := make(chan struct{})
	var err error
	if a.cluster, err = newClusterNode(cfg, a.store, logger, a.registry); err != nil {
		return nil, err
	}
	api := &api{
		cfg: cfg, store: a.store, picker: topics.NewPicker(), logger: logger,
		ready: a.healthy.Load, draining: draining, groups: offsets, cluster: a.cluster,
	}
	tenant := func(r *http.Request) (string, error) { return ingest.TenantFromRequest(r, cfg.AuthEnabled) }
	api.ingest = ingest.NewDistributor(cfg.Ingest, a.store, ingest.NewMetrics(a.registry), tenant)
	searcher := search.NewSearcher(cfg.Search, a.store)
	var indexer *search.Indexer
	if cfg.Search.Index.Enabled {
		indexer = search.NewIndexer(cfg.Search.Index, a.store, logger.With("component", "indexer"), a.registry)
		searcher.WithIndexer(indexer)
	}
	api.search = search.NewAPI(searcher, tenant)
	var materialiser *metrics.Materialiser
	var rules *metrics.Rules
	if cfg.Metrics.Enabled {
		materialiser = metrics.NewMaterialiser(cfg.Metrics, a.store, logger.With("component", "materialiser"), a.registry)
		api.promAPI = metrics.NewAPI(cfg.Metrics, materialiser, tenant, prometheusBuildInfo(), logger, a.registry)
		if cfg.Metrics.RulesDir != "" {
			rules = metrics.NewRules(cfg.Metrics, api.promAPI.Engine(), materialiser, searcher.Querier, api.ingest.Push,
				logger.With("component", "rules"))
			api.promAPI.WithRules(rules)
		}
	}
	router := newRouter(api, a.registry, newHTTPMetrics(a.registry))
	a.http = newHTTPService(cfg.Server, router, draining, logger)
	api.httpAddr = a.http.Addr

	mm := modules.NewManager(gokitLogger{logger})
	mm.RegisterModule(moduleStore, func() (services.Service, error) { return a.store, nil })
	mm.RegisterModule(moduleServer, func() (services.Service, error) { return a.http, nil })
	mm.RegisterModule(moduleSyslog, func() (services.Service, error) {
		return ingest.NewSyslogServer(cfg.Syslog, api.ingest, logger.With("component", "syslog")), nil
	})
	mm.RegisterModule(moduleGroups, func() (services.Service, error) { return offsets, nil })
	mm.RegisterModule(moduleKafka, func() (services.Service, error) {
		a.kafka = kafka.NewServer(cfg.Kafka, a.store, offsets, logger.With("component", "kafka"))
		return a.kafka, nil
	})
	mm.RegisterModule(moduleIndex, func() (services.Service, error) {
		if indexer == nil {
			return nil, nil // disabled: no service
		}
		return indexer, nil
	})
	clusterDeps, clusterTargets := a.cluster.registerModules(mm)
	mm.RegisterModule(moduleMetric, func() (services.Service, error) {
		if materialiser == nil {
			return nil, nil
		}
		return materialiser, nil
	})
	mm.RegisterModule(moduleRules, func() (services.Service, error) {
		if rules == nil {
			return nil, nil
		}
		return rules, nil
	})
	mm.RegisterModule(targetAll, nil)
	deps := map[string][]string{
		moduleServer: {moduleStore, moduleGroups},
		moduleSyslog: {moduleStore},
		moduleKafka:  {moduleStore, moduleGroups},
		moduleIndex:  {moduleStore},
		moduleMetric: {moduleStore},
		moduleRules:  {moduleStore, moduleMetric},
		targetAll:    append([]string{moduleStore, moduleServer, moduleSyslog, moduleKafka, moduleIndex, moduleMetric, moduleRules}, clusterTargets...),
	}
	for mod, on := range clusterDeps {
		deps[mod] = on
	}
	if a.cluster != nil {
		// Writers stop before the raft groups, which hand over leadership.
		for _, mod := range []string{moduleServer, moduleSyslog, moduleKafka, moduleIndex, moduleMetric} {
			deps[mod] = append(deps[mod], moduleRaft)
		}
	}
	for mod, on := range deps {
		if err := mm.AddDependency(mod, on...); err != nil {
			return nil, fmt.Errorf("module dependencies: %w", err)
		}
	}
	svcs, err := mm.InitModuleServices(targetAll)
	if err != nil {
		return nil, fmt.Errorf("init modules: %w", err)
	}
	list := make([]services.Service, 0, len(svcs))
	for _, s := range svcs {
		list = append(list, s)
	}
	if a.manager, err = services.NewManager(list...); err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	a.manager.AddListener(services.NewManagerListener(
		func() { a.healthy.Store(true); logger.Info("silt is ready", "addr", a.http.Addr()) },
		func() { a.healthy.Store(false) },
		func(s services.Service) {
			a.healthy.Store(false)
			logger.Error("service failed, stopping silt", "service", serviceName(s), "err", s.FailureCase())
			a.manager.StopAsync()
		},
	))
	return a, nil
}

func serviceName(s services.Service) string {
	if n, ok := s.(services.NamedService); ok {
		return n.ServiceName()
	}
	return fmt.Sprintf("%T", s)
}

// Run starts every service, blocks until ctx ends or a service fails, then
// stops them in reverse dependency order.
func (a *App) Run(ctx context.Context) error {
	if err := a.manager.StartAsync(context.Background()); err != nil {
		return fmt.Errorf("start services: %w", err)
	}
	stopped := make(chan struct{})
	go func() {
		_ = a.manager.AwaitStopped(context.Background())
		close(stopped)
	}()
	select {
	case <-ctx.Done():
		a.healthy.Store(false)
		a.logger.Info("shutting down")
		a.manager.StopAsync()
	case <-stopped:
	}
	<-stopped
	var errs []error
	for _, s := range a.manager.ServicesByState()[services.Failed] {
		errs = append(errs, fmt.Errorf("%s: %w", serviceName(s), s.FailureCase()))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.logger.Info("silt stopped")
	return nil
}

// runServer is `silt server`: it returns the process exit code.
func runServer(args []string, stdout, stderr io.Writer) int {
	sa, err := parseServerArgs(args, stderr)
	if err != nil {
		return usageExit(stderr, err)
	}
	switch {
	case sa.showVersion:
		bi := currentBuildInfo()
		fmt.Fprintf(stdout, "silt, version %s (revision: %s, branch: %s)\n  build user: %s\n  build date: %s\n  go version: %s\n",
			bi.Version, bi.Revision, bi.Branch, bi.BuildUser, bi.BuildDate, bi.GoVersion)
		return 0
	case sa.printConfig:
		out, err := dumpYAML(&sa.cfg)
		if err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 1
		}
		fmt.Fprint(stdout, out)
		return 0
	}
	logger := newLogger(sa.cfg.Server, stderr)
	bi := currentBuildInfo()
	logger.Info("starting silt", "version", bi.Version, "revision", bi.Revision, "data_dir", sa.cfg.Storage.DataDir)
	app, err := newApp(sa.cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		logger.Error("silt exited with errors", "err", err)
		return 1
	}
	return 0
}

func buildInfoCollector() prometheus.Collector {
	bi := currentBuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "silt_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, branch and goversion.",
		ConstLabels: prometheus.Labels{
			"version": bi.Version, "revision": bi.Revision, "branch": bi.Branch, "goversion": bi.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// newColdTier builds the cold tier: its bucket (a filesystem bucket without a
// directory gets <data dir>/cold) and its read cache (default <data
// dir>/cold-cache).
func newColdTier(c StorageConfig, logger *slog.Logger, reg prometheus.Registerer) (*tier.Tier, error) {
	cfg := c.Cold
	if cfg.Type == tier.TypeFilesystem && cfg.Config["directory"] == nil {
		conf := map[string]any{"directory": filepath.Join(c.DataDir, "cold")}
		for k, v := range cfg.Config {
			conf[k] = v
		}
		cfg.Config = conf
	}
	cacheDir := cfg.Cache.Dir
	if cacheDir == "" {
		cacheDir = filepath.Join(c.DataDir, "cold-cache")
	}
	bkt, err := tier.NewBucket(cfg, logger, tier.WithBucketMetrics(reg))
	if err != nil {
		return nil, fmt.Errorf("cold tier: %w", err)
	}
	t, err := tier.New(cfg, bkt, cacheDir, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("cold tier: %w", err)
	}
	logger.Info("cold tier enabled", "type", cfg.Type, "prefix", cfg.Prefix, "cache_dir", cacheDir)
	return t, nil
}
