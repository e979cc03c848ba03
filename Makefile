GO ?= go
# Pinned; `go run` fetches it through the module proxy (no separate install).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 10m
# Packages with concurrency, also tested under the race detector.
RACE_PKGS ?= ./segments/... ./ingest/... ./kafka/... ./search/... ./cmd/... ./metrics/... ./cluster/...
# loki-client-go (an end-to-end test client) needs Prometheus' slice labels.
TEST_TAGS ?= slicelabels

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
LDFLAGS  := -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.branch=$(BRANCH) \
	-X main.buildUser=$(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null) \
	-X main.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: run build test test-deps bench lint ui-screenshots

## run: start an all-in-one silt with the embedded defaults (data in ./data, HTTP on 127.0.0.1:3100)
run:
	$(GO) run ./cmd/silt $(ARGS)

## build: build ./silt with version information
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o silt ./cmd/silt

## test: install missing test tools, vet, test everything, race-test the concurrent packages
test: test-deps
	$(GO) vet -tags $(TEST_TAGS) ./...
	$(GO) test -tags $(TEST_TAGS) -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -tags $(TEST_TAGS) -race -short -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

test-deps:
	./scripts/test-deps.sh

## bench: run the benchmarks with allocation counts
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## ui-screenshots: run the web UI's browser tests (needs chromium) and keep their screenshots in ui/screenshots
ui-screenshots: test-deps
	SILT_UI_SCREENSHOTS=$(CURDIR)/ui/screenshots $(GO) test -tags $(TEST_TAGS) -count=1 -run 'TestBrowser$$' ./ui/

## lint: gofmt, go vet and staticcheck
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TEST_TAGS) ./...
	$(GO) run $(STATICCHECK) -tags $(TEST_TAGS) ./...
