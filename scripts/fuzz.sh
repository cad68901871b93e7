#!/usr/bin/env bash
# Fuzzes FlowO's input paths with cargo-fuzz (libFuzzer): the event decoder, the fold (as a
# store folds batches) and the ingest body parser, each for SECONDS (default 60), seeded with
# the Snakemake captures (flowo-fuzz/examples/seeds.rs). A crash or failed check stops the
# run: the input is copied to flowo-fuzz/regressions/<target>/, which `cargo test -p
# flowo-fuzz` replays from then on, and the script exits 1.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # targets: event_decoder fold ingest_body
#
# Uses the stable toolchain: `--sanitizer none` (FlowO forbids unsafe code, so what the
# fuzzer can find are panics, failed checks, hangs and runaway memory). Installs cargo-fuzz
# when it is missing. Environment: FLOWO_FUZZ_TARGET_DIR (the fuzzing build's target dir,
# default ~/.cache/flowo/target-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(event_decoder fold ingest_body)
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# The seeds (regenerated each time: they follow the captures) with the main workspace's build.
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
cargo run --quiet --locked -p flowo-fuzz --example seeds -- "$seeds"

export CARGO_TARGET_DIR="${FLOWO_FUZZ_TARGET_DIR:-$HOME/.cache/flowo/target-fuzz}"
failed=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  printf '\n=== fuzz %s for %ss\n' "$target" "$seconds"
  # -timeout: one input taking this long is a hang; -rss_limit_mb: runaway memory.
  if ! cargo fuzz run --sanitizer none "$target" "$corpus" "$seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    failed+=("$target")
    for found in fuzz/artifacts/"$target"/*; do
      [ -f "$found" ] || continue
      cp "$found" "flowo-fuzz/regressions/$target/"
      echo "fuzz: $target failed on $found; copied to flowo-fuzz/regressions/$target/" >&2
    done
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failures in ${failed[*]}: fix them; cargo test -p flowo-fuzz replays the inputs" >&2
  exit 1
fi
