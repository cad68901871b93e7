#!/usr/bin/env bash
# Runs every FlowO test: first the dashboard's checks and build (scripts/frontend.sh: API types,
# type check, lint, unit tests, frontend/dist), so that every cargo build below embeds the fresh
# dashboard; then unit, integration, snapshot and doc tests of all crates, against the embedded
# SQLite store and a real PostgreSQL (FLOWO_TEST_DATABASE_URL, default the local server; with CI
# set, an unreachable PostgreSQL fails the run instead of skipping those tests); then the
# Snakemake plugin end to end (flowo-py/tests): real Snakemake runs with the built wheel, once
# per Snakemake version that scripts/py-env.sh prepares (needs CPython >= 3.11 and PyPI), and
# with the newest Snakemake the deployment (compose.yml, the Dockerfile and deploy/Caddyfile
# checked; two replicas on PostgreSQL behind Debian's caddy); last the dashboard end to end
# (frontend/e2e): a real browser (Debian's chromium at /usr/bin/chromium) on the release
# `flowo serve` with real Snakemake runs (the newest Snakemake venv). Needs Node.js >= 20.19.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOWO_TEST_DATABASE_URL="${FLOWO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
scripts/frontend.sh
cargo test --workspace --locked

scripts/py-env.sh
# shellcheck source=/dev/null
. "${FLOWO_CACHE:-$HOME/.cache/flowo}/py-env.env"
export FLOWO_BIN FLOWO_PY_WHEEL
failed=()
for i in "${!FLOWO_PY_VENVS[@]}"; do
  venv=${FLOWO_PY_VENVS[$i]}
  # The deployment tests (the container files, and two replicas behind Caddy) do not depend
  # on Snakemake's version: they run with the newest one only.
  only=()
  [ "$i" -gt 0 ] && only=(-m "not deployment")
  printf '\n=== plugin tests with Snakemake %s (%s)\n' "$("$venv/bin/snakemake" --version)" "$venv"
  # Each test has its own directories, database and ports, so two run side by side.
  "$venv/bin/python" -m pytest flowo-py/tests -p no:cacheprovider -n 2 -q -rfEs --durations=5 \
    "${only[@]}" || failed+=("$venv")
done

printf '\n=== dashboard end to end (frontend/e2e) with Snakemake %s\n' \
  "$("${FLOWO_PY_VENVS[0]}/bin/snakemake" --version)"
# FLOWO_BIN was built by scripts/py-env.sh after scripts/frontend.sh, so it serves this dashboard.
(cd frontend && FLOWO_E2E_VENV="${FLOWO_PY_VENVS[0]}" npx playwright test) || failed+=("dashboard e2e")

if [ "${#failed[@]}" -gt 0 ]; then
  echo "tests failed: ${failed[*]}" >&2
  exit 1
fi
