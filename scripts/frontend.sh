#!/usr/bin/env bash
# Checks and builds the dashboard (frontend/): installs its packages with `npm ci` when
# node_modules is missing or older than package-lock.json, regenerates the API types from
# openapi.json and fails if they differ from the committed src/api/schema.d.ts, then the type
# check (`tsc -b`, which covers the app, vite.config.ts, playwright.config.ts and e2e/), the lint,
# the unit tests (vitest) and the production build into frontend/dist, which `cargo build`
# embeds into flowo-http. Needs Node.js >= 20.19 and npm (and the npm registry for `npm ci`).
#
#   scripts/frontend.sh               everything above
#   scripts/frontend.sh --build-only  `npm ci` when needed and the build (scripts/demo.sh)
set -euo pipefail
cd "$(dirname "$0")/../frontend"

build_only=false
case "${1:-}" in
  "") ;;
  --build-only) build_only=true ;;
  *) echo "usage: scripts/frontend.sh [--build-only]" >&2; exit 2 ;;
esac

log() { printf 'frontend: %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

command -v node >/dev/null 2>&1 || fail "needs Node.js >= 20.19 (node is not on PATH)"
command -v npm >/dev/null 2>&1 || fail "needs npm (not on PATH)"
node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1);
' || fail "needs Node.js >= 20.19 (Vite 8 and the type generator need it); found $(node --version)"

# npm ci writes node_modules/.package-lock.json; a lock file newer than it means new packages.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing packages (npm ci)"
  npm ci --no-audit --no-fund
fi

if ! $build_only; then
  log "API types (npm run gen:api) must match openapi.json"
  npm run --silent gen:api >/dev/null
  if ! git diff --exit-code --stat -- src/api/schema.d.ts; then
    fail "src/api/schema.d.ts differs from what openapi.json generates (above); commit the regenerated file"
  fi
  log "type check (tsc -b)"
  npx tsc -b
  log "lint (eslint)"
  npm run --silent lint
  log "unit tests (vitest)"
  npx vitest run
fi

log "production build (npm run bundle: vite build and compressed copies -> frontend/dist)"
npm run --silent bundle
log "ok: frontend/dist is ready to embed"
