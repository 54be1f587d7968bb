# syntax=docker/dockerfile:1
# ds-subgraph: build with the Rust toolchain, run on a distroless base as a non-root user.
# Configuration comes only from environment variables (see .env.example).

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
# Dependencies first, against empty sources: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
# The sources are newer than the dummy build, but make sure cargo sees it.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/ds-subgraph /ds-subgraph

# glibc + libgcc, CA certificates, a `nonroot` user (65532), no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /ds-subgraph /usr/local/bin/ds-subgraph
ENV LISTEN_ADDR=0.0.0.0:4000 \
    LOG_FORMAT=json
EXPOSE 4000
USER 65532:65532
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/ds-subgraph", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ds-subgraph"]
CMD ["serve"]
