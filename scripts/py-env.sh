#!/usr/bin/env bash
# Prepares the Python side of FlowO's tests and benchmarks; idempotent, and a second run reuses
# what the first made. Needs CPython >= 3.11 with pip and venv, a Rust toolchain, and PyPI and
# crates.io.
#
# Under ${FLOWO_CACHE:-~/.cache/flowo} it makes:
#   venv-build/               maturin and pytest: builds the plugin wheel
#   venv-snakemake-9-newest/  the newest Snakemake 9.x, pytest, the plugin wheel
#   venv-snakemake-9.11.7/    Snakemake 9.11.7 (the oldest that accepts logger-plugin interface
#                             2.x), pytest, the plugin wheel
#   wheels/                   the plugin wheel (`maturin build --release`), one file
#   py-env.env                the paths (bash assignments: FLOWO_BIN, FLOWO_PY_WHEEL,
#                             FLOWO_PY_BUILD_VENV, the array FLOWO_PY_VENVS), for scripts/test.sh
# and builds the `flowo` binary (`cargo build --release -p flowo-cli --locked`), the server side
# of the tests.
#
# Environment: FLOWO_CACHE, CARGO_TARGET_DIR (default $FLOWO_CACHE/target), FLOWO_PYTHON (the
# interpreter the venvs are made from, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${FLOWO_CACHE:-$HOME/.cache/flowo}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
PYTHON="${FLOWO_PYTHON:-python3}"
# name|requirement; "newest" venvs follow their range upwards on every run.
SNAKEMAKES=("snakemake-9-newest|snakemake>=9,<10" "snakemake-9.11.7|snakemake==9.11.7")
# check-jsonschema carries the Compose specification's schema and dockerfile is BuildKit's own
# parser: test_deploy.py checks compose.yml and the Dockerfile with them. test_schemathesis.py
# fuzzes the server against its OpenAPI document with schemathesis (pinned: its checks change
# between releases).
TEST_TOOLS=(pytest pytest-xdist check-jsonschema dockerfile "schemathesis==4.32.5")
BUILD_TOOLS=("maturin>=1.9,<2" pytest)

mkdir -p "$CACHE"
log() { printf 'py-env: %s\n' "$*" >&2; }

"$PYTHON" - <<'EOF' || { log "needs CPython >= 3.11 with venv and pip ($PYTHON)"; exit 1; }
import sys, venv, ensurepip  # noqa: F401  (venv and ensurepip must be importable)
sys.exit(0 if sys.version_info >= (3, 11) else 1)
EOF
py_version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

# Makes venv $1 (a path) with the packages $3... unless its stamp says it already holds them;
# $2 is "upgrade" to let pip move requirements to their newest allowed versions.
ensure_venv() {
  local dir=$1 mode=$2; shift 2
  local want="python $py_version; $*"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.flowo-stamp" 2>/dev/null)" = "$want" ]; then
    if [ "$mode" = upgrade ]; then
      # One index request per requirement; offline, keep what is there.
      "$dir/bin/python" -m pip install -q -U --upgrade-strategy only-if-needed "$@" \
        || log "could not check PyPI for newer versions; keeping $dir as it is"
    fi
    return
  fi
  log "making $dir"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q -U pip
  "$dir/bin/python" -m pip install -q "$@"
  printf '%s' "$want" >"$dir/.flowo-stamp"
}

ensure_venv "$CACHE/venv-build" keep "${BUILD_TOOLS[@]}"

log "building the flowo binary"
cargo build --release -p flowo-cli --locked
flowo_bin="$CARGO_TARGET_DIR/release/flowo"

log "building the plugin wheel"
wheels="$CACHE/wheels"
rm -rf "$wheels.new"
# maturin runs cargo with the same CARGO_TARGET_DIR, so an unchanged crate is not rebuilt.
"$CACHE/venv-build/bin/maturin" build --release --locked -m flowo-py/Cargo.toml \
  --interpreter "$CACHE/venv-build/bin/python" --out "$wheels.new" >&2
rm -rf "$wheels"
mv "$wheels.new" "$wheels"
shopt -s nullglob
built=("$wheels"/snakemake_logger_plugin_flowo-*.whl)
shopt -u nullglob
if [ "${#built[@]}" -ne 1 ]; then
  log "expected one wheel in $wheels, found ${#built[@]}"
  exit 1
fi
wheel=${built[0]}
wheel_sum=$(sha256sum "$wheel" | cut -d' ' -f1)

venvs=()
for entry in "${SNAKEMAKES[@]}"; do
  name=${entry%%|*}
  requirement=${entry#*|}
  dir="$CACHE/venv-$name"
  mode=keep
  case $name in *-newest) mode=upgrade ;; esac
  ensure_venv "$dir" "$mode" "$requirement" "${TEST_TOOLS[@]}"
  if [ "$(cat "$dir/.flowo-wheel" 2>/dev/null)" != "$wheel_sum" ]; then
    # The wheel's one dependency, snakemake-interface-logger-plugins, comes with Snakemake.
    "$dir/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
    printf '%s' "$wheel_sum" >"$dir/.flowo-wheel"
  fi
  "$dir/bin/python" -m pip check >&2 || { log "$dir: broken requirements (above)"; exit 1; }
  venvs+=("$dir")
done

env_file="$CACHE/py-env.env"
{
  printf 'FLOWO_BIN=%q\n' "$flowo_bin"
  printf 'FLOWO_PY_WHEEL=%q\n' "$wheel"
  printf 'FLOWO_PY_BUILD_VENV=%q\n' "$CACHE/venv-build"
  printf 'FLOWO_PY_VENVS=(%s)\n' "$(printf '%q ' "${venvs[@]}")"
} >"$env_file"

echo "flowo binary:    $flowo_bin"
echo "plugin wheel:    $wheel"
echo "build venv:      $CACHE/venv-build"
for dir in "${venvs[@]}"; do
  echo "snakemake venv:  $dir (snakemake $("$dir/bin/snakemake" --version))"
done
echo "paths for tests: $env_file"
