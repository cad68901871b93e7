#!/usr/bin/env bash
# Runs every FlowO test: unit, integration, snapshot and doc tests of all crates, against the
# embedded SQLite store and a real PostgreSQL (FLOWO_TEST_DATABASE_URL, default the local server;
# with CI set, an unreachable PostgreSQL fails the run instead of skipping those tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOWO_TEST_DATABASE_URL="${FLOWO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo test --workspace --locked
