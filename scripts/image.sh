#!/usr/bin/env bash
# The operator's container image: a static binary in a `FROM scratch` image (see Dockerfile),
# built with whichever engine is present: Podman, Buildah or Docker.
#
#   scripts/image.sh deps      install Podman (apt) if no engine is usable and we are root with apt;
#                              otherwise say why the image cannot be built or tested here
#   scripts/image.sh test-prep deps, then build when an engine can run the image (`make test`),
#                              else print why tests/e2e_image.rs will skip
#   scripts/image.sh build     static binary + SBOM + image, tagged $IMAGE (default: the chart's
#                              ghcr.io/playbill/playbill:<version>)
#   scripts/image.sh binary    only the static binary: target/<host triple>/release/playbill
#   scripts/image.sh sbom      only the CycloneDX SBOM: target/image/rootfs/.../playbill.cdx.json
#   scripts/image.sh save      write the image as an OCI archive and print its sizes
#   scripts/image.sh engine    print the engine that builds images, or why there is none (exit 1)
#   scripts/image.sh runner    print the engine that runs containers, or why there is none (exit 1)
#   scripts/image.sh exec ...  run that engine with this repository's settings, e.g.
#                              `scripts/image.sh exec run --rm ghcr.io/playbill/playbill:0.1.0 --version`
#   scripts/image.sh name      print the image reference that `build` tags
#
# The Dockerfile copies a binary this script builds, so the image tested here and the image a user
# builds with Docker elsewhere come from the same definition and the same cargo command.
#
# Environment: IMAGE (reference to tag), ENGINE (podman|buildah|docker: use this one),
# CARGO_TARGET_DIR, CONTAINERS_CONF (else scripts/containers.conf is used for Podman/Buildah).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG=image.sh
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STAGE="$TARGET_DIR/image"
ROOTFS="$STAGE/rootfs"
CYCLONEDX_VERSION=0.5.9

# Podman's default ulimits fail in containers without CAP_SYS_RESOURCE; see the file.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/scripts/containers.conf}"

cargo_field() {
	awk -v k="$1" '/^\[/ { in_pkg = ($0 == "[package]") } in_pkg && $1 == k { gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.toml"
}
VERSION="$(cargo_field version)"
SOURCE_URL="$(cargo_field repository)"
LICENSE="$(cargo_field license)"
IMAGE="${IMAGE:-ghcr.io/playbill/playbill:$VERSION}"

host_triple() { rustc -vV | awk '$1 == "host:" { print $2 }'; }

# podman_ok / docker_ok: the engine is installed AND answers (a docker CLI without a daemon does not).
podman_ok() { command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; }
buildah_ok() { command -v buildah >/dev/null 2>&1 && buildah info >/dev/null 2>&1; }
docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# why_none explains, for each engine, why it cannot be used.
why_none() {
	local e
	for e in podman buildah docker; do
		if ! command -v "$e" >/dev/null 2>&1; then
			echo "  $e: not installed"
		else
			echo "  $e: installed but '$e info' fails: $("$e" info 2>&1 >/dev/null | tail -n 1)"
		fi
	done
}

build_engine() {
	if [[ -n "${ENGINE:-}" ]]; then echo "$ENGINE"; return 0; fi
	if podman_ok; then echo podman
	elif buildah_ok; then echo buildah
	elif docker_ok; then echo docker
	else return 1
	fi
}

run_engine() {
	if [[ -n "${ENGINE:-}" && "$ENGINE" != buildah ]]; then echo "$ENGINE"; return 0; fi
	if podman_ok; then echo podman
	elif docker_ok; then echo docker
	else return 1
	fi
}

# engine_cmd prints the engine with its global flags: runc rather than crun for Podman, since crun
# fails to set up containers where runc works (no CAP_SYS_RESOURCE, cgroups v1).
engine_cmd() {
	case "$1" in
		podman) if command -v runc >/dev/null 2>&1; then echo "podman --runtime runc"; else echo podman; fi ;;
		*) echo "$1" ;;
	esac
}

cmd_engine() {
	build_engine || { echo "no container engine can build images here:"; why_none; echo "install Podman, Buildah or Docker (or run 'scripts/image.sh deps' as root on Debian/Ubuntu)"; exit 1; }
}

cmd_runner() {
	run_engine || {
		echo "no container engine can run containers here:"; why_none
		if buildah_ok; then echo "  (Buildah builds images but does not run them)"; fi
		echo "install Podman or Docker (or run 'scripts/image.sh deps' as root on Debian/Ubuntu)"
		exit 1
	}
}

cmd_deps() {
	if run_engine >/dev/null; then return 0; fi
	if [[ "$(id -u)" != 0 ]]; then
		log "image build and test SKIPPED: no usable container engine and not root, so Podman cannot be installed:"
		why_none >&2
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		log "image build and test SKIPPED: no usable container engine and no apt-get to install Podman:"
		why_none >&2
		return 0
	fi
	local start
	start=$(now_ms)
	log "no usable container engine; installing podman, buildah and runc with apt-get..."
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc >&2
	if run_engine >/dev/null; then
		log "installed podman in $(elapsed "$start")"
	else
		log "image build and test SKIPPED: podman was installed but does not work:"
		why_none >&2
	fi
}

