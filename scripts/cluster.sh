#!/usr/bin/env bash
# Local Kubernetes control plane for Playbill (docs/design.md#the-local-control-plane): etcd + kube-apiserver
# (RBAC on) + the namespace/garbage-collector controllers, all in one process
# built from the upstream Go modules in tests/controlplane.
#
#   scripts/cluster.sh up       build if needed, start in the background, wait until ready
#   scripts/cluster.sh down     stop it and remove its state (keeps .playbill/bin)
#   scripts/cluster.sh status   exit 0 if it is up and ready
#   scripts/cluster.sh build    only build the binaries if needed (the chaos suite starts its own)
#
# Files (all git-ignored): .playbill/bin/{playbill-controlplane,kubectl},
# .playbill/kubeconfig (admin), .playbill/controlplane.{pid,log}, .playbill/state/.
#
# Environment: GO (go binary), CLUSTER_UP_TIMEOUT (s, default 120),
# CLUSTER_STOP_TIMEOUT (s, default 30), CLUSTER_APISERVER_PORT (first start only; default: a free port).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tests/controlplane"
PB="$ROOT/.playbill"
BIN="$PB/bin"
SERVER_BIN="$BIN/playbill-controlplane"
KUBECTL="$BIN/kubectl"
KUBECONFIG_FILE="$PB/kubeconfig"
PID_FILE="$PB/controlplane.pid"
LOG_FILE="$PB/controlplane.log"
STATE_DIR="$PB/state"
UP_TIMEOUT="${CLUSTER_UP_TIMEOUT:-120}"
STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-30}"

