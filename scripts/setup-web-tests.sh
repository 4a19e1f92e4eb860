#!/usr/bin/env bash
# Installs the pinned Node packages of tests/web (axe-core, injected into pages by the browser
# tests) with `npm ci`. Idempotent: does nothing when node_modules matches package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests/web"

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-web-tests: npm not found; the accessibility checks of the browser tests will fail" >&2
  exit 1
fi

stamp=node_modules/.creditbank-web.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup-web-tests: tests/web/node_modules is up to date"
  exit 0
fi

npm ci --no-audit --no-fund
echo "$want" > "$stamp"
echo "setup-web-tests: installed tests/web/node_modules"
