# Shell helpers shared by scripts/*.sh. Source it after setting LOG_TAG.

log() { printf '%s: %s\n' "${LOG_TAG:-playbill}" "$*" >&2; }
die() { log "$*"; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }

# go_bin prints the Go toolchain to use: $GO, else go on PATH, else the standard install.
go_bin() {
	if [[ -n "${GO:-}" ]]; then echo "$GO"
	elif command -v go >/dev/null 2>&1; then command -v go
	elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
	else die "Go toolchain not found (set GO=/path/to/go)"
	fi
}