LOG_TAG=cluster
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# needs_build is true if a binary is missing or older than any Go source, go.mod or go.sum.
needs_build() {
	local b
	for b in "$SERVER_BIN" "$KUBECTL"; do
		[[ -x "$b" ]] || return 0
		if [[ -n "$(find "$MOD" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$b" -print -quit)" ]]; then
			return 0
		fi
	done
	return 1
}

build() {
	needs_build || return 0
	local go start tmp
	go="$(go_bin)"
	start=$(now_ms)
	log "building playbill-controlplane and kubectl (k8s.io/kubernetes from the Go module proxy; the first build takes several minutes)..."
	# Stamp the Kubernetes version (from go.mod) the way the upstream release build
	# does; otherwise /version and `kubectl version` say "v0.0.0-master+$Format:%H$",
	# which clients cannot parse. -s -w: no symbol tables (smaller, faster link).
	local version major minor ldflags pkg
	version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$MOD/go.mod")"
	[[ "$version" =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "cannot read the k8s.io/kubernetes version from $MOD/go.mod"
	major="${BASH_REMATCH[1]}" minor="${BASH_REMATCH[2]}"
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean"
	done
	mkdir -p "$BIN"
	tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
	# Build aside and rename, so a running control plane's binary is never overwritten in place.
	if ! (cd "$MOD" && "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/playbill-controlplane ./cmd/kubectl); then
		rm -rf "$tmp"
		die "build failed"
	fi
	mv -f "$tmp/playbill-controlplane" "$SERVER_BIN"
	mv -f "$tmp/kubectl" "$KUBECTL"
	rm -rf "$tmp"
	log "built in $(elapsed "$start") -> ${BIN#"$ROOT"/}/"
}

# pid prints the control plane's pid if the pid file names a live playbill-controlplane process.
pid() {
	local p
	[[ -f "$PID_FILE" ]] || return 1
	p="$(cat "$PID_FILE" 2>/dev/null)"
	[[ "$p" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$p" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q playbill-controlplane || return 1
	echo "$p"
}

ready() {
	[[ -f "$KUBECONFIG_FILE" && -x "$KUBECTL" ]] || return 1
	[[ "$("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz --request-timeout=5s 2>/dev/null)" == ok ]]
}

server_url() {
	"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" config view --minify -o 'jsonpath={.clusters[0].cluster.server}' 2>/dev/null || true
}

log_tail() {
	if [[ -f "$LOG_FILE" ]]; then
		log "last lines of ${LOG_FILE#"$ROOT"/}:"
		tail -n 40 "$LOG_FILE" >&2
	fi
}

# wait_ready waits for /readyz while process $1 lives.
wait_ready() {
	local p="$1" deadline=$(( $(date +%s) + UP_TIMEOUT ))
	until ready; do
		if ! kill -0 "$p" 2>/dev/null; then
			log "the control plane exited during start-up"
			log_tail
			rm -f "$PID_FILE"
			return 1
		fi
		if (( $(date +%s) >= deadline )); then
			log "not ready after ${UP_TIMEOUT}s"
			log_tail
			stop_process "$p"
			return 1
		fi
		sleep 0.3
	done
}

cmd_up() {
	build
	local p start
	start=$(now_ms)
	if p="$(pid)"; then
		if ready; then
			log "already up (pid $p, $(server_url)); nothing to do"
			return 0
		fi
		log "pid $p is running but not ready yet; waiting"
		wait_ready "$p" || exit 1
		log "up (pid $p, $(server_url)) after $(elapsed "$start")"
		return 0
	fi
	rm -f "$PID_FILE" "$KUBECONFIG_FILE"
	mkdir -p "$STATE_DIR"
	local args=(--state-dir "$STATE_DIR" --kubeconfig "$KUBECONFIG_FILE")
	[[ -n "${CLUSTER_APISERVER_PORT:-}" ]] && args+=(--apiserver-port "$CLUSTER_APISERVER_PORT")
	# setsid: own session, so the control plane outlives the calling shell/make
	# and does not get its terminal's SIGINT.
	if command -v setsid >/dev/null 2>&1; then
		nohup setsid "$SERVER_BIN" "${args[@]}" >"$LOG_FILE" 2>&1 </dev/null &
	else
		nohup "$SERVER_BIN" "${args[@]}" >"$LOG_FILE" 2>&1 </dev/null &
	fi
	p=$!
	echo "$p" >"$PID_FILE"
	log "starting (pid $p, log ${LOG_FILE#"$ROOT"/})..."
	wait_ready "$p" || exit 1
	log "up in $(elapsed "$start"): $(server_url)"
	log "kubeconfig: ${KUBECONFIG_FILE#"$ROOT"/}   e.g. ${KUBECTL#"$ROOT"/} --kubeconfig ${KUBECONFIG_FILE#"$ROOT"/} get ns"
}

# stop_process sends SIGTERM, then SIGKILL after STOP_TIMEOUT seconds.
stop_process() {
	local p="$1" deadline=$(( $(date +%s) + STOP_TIMEOUT ))
	kill -TERM "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do
		if (( $(date +%s) >= deadline )); then
			log "pid $p did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	rm -f "$PID_FILE"
}

cmd_down() {
	local p start
	start=$(now_ms)
	if p="$(pid)"; then
		log "stopping (pid $p)..."
		stop_process "$p"
		log "stopped in $(elapsed "$start")"
	else
		log "not running"
	fi
	rm -rf "$STATE_DIR"
	rm -f "$PID_FILE" "$KUBECONFIG_FILE"
	log "removed its state (kept ${BIN#"$ROOT"/} and ${LOG_FILE#"$ROOT"/})"
}

cmd_status() {
	local p
	if ! p="$(pid)"; then
		echo "down"
		return 1
	fi
	if ready; then
		echo "up: pid $p, $(server_url), kubeconfig ${KUBECONFIG_FILE#"$ROOT"/}"
		return 0
	fi
	echo "starting or unhealthy: pid $p (not ready; see ${LOG_FILE#"$ROOT"/})"
	return 1
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
build) build ;;
*)
	echo "usage: $0 up|down|status|build" >&2
	exit 2
	;;
esac
