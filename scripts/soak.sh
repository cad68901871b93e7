#!/usr/bin/env bash
# The soak test (scripts/soak.py): two `flowo serve` replicas on PostgreSQL behind Debian's
# caddy, concurrent Snakemake runs and live-stream clients for a set time; nothing may be lost
# and the replicas' memory must stay flat. Makes the test venv and the release binary first
# (scripts/py-env.sh), then runs the newest Snakemake's venv. Arguments go to soak.py:
#   scripts/soak.sh                      # 10 minutes: 5 runs of 2,000 jobs at a time, 200 clients
#   scripts/soak.sh --minutes 1 --jobs 200 --clients 20 --warmup 20
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flowo/target}"
scripts/py-env.sh >&2
# shellcheck source=/dev/null
. "${FLOWO_CACHE:-$HOME/.cache/flowo}/py-env.env"
export FLOWO_BIN
exec "${FLOWO_PY_VENVS[0]}/bin/python" scripts/soak.py "$@"
