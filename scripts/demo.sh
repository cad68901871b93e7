#!/usr/bin/env bash
# FlowO's quick start: builds FlowO, records a real Snakemake run (a capture from
# ../shared/fixtures/snakemake-events, or the one given as $1) into the embedded store, and
# prints what FlowO made of it, replaying the live stream.
# Uses a throw-away data directory unless FLOWO_DATA_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
capture="${1:-../shared/fixtures/snakemake-events/job-failure/03-job-failure-keep-going.jsonl}"
if [ -z "${FLOWO_DATA_DIR:-}" ]; then
  FLOWO_DATA_DIR="$(mktemp -d)"
  export FLOWO_DATA_DIR
fi
echo "== building"
cargo build --quiet --release -p record-capture -p live-stream
bin=${CARGO_TARGET_DIR:-target}/release
echo "== recording $capture into $FLOWO_DATA_DIR/flowo.db"
"$bin/record-capture" "$capture"
echo
echo "== the run's events as the live stream delivers them (first 25)"
"$bin/live-stream" --after 0 --exit-after 25
