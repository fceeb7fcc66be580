# Latch — the two commands are `make run` and `make test`; see README.md.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

TOOLS_ENV = eval "$$(hack/tools.sh --print-env | sed 's/^/export /')"
GO_TEST_FLAGS ?= -race -count=1 -timeout 30m
# FUZZTIME counts executions, not seconds: a duration-based -fuzztime hits a race in Go's fuzz
# coordinator (golang/go#75804, unfixed in 1.26) that fails a clean target on a loaded machine.
FUZZTIME ?= 10000x
IMG ?= $(shell cat hack/IMAGE)

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and RBAC into config/ and copy them into the chart.
	@hack/tools.sh controller-gen
	@$(TOOLS_ENV); $$CONTROLLER_GEN rbac:roleName=latch-manager crd paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@hack/sync-chart.sh
	@go run ./hack/crdref config/crd/bases docs/crd-reference.md

.PHONY: generate
generate: ## Generate deepcopy code.
	@hack/tools.sh controller-gen
	@$(TOOLS_ENV); $$CONTROLLER_GEN object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: verify
verify: ## Fail when generated files are stale or code is unformatted.
	@hack/verify.sh

.PHONY: tools
tools: ## Install every pinned tool (cached under ~/.cache/latch/tools).
	@hack/tools.sh redis controller-gen envtest helm promtool crane coredns ca-certificates \
		kube-node containerd runc containernetworking-plugins iptables conntrack nftables

.PHONY: test
test: tools vet ## Run every test: unit, store conformance on real Redis, envtest, fuzz smoke.
	@$(TOOLS_ENV); go test $(GO_TEST_FLAGS) ./...
	@hack/fuzz.sh $(FUZZTIME)

.PHONY: fuzz
fuzz: ## Run every fuzz target longer (FUZZTIME=1000000x make fuzz).
	@hack/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: build tools ## Measure Latch beside this machine's ceilings and write BENCHMARKS.md (about 12 min; BENCH_FLAGS="-h" lists the knobs).
	@$(TOOLS_ENV); go build -o bin/latch-bench ./hack/bench && bin/latch-bench $(BENCH_FLAGS)

.PHONY: chaos
chaos: build tools ## Inject Redis and replica faults under load, check the invariants, write CHAOS.md (about 11 min; CHAOS_FLAGS="-h" lists the knobs).
	@$(TOOLS_ENV); go build -o bin/latch-chaos ./hack/chaos && bin/latch-chaos $(CHAOS_FLAGS)

##@ Build

.PHONY: build
build: ## Build bin/latch and the kubectl plugin bin/kubectl-latch.
	go build -o bin/latch .
	go build -o bin/kubectl-latch ./cmd/kubectl-latch

.PHONY: run
run: build tools ## Bring up Latch on a real single-node Kubernetes here (root; Ctrl-C stops it; README, Quick start).
	@hack/run.sh

.PHONY: node
node: ## Start a real single-node Kubernetes cluster here (root; Ctrl-C stops it and restores the host; docs/node.md).
	@go run ./hack/node up

.PHONY: node-down
node-down: ## Stop the node, or undo what a killed one left on the host.
	@go run ./hack/node down

.PHONY: image
image: ## Build the latch image as an OCI tarball, bin/images/latch.tar, tagged hack/IMAGE; no container engine needed.
	@go run ./hack/images latch

.PHONY: images
images: ## Build every image the node runs (latch, pause, redis, coredns) into bin/images/NAME.tar (docs/images.md).
	@go run ./hack/images

.PHONY: docker-build
docker-build: ## Build the image $(IMG) (default hack/IMAGE: the chart's and the operator's default).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image $(IMG).
	docker push $(IMG)
