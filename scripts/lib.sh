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

# cargo_tool NAME VERSION prints the path of a cargo subcommand, first installing it with
# `cargo install --locked` into $PLAYBILL_TOOLS (default ~/.cache/playbill/tools) when missing or
# of another version. The cache lives outside the clone, so every clone on a machine (CI's fresh
# ones included) shares one install; a new machine installs again.
cargo_tool() {
	local name="$1" version="$2" tools="${PLAYBILL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/playbill/tools}"
	local bin="$tools/bin/$name"
	if [[ ! -x "$bin" ]] || ! "$bin" "${name#cargo-}" --version 2>/dev/null | grep -qF "$version"; then
		log "installing $name $version into $tools (once per machine, a few minutes)..."
		cargo install --locked --quiet --root "$tools" "$name@$version" >&2 || die "cargo install $name failed"
	fi
	echo "$bin"
}
