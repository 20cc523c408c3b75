# syntax=docker/dockerfile:1
#
# The Playbill operator image: a static musl binary on a distroless base, running as the
# non-root user 65532. Build from the repository root:
#
#   docker build -t ghcr.io/playbill/playbill:0.1.0 .
#
# The builder compiles for the build platform's own musl target (the Alpine Rust image's host
# target is *-unknown-linux-musl), so no cross toolchain is needed.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-alpine AS builder
RUN apk add --no-cache musl-dev
WORKDIR /src
# Dependencies first, so editing the sources does not rebuild every crate. The workspace's other
# members (the benchmark and the test support) are there as manifests over empty sources, only
# so cargo can read the workspace: the image builds the product package alone.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/
COPY crates/playbill-testkit/Cargo.toml crates/playbill-testkit/
RUN mkdir -p src bench/src crates/playbill-testkit/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && touch src/lib.rs crates/playbill-testkit/src/lib.rs \
 && cargo fetch --locked \
 && cargo build --locked --release -p playbill \
 && rm -rf src target/release/.fingerprint/playbill-* target/release/deps/playbill-* target/release/deps/libplaybill-*
COPY src ./src
RUN cargo build --locked --release -p playbill --bin playbill \
 && install -D -m 0755 target/release/playbill /out/playbill \
 && /out/playbill --version

# Static binary, no shell, no package manager; /etc/passwd names uid 65532 "nonroot".
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/playbill /usr/local/bin/playbill
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/playbill"]
CMD ["run"]
