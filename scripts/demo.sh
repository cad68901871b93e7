#!/usr/bin/env bash
# FlowO's quick start: builds the dashboard (scripts/frontend.sh --build-only; needs Node.js
# >= 20.19), the `flowo` binary that serves it and the Snakemake plugin wheel (in a venv with
# Snakemake, made by scripts/py-env.sh), starts `flowo serve` on the embedded store, and records
# two real Snakemake runs of examples/snakemake/demo into it with `--logger flowo`: one that
# succeeds and one where a job fails under --keep-going. Then it shows them with the CLI, prints
# the dashboard's one-time login link and keeps serving until Ctrl-C.
#
#   scripts/demo.sh            build, record, serve at http://127.0.0.1:3100 until Ctrl-C
#   scripts/demo.sh --once     the same, but stop the server and exit after the runs
#
# Uses a throw-away data directory unless FLOWO_DATA_DIR is set; FLOWO_BIND moves the server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
once=false
[ "${1:-}" = "--once" ] && once=true

if [ -z "${FLOWO_DATA_DIR:-}" ]; then
  FLOWO_DATA_DIR="$(mktemp -d)"
fi
export FLOWO_DATA_DIR
bind="${FLOWO_BIND:-127.0.0.1:3100}"
# The demo must not pick up a personal `flowo login` configuration.
export XDG_CONFIG_HOME="$FLOWO_DATA_DIR/config"
unset FLOWO_URL FLOWO_TOKEN FLOWO_DATABASE_URL

echo "== building the dashboard (scripts/frontend.sh --build-only)"
# Before cargo, so that the flowo binary embeds this build of frontend/dist.
scripts/frontend.sh --build-only
echo "== building flowo and the plugin wheel (scripts/py-env.sh)"
scripts/py-env.sh >/dev/null
# shellcheck source=/dev/null
. "${FLOWO_CACHE:-$HOME/.cache/flowo}/py-env.env"
venv="${FLOWO_PY_VENVS[0]}"
echo "   flowo:     $FLOWO_BIN"
echo "   snakemake: $("$venv/bin/snakemake" --version) in $venv"

echo "== starting flowo serve on the embedded store $FLOWO_DATA_DIR/flowo.db"
serve_log="$FLOWO_DATA_DIR/serve.log"
"$FLOWO_BIN" serve --bind "$bind" >"$serve_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
healthy() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://$bind/healthz" >/dev/null 2>&1
}
for _ in $(seq 1 100); do
  healthy && break
  kill -0 $server 2>/dev/null || { cat "$serve_log"; exit 1; }
  sleep 0.1
done
healthy || { echo "flowo serve did not answer on $bind"; cat "$serve_log"; exit 1; }

work="$FLOWO_DATA_DIR/demo"
rm -rf "$work"
cp -r "$root/examples/snakemake/demo" "$work"
cd "$work"
echo "== recording a Snakemake run: snakemake --logger flowo --cores 2"
"$venv/bin/snakemake" --logger flowo --cores 2 --logger-flowo-tags demo 2>&1 \
  | grep -E '^flowo:|steps \(100%\)|Error' || true
echo "== recording a run where align fails for sample B (--keep-going)"
"$venv/bin/snakemake" --logger flowo --cores 2 --forceall --keep-going --config fail=B \
  --logger-flowo-name demo-failing --logger-flowo-tags demo,failing 2>&1 \
  | grep -E '^flowo:|Error in rule|Exiting because' || true

echo
echo "== flowo runs list"
"$FLOWO_BIN" runs list
failing=$("$FLOWO_BIN" runs list --json | python3 -c \
  'import json,sys; print(next(r["id"] for r in json.load(sys.stdin)["items"] if r["name"]=="demo-failing"))')
echo
echo "== flowo runs show $failing"
"$FLOWO_BIN" runs show "$failing"
echo
echo "FlowO serves these runs and the dashboard at http://$bind/runs"
login=$(grep -oE 'http://[^ ]*/login\?first-login=[^ ]+' "$serve_log" | head -1 || true)
if [ -n "$login" ]; then
  echo "Log in to the dashboard once with: $login"
else
  grep -E 'FlowO is ready' "$serve_log" | head -1 || true
fi
if $once; then
  exit 0
fi
echo "Record more: cd $work && FLOWO_DATA_DIR=$FLOWO_DATA_DIR $venv/bin/snakemake --logger flowo --cores 2 --forceall"
echo "Ctrl-C stops the server."
wait $server
