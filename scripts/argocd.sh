#!/usr/bin/env bash
# Argo CD v3.2.11 for the end-to-end test tests/e2e_argocd_real.rs, built from the Go module proxy
# (the wrapper module tests/argocd-real: argo-cd's own requirements and replace lines).
#
#   scripts/argocd.sh build     build if needed (about 9 min cold on 2 CPUs, 1.5 min warm)
#   scripts/argocd.sh path      print the binary's path (after building it if needed)
#   scripts/argocd.sh crds      print the directory of Argo CD's CRDs (Application, AppProject) in
#                               the Go module cache
#
# Files (git-ignored): .playbill/bin/argocd and, next to it, the symlinks whose names select the
# component (argv[0]): argocd-application-controller, argocd-repo-server, argocd-git-ask-pass,
# argocd-redis.
#
# Environment: GO (go binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tests/argocd-real"
BIN="$ROOT/.playbill/bin"
ARGOCD_BIN="$BIN/argocd"
COMPONENTS=(argocd-application-controller argocd-repo-server argocd-git-ask-pass argocd-redis)

LOG_TAG=argocd
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# needs_build is true if the binary is missing or older than any Go source, go.mod or go.sum.
needs_build() {
	[[ -x "$ARGOCD_BIN" ]] || return 0
	[[ -n "$(find "$MOD" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$ARGOCD_BIN" -print -quit)" ]]
}

links() {
	local c
	for c in "${COMPONENTS[@]}"; do
		[[ "$(readlink "$BIN/$c" 2>/dev/null)" == argocd ]] || ln -sfn argocd "$BIN/$c"
	done
}

build() {
	if needs_build; then
		local go start tmp version
		go="$(go_bin)"
		# Stamp the release (from go.mod) as upstream's Makefile does, so `argocd version` and the
		# components' start-up logs say v3.2.11 rather than v99.99.99.
		version="$(awk '$1 == "github.com/argoproj/argo-cd/v3" { print $2; exit }' "$MOD/go.mod")"
		[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read the argo-cd version from $MOD/go.mod"
		start=$(now_ms)
		log "building Argo CD (github.com/argoproj/argo-cd/v3 from the Go module proxy; the first build takes about 10 minutes)..."
		mkdir -p "$BIN"
		tmp="$(mktemp -d "$BIN/.build-argocd.XXXXXX")"
		# -mod=mod: the replace lines are argo-cd's; go.sum is committed, so nothing new is resolved.
		# Build aside and rename, so a running Argo CD's binary is never overwritten in place.
		if ! (cd "$MOD" && GOFLAGS="${GOFLAGS:-} -mod=mod" "$go" build -trimpath -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${version#v}" -o "$tmp/argocd" ./cmd/argocd); then
			rm -rf "$tmp"
			die "build failed"
		fi
		mv -f "$tmp/argocd" "$ARGOCD_BIN"
		rm -rf "$tmp"
		log "built in $(elapsed "$start") -> ${ARGOCD_BIN#"$ROOT"/}"
	fi
	links
}

# crds_dir prints manifests/crds of the argo-cd module that go.mod requires.
crds_dir() {
	local go dir
	go="$(go_bin)"
	dir="$(cd "$MOD" && GOFLAGS="${GOFLAGS:-} -mod=mod" "$go" mod download -json github.com/argoproj/argo-cd/v3 | awk -F'"' '$2 == "Dir" { print $4 }')"
	[[ -f "$dir/manifests/crds/application-crd.yaml" ]] || die "Argo CD's CRDs not found in the module cache (${dir:-no module directory})"
	echo "$dir/manifests/crds"
}

case "${1:-}" in
build) build ;;
crds) crds_dir ;;
path)
	build
	echo "$ARGOCD_BIN"
	;;
*)
	echo "usage: $0 build|path|crds" >&2
	exit 2
	;;
esac
