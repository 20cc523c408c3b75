#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy in deny.toml), installed into ~/.cache/playbill/tools (see scripts/lib.sh).
#
#   scripts/deny.sh              licenses, bans and sources: offline, run by `make test`
#   scripts/deny.sh advisories   the RustSec advisory database (needs network: it fetches the
#                                database from GitHub into ~/.cargo/advisory-dbs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG=deny.sh
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

CARGO_DENY_VERSION=0.20.2

deny="$(cargo_tool cargo-deny "$CARGO_DENY_VERSION")"
cd "$ROOT"
case "${1:-}" in
	"") start=$(now_ms)
		"$deny" deny --log-level error --offline check licenses bans sources
		log "licenses, bans, sources ok in $(elapsed "$start")" ;;
	advisories) exec "$deny" deny check advisories ;;
	*) echo "usage: $0 [advisories]" >&2; exit 2 ;;
esac
