#!/usr/bin/env bash
# Runs Playbill for real: the local control plane (unless KUBECONFIG points elsewhere), the CRDs,
# the example catalog and the operator, then shows the resolved catalog.
#
#   scripts/demo.sh        start everything (idempotent) and show the catalog
#   scripts/demo.sh stop   stop the operator started by this script
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PB="$ROOT/.playbill"
PID_FILE="$PB/operator.pid"
LOG_FILE="$PB/operator.log"
KUBECTL="${KUBECTL:-$PB/bin/kubectl}"
[[ -x "$KUBECTL" ]] || KUBECTL=kubectl
export KUBECONFIG="${KUBECONFIG:-$PB/kubeconfig}"
LISTEN="${PLAYBILL_LISTEN:-127.0.0.1:8080}"
BIN="$ROOT/target/release/playbill"

LOG_TAG=demo
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

if [[ "${1:-}" == "stop" ]]; then
	if running; then
		kill -TERM "$(cat "$PID_FILE")"
		log "operator stopped"
	fi
	rm -f "$PID_FILE"
	exit 0
fi

mkdir -p "$PB"
log "building playbill (release)..."
(cd "$ROOT" && cargo build --locked --release --quiet)

log "installing the CRDs..."
"$KUBECTL" apply --server-side -f "$ROOT/crds/"
"$KUBECTL" wait --for=condition=Established --timeout=60s -f "$ROOT/crds/" >/dev/null

log "applying the example catalog..."
"$KUBECTL" apply --server-side -f "$ROOT/examples/catalog/" -f "$ROOT/examples/dangling.yaml" >/dev/null

if running; then
	log "operator already running (pid $(cat "$PID_FILE"), log $LOG_FILE)"
else
	nohup "$BIN" run --listen "$LISTEN" --lease-namespace default >"$LOG_FILE" 2>&1 &
	echo $! >"$PID_FILE"
	log "operator started (pid $!, log $LOG_FILE, metrics http://$LISTEN/metrics)"
fi

log "waiting until every entity has a status for its current generation..."
for _ in $(seq 1 300); do
	pending=$("$KUBECTL" get catalog -A -o go-template='{{range .items}}{{if ne (printf "%v" .metadata.generation) (printf "%v" .status.observedGeneration)}}x{{end}}{{end}}' 2>/dev/null || echo x)
	[[ -z "$pending" ]] && break
	sleep 0.2
done
[[ -z "$pending" ]] || { log "not converged; see $LOG_FILE"; exit 1; }

"$KUBECTL" get catalog -A
echo
echo "# Relations of one system, as Backstage would compute them:"
"$KUBECTL" get system storefront -n acme-shop -o go-template='{{range .status.relations}}{{.type}}	{{.targetRef}}{{"\n"}}{{end}}'
echo
echo "# What does not resolve, and why:"
"$KUBECTL" get catalog -A -o go-template='{{range .items}}{{$r := .status.entityRef}}{{range .status.unresolvedRefs}}{{$r}}	{{.field}}	{{.reason}}	{{.targetRef}}{{"\n"}}{{end}}{{end}}'
echo
log "stop the operator with 'scripts/demo.sh stop' and the control plane with 'make cluster-down'"
