# syntax=docker/dockerfile:1
# The FlowO server image: one `flowo` binary with the dashboard embedded, run as a non-root user.
#
#   docker build -t flowo .
#   docker run -p 3100:3100 -v flowo-data:/var/lib/flowo flowo          # embedded SQLite store
#   docker run -e FLOWO_DATABASE_URL -e FLOWO_JWT_SECRET flowo          # PostgreSQL; values from your env
#
# compose.yml runs two replicas of it on PostgreSQL behind Caddy. The first start on an empty
# store prints a one-time login link in the log; administration runs in the container
# (`docker exec -i CONTAINER flowo user create alice@lab.org --password-stdin < password.txt`).
# Checked without a Docker engine by flowo-py/tests/test_deploy.py.

# --- the dashboard: frontend/dist -----------------------------------------------------------------
# Node 24 (LTS); the dashboard needs >= 20.19. Only the static files leave this stage.
FROM node:24-slim AS frontend
WORKDIR /src/frontend
# The packages first, so that a change to the sources reuses the installed packages.
COPY frontend/package.json frontend/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY frontend/ ./
# The bundle only (vite build and the .br/.gz copies flowo-http serves as they are): CI runs the
# type check, lint and tests (scripts/frontend.sh); src/api/schema.d.ts is committed.
RUN npm run bundle

# --- the binary: cargo build --release -p flowo-cli ------------------------------------------------
# At least the workspace's rust-version (Cargo.toml); bookworm, as the runtime stage, so the
# binary's glibc matches.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Every workspace member is needed for Cargo to load the workspace, though only flowo-cli and its
# dependencies are built.
COPY Cargo.toml Cargo.lock ./
COPY flowo-core flowo-core
COPY flowo-store flowo-store
COPY flowo-http flowo-http
COPY flowo-client flowo-client
COPY flowo-cli flowo-cli
COPY flowo-py flowo-py
COPY flowo-testkit flowo-testkit
COPY examples examples
COPY xtask xtask
COPY flowo-fuzz flowo-fuzz
# flowo-http embeds frontend/dist at compile time (rust-embed, see flowo-http/build.rs).
COPY --from=frontend /src/frontend/dist frontend/dist
# The target directory is a cache mount (kept between builds, absent from the image), so the
# binary is copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p flowo-cli \
    && install -D -m 0755 target/release/flowo /out/flowo

# --- the runtime ---------------------------------------------------------------------------------
FROM debian:bookworm-slim
# rustls verifies servers against the system's roots: ca-certificates is all the binary needs
# beyond glibc. A fixed uid, so volumes and `runAsUser` can name it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 flowo \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/flowo --no-create-home \
        --shell /usr/sbin/nologin flowo \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/flowo
COPY --from=build /out/flowo /usr/local/bin/flowo

# The embedded store lives in FLOWO_DATA_DIR unless FLOWO_DATABASE_URL names PostgreSQL.
# FLOWO_JWT_SECRET is never baked in: give it at run time.
ENV FLOWO_DATA_DIR=/var/lib/flowo \
    FLOWO_BIND=0.0.0.0:3100 \
    HOME=/var/lib/flowo
USER 10001:10001
WORKDIR /var/lib/flowo
VOLUME ["/var/lib/flowo"]
EXPOSE 3100
# `flowo health` exits 0 when GET /readyz answers 200 (the server and its database answer).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["flowo", "health", "--url", "http://127.0.0.1:3100"]

LABEL org.opencontainers.image.title="FlowO" \
      org.opencontainers.image.description="Monitor for Snakemake workflows: the flowo server with its dashboard" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://example.invalid/flowo" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

ENTRYPOINT ["flowo"]
CMD ["serve"]
