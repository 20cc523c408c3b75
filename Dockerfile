# The Playbill operator image: one static binary, nothing else. No shell, no package manager, no
# base image to pull; runs as the non-root user 65532 on a read-only root filesystem.
#
# Build it with `make image` (or `scripts/image.sh build`): that compiles the static binary
# (cargo, glibc linked statically with `-C target-feature=+crt-static`), writes the CycloneDX SBOM
# and /etc/passwd into target/image/rootfs, and builds this file with Podman, Buildah or Docker,
# whichever is present. The build context is target/image/rootfs, so by hand it is:
#
#   scripts/image.sh binary && scripts/image.sh sbom   # or just: make image
#   docker build -f Dockerfile -t ghcr.io/playbill/playbill:0.1.0 target/image/rootfs
#
# The image the tests run (tests/e2e_image.rs) is built from this file by the same script.

FROM scratch

# Set by scripts/image.sh from Cargo.toml and git.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/playbill/playbill
ARG LICENSES=Apache-2.0

LABEL org.opencontainers.image.title="playbill" \
      org.opencontainers.image.description="Playbill operator: Backstage catalog entities as Kubernetes custom resources, with their relations resolved into status" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"

# Names for uid/gid 65532 ("nonroot", as in distroless images); /etc/hosts before DNS, as
# Kubernetes expects of pods.
COPY etc/passwd etc/group etc/nsswitch.conf /etc/
COPY usr/local/bin/playbill /usr/local/bin/playbill
# The dependencies compiled into the binary, for scanners and audits.
COPY usr/share/doc/playbill/playbill.cdx.json /usr/share/doc/playbill/playbill.cdx.json

USER 65532:65532
# /metrics, /healthz, /readyz and the Backstage export (`playbill run --listen`).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/playbill"]
CMD ["run"]
