#!/usr/bin/env bash
# Installs the pinned Node packages of tests/interop (Digital Bazaar's VC / Data Integrity
# libraries, exact versions from package-lock.json) with `npm ci`. Idempotent: does nothing
# when node_modules was installed from the current package.json + package-lock.json.
# The interop checks themselves run offline (their document loader reads creditbank/contexts).
set -euo pipefail
cd "$(dirname "$0")/../tests/interop"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-interop: node/npm not found; the interop tests will be skipped" >&2
  exit 1
fi

stamp=node_modules/.creditbank-interop.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup-interop: tests/interop/node_modules is up to date"
  exit 0
fi

npm ci --no-audit --no-fund
echo "$want" > "$stamp"
echo "setup-interop: installed tests/interop/node_modules"
