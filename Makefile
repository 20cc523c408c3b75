# Playbill developer entry points. `make demo` runs it; `make test` tests everything.
#
# With KUBECONFIG set in the environment, everything runs against that cluster instead of the
# local control plane.

SHELL := /bin/bash
ROOT := $(CURDIR)
CARGO ?= cargo
# The Backstage entity provider (an npm package).
PROVIDER := backstage/plugin-catalog-backend-module-playbill

ifeq ($(origin KUBECONFIG), environment)
CLUSTER_DEP :=
else
export KUBECONFIG := $(ROOT)/.playbill/kubeconfig
CLUSTER_DEP := cluster-up
endif

# kubectl built alongside the control plane matches its version; fall back to the one on PATH.

.PHONY: help build image image-save deny crds check-crds backstage-mapping graph-image check-graph-image lint unit test test-argocd test-backstage bench cluster-up cluster-down cluster-status demo demo-stop clean

help:
	@echo "make demo          start the local control plane, install the CRDs and the example catalog, list it"
	@echo "make test          lint, unit tests, and end-to-end tests against the local control plane"
	@echo "make test-argocd   only the end-to-end test with real Argo CD (built from the Go module proxy)"
	@echo "make bench N=1000  benchmark convergence, writes, change latency and memory (BENCHMARKS.md)"
	@echo "                   CROSS_NAMESPACE_REFS=consent: the operator in consent mode"
	@echo "make image         build the operator image (static binary, FROM scratch) with podman, buildah or docker"
	@echo "make deny          cargo deny check licenses bans sources (deny.toml; offline)"
	@echo "make crds          regenerate crds/, the chart's CRDs and unknown-keys policy, and deploy/ from the Rust types"
	@echo "make backstage-mapping  regenerate the Backstage provider's mapping table from the Rust code"
	@echo "make graph-image   regenerate docs/catalog-graph.{dot,svg}, the README's picture of examples/catalog"
	@echo "make cluster-up    start the local control plane (kube-apiserver + etcd, built from Go modules)"
	@echo "make cluster-down  stop it and delete its data"

build:
	$(CARGO) build --locked --release

# The operator image (Dockerfile): a static binary in an empty image, tagged as the chart expects
# (ghcr.io/playbill/playbill:<version>; IMAGE=... to change). See docs/install.md.
image:
	scripts/image.sh build

# The image as an OCI archive in target/image/, with its size.
image-save: image
	scripts/image.sh save

# Licenses, bans and sources of every dependency (deny.toml); no network needed.
# `scripts/deny.sh advisories` checks the RustSec database (needs network).
deny:
	scripts/deny.sh

# The chart carries its own copy of the CRDs, and deploy/ is rendered from the chart.
crds:
	$(CARGO) run --locked --quiet -- crds > crds/catalog.playbill.dev.yaml
	cp crds/catalog.playbill.dev.yaml charts/playbill/crds/catalog.playbill.dev.yaml
	$(CARGO) run --locked --quiet -- crds --policy > charts/playbill/templates/unknown-keys-policy.yaml
	scripts/helm.sh render-deploy

check-crds:
	@$(CARGO) run --locked --quiet -- crds | diff -u crds/catalog.playbill.dev.yaml - \
	  || { echo "crds/ is stale: run 'make crds' and commit the result" >&2; exit 1; }
	@$(CARGO) run --locked --quiet -- crds --policy | diff -u charts/playbill/templates/unknown-keys-policy.yaml - \
	  || { echo "the chart's unknown-keys policy is stale: run 'make crds' and commit the result" >&2; exit 1; }
	@$(CARGO) run --locked --quiet -- backstage-mapping | diff -u $(PROVIDER)/src/mapping.json - \
	  || { echo "$(PROVIDER)/src/mapping.json is stale: run 'make backstage-mapping' and commit the result" >&2; exit 1; }

# The Backstage entity provider ships the mapping's data as a table generated from the Rust code.
backstage-mapping:
	$(CARGO) run --locked --quiet -- backstage-mapping > $(PROVIDER)/src/mapping.json

# The README's picture: `playbill graph` of the example catalog, rendered by Graphviz compiled to
# WebAssembly (tools/graph-render), so no graphviz binary is needed.
graph-image:
	$(CARGO) run --locked --quiet -- graph -f examples/catalog -o dot > docs/catalog-graph.dot.tmp
	mv docs/catalog-graph.dot.tmp docs/catalog-graph.dot
	cd tools/graph-render && npm ci --no-audit --no-fund --loglevel=error && node render.mjs ../../docs/catalog-graph.dot ../../docs/catalog-graph.svg

check-graph-image:
	$(CARGO) build --locked --quiet
	cd tools/graph-render && npm ci --no-audit --no-fund --loglevel=error && PLAYBILL_BIN=$${CARGO_TARGET_DIR:-$(ROOT)/target}/debug/playbill npm test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --workspace --lib --bins

# The chaos suite (tests/e2e_chaos.rs) runs private control planes, so it needs the binary even
# when KUBECONFIG names another cluster.
test: lint check-crds deny $(CLUSTER_DEP)
	scripts/cluster.sh build
	scripts/helm.sh build
	scripts/argocd.sh build
	scripts/image.sh test-prep
	$(CARGO) test --locked --workspace --all-targets
	cd tests/argocd && go test ./...
	$(MAKE) check-graph-image
	$(MAKE) test-backstage

# Real Argo CD v3.2.11 (tests/argocd-real, built by scripts/argocd.sh: ~10 min the first time,
# seconds after) syncing the example catalog from a local git repository. Part of `make test`.
test-argocd: $(CLUSTER_DEP)
	scripts/argocd.sh build
	$(CARGO) test --locked --test e2e_argocd_real

# Differential test: Playbill's relations against Backstage's own catalog code from npm, and the
# conformance test of the catalog API against Backstage's catalog backend (it runs on the
# provider's e2e infrastructure, so the provider's packages are installed first). Then the
# Backstage entity provider (backstage/plugin-catalog-backend-module-playbill): unit tests, and the
# end-to-end test with its own control plane, Postgres and Backstage backend.
test-backstage:
	$(CARGO) build --locked --quiet
	scripts/cluster.sh build
	cd $(PROVIDER) && npm ci --no-audit --no-fund --loglevel=error
	cd tests/backstage && npm ci --no-audit --no-fund --loglevel=error && PLAYBILL_BIN=$(ROOT)/target/debug/playbill npm test
	cd $(PROVIDER) && PLAYBILL_BIN=$(ROOT)/target/debug/playbill npm test && PLAYBILL_BIN=$(ROOT)/target/debug/playbill npm run test:e2e

# The benchmark (bench/) against the local control plane; see BENCHMARKS.md. `make bench N=10000`.
# It runs the release operator that the first line builds.
# CROSS_NAMESPACE_REFS=consent runs the operator in consent mode, each bench namespace granting
# the other three everything.
N ?= 1000
CROSS_NAMESPACE_REFS ?= allow
bench: $(CLUSTER_DEP)
	$(CARGO) build --locked --release -p playbill
	$(CARGO) run --locked --release -p playbill-bench -- --n $(N) --cross-namespace-refs $(CROSS_NAMESPACE_REFS)

cluster-up:
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

cluster-status:
	@scripts/cluster.sh status

demo: $(CLUSTER_DEP)
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop

clean: demo-stop cluster-down
	$(CARGO) clean
