#!/usr/bin/env bash
# The README's second command: install system packages and test extras, then run every test
# (SQLite and a throwaway PostgreSQL cluster). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash scripts/setup-web-tests.sh
bash scripts/setup-interop.sh || echo "WARNING: interop packages not installed; the interoperability tests will be skipped" >&2
bash scripts/check
python3 scripts/audit_deps.py   # known vulnerabilities in the dependency set (skips loudly when offline)
set +e
# Two worker processes by default (pytest-xdist; CREDITBANK_TEST_WORKERS=0 runs in one process): each
# worker has its own PostgreSQL cluster, Chromium and temporary files, and runs whole test files
# (module fixtures are built once). Arguments after scripts/test.sh go to pytest and win.
python3 -m pytest -n "${CREDITBANK_TEST_WORKERS:-2}" --dist loadfile "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests — that is a failure here, not a pass" >&2
  exit 1
fi
exit "$status"