cmd_binary() {
	local triple
	triple="$(host_triple)"
	[[ "$triple" == *-linux-gnu ]] || [[ "$triple" == *-linux-musl ]] \
		|| die "the image needs a static Linux binary; build on Linux (host is $triple)"
	# An explicit --target keeps these RUSTFLAGS off build scripts and proc macros (which must stay
	# dynamic) and gives the static build its own directory, so it never invalidates `cargo build`.
	# crt-static on the gnu target links glibc statically: no musl toolchain to download.
	log "building the static binary (target/$triple/release/playbill)..."
	RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
		cargo build --locked --release --target "$triple" --bin playbill
	local bin="$TARGET_DIR/$triple/release/playbill"
	if command -v file >/dev/null 2>&1; then
		file -L "$bin" | grep -Eq 'statically linked|static-pie linked' || die "$bin is not statically linked: $(file -L "$bin")"
	fi
	mkdir -p "$ROOTFS/usr/local/bin"
	cp -f "$bin" "$ROOTFS/usr/local/bin/playbill"
}

cmd_sbom() {
	local cyclonedx
	cyclonedx="$(cargo_tool cargo-cyclonedx "$CYCLONEDX_VERSION")"
	# Only what is linked into the Linux binary: normal dependencies for the image's target (build
	# scripts and proc macros run at build time and are not in the image).
	(cd "$ROOT" && "$cyclonedx" cyclonedx --format json --spec-version 1.5 --target "$(host_triple)" \
		--no-build-deps --override-filename playbill.cdx --quiet >&2)
	mkdir -p "$ROOTFS/usr/share/doc/playbill"
	mv -f "$ROOT/playbill.cdx.json" "$ROOTFS/usr/share/doc/playbill/playbill.cdx.json"
	# cargo-cyclonedx writes one per workspace member; only the operator's goes into the image.
	rm -f "$ROOT"/bench/playbill.cdx.json "$ROOT"/crates/*/playbill.cdx.json
	cp -f "$ROOTFS/usr/share/doc/playbill/playbill.cdx.json" "$STAGE/playbill.cdx.json"
	log "SBOM: ${STAGE#"$ROOT"/}/playbill.cdx.json (also in the image at /usr/share/doc/playbill/playbill.cdx.json)"
}

# stage_rootfs writes the files the Dockerfile copies besides the binary and the SBOM.
stage_rootfs() {
	mkdir -p "$ROOTFS/etc"
	# User and group 65532 ("nonroot", as in distroless) so tools that map ids to names work.
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ROOTFS/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$ROOTFS/etc/group"
	# glibc's own default without this file asks DNS before /etc/hosts.
	printf 'hosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"
	cp -f "$ROOT/Dockerfile" "$STAGE/Dockerfile"
}

cmd_build() {
	local engine start revision
	engine="$(build_engine)" || { cmd_engine; }
	start=$(now_ms)
	cmd_binary
	cmd_sbom
	stage_rootfs
	revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
	if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then revision+="-dirty"; fi
	local args=(
		--build-arg "VERSION=$VERSION" --build-arg "REVISION=$revision"
		--build-arg "SOURCE=$SOURCE_URL" --build-arg "LICENSES=$LICENSE"
		-t "$IMAGE" -f "$STAGE/Dockerfile" "$ROOTFS"
	)
	log "building $IMAGE with $engine..."
	case "$engine" in
		podman) $(engine_cmd podman) build --quiet "${args[@]}" >/dev/null ;;
		buildah) buildah build --quiet "${args[@]}" >/dev/null ;;
		docker) docker build --quiet "${args[@]}" >/dev/null ;;
		*) die "unknown ENGINE=$engine (podman, buildah or docker)" ;;
	esac
	log "built $IMAGE with $engine in $(elapsed "$start")"
}

cmd_test_prep() {
	cmd_deps
	local why
	if why="$(cmd_runner)"; then
		cmd_build
	else
		log "SKIPPED: tests/e2e_image.rs will not run the image: $why"
		if why="$(cmd_engine)"; then cmd_build; fi
	fi
}

cmd_exec() {
	local engine
	engine="$(run_engine)" || cmd_runner
	# shellcheck disable=SC2046
	exec $(engine_cmd "$engine") "$@"
}

cmd_save() {
	local engine out size compressed
	engine="$(build_engine)" || cmd_engine
	out="$STAGE/playbill-$VERSION.oci.tar"
	rm -f "$out"
	case "$engine" in
		# An oci-archive holds the layers gzip-compressed, as a registry stores and serves them.
		podman|buildah)
			"$engine" push --quiet "$IMAGE" "oci-archive:$out" >/dev/null
			compressed=$(stat -c %s "$out")
			size=$("$engine" image inspect --format '{{.Size}}' "$IMAGE") ;;
		docker)
			docker save -o "$out" "$IMAGE"
			compressed=$(gzip -c "$out" | wc -c)
			size=$(docker image inspect --format '{{.Size}}' "$IMAGE") ;;
	esac
	echo "$IMAGE: uncompressed $size bytes, compressed $compressed bytes (${out#"$ROOT"/})"
}

case "${1:-}" in
	deps) cmd_deps ;;
	test-prep) cmd_test_prep ;;
	build) cmd_build ;;
	binary) cmd_binary ;;
	sbom) cmd_sbom ;;
	save) cmd_save ;;
	engine) cmd_engine ;;
	runner) cmd_runner ;;
	exec) shift; cmd_exec "$@" ;;
	name) echo "$IMAGE" ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
