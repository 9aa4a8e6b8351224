# ALO — make targets. `make` alone lists them.
.DEFAULT_GOAL := help
GO ?= go
BIN := bin

.PHONY: help run build test vet fmt-check lint race fuzz bench bench-smoke bench-scenarios demo-png clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run ALO in one process: clients on :8080 (TCP, UDP), page and WebSocket on :8081
	$(GO) run ./cmd/alo

build: ## build every binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

test: vet fmt-check lint race ## what CI runs: vet, gofmt, staticcheck, and every test with the race detector

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# staticcheck, pinned so that a new release's checks arrive by a commit, not
# by surprise in CI. v0.8.2 is staticcheck 2026.2.2, which knows Go 1.26.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)/staticcheck

lint: ## staticcheck over the module and tools/wsmem (installs the pinned version if absent)
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || \
		{ echo "installing staticcheck $(STATICCHECK_VERSION)"; $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	$(STATICCHECK) ./...
	cd tools/wsmem && $(STATICCHECK) ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz: ## fuzz the client decoder for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz FuzzDecodeClient -fuzztime $(or $(FUZZTIME),60s) ./shared/

bench: ## run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./shared/ ./presence/ ./gateway/ ./e2e/

ALO_SERVER := '$(BIN)/alo --tcp {addr} --http "" --log-level warn --max-conns-per-ip 0 --conn-rate-per-ip 0'

bench-smoke: ## load smoke: a real alo under churn, zero lost or duplicated notifications
	$(GO) build -o $(BIN)/ ./cmd/alo ./cmd/alo-bench
	$(BIN)/alo-bench smoke --server-cmd $(ALO_SERVER)

bench-scenarios: ## every load scenario against a fresh alo (minutes; figures in BENCHMARKS.md)
	$(GO) build -o $(BIN)/ ./cmd/alo ./cmd/alo-bench
	for s in latency throughput hotuser idle storm; do $(BIN)/alo-bench $$s --server-cmd $(ALO_SERVER) || exit 1; done

demo-png: ## regenerate docs/demo.png: the demo page, shot by the browser test
	d=$$(mktemp -d) && ALO_SCREENSHOT_DIR=$$d ALO_BROWSER_TEST=1 $(GO) test -count=1 -run '^TestTwoPages$$' ./web/ && cp $$d/web-demo.png docs/demo.png && rm -rf $$d

clean: ## remove build output
	rm -rf $(BIN)

-include deploy/compose.mk
