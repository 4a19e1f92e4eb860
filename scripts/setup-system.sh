#!/usr/bin/env bash
# Install the Debian packages creditbank needs (idempotent; fast no-op when present).
#
#   postgresql           server binaries (v15 on Debian 12) for the throwaway test cluster
#   fonts-noto-cjk       CJK fonts for PDF certificates / transcripts
#   libharfbuzz-subset0  font subsetting when embedding fonts in PDFs
#   chromium             headless browser for the page tests (driven by Playwright)
#   wrk                  HTTP load generator for bench/verify.py and bench/pdf.py (optional)
#
# As root: apt-get update (once) + apt-get install of the missing packages.
# Not root: uses sudo when available, otherwise prints a warning and exits 0.
set -euo pipefail

PACKAGES=(postgresql fonts-noto-cjk libharfbuzz-subset0 chromium wrk)

log()  { printf 'setup-system: %s\n' "$*"; }
warn() { printf 'setup-system: WARNING: %s\n' "$*" >&2; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    warn "dpkg-query not found (not a Debian-based system?); install manually: ${PACKAGES[*]}"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "all system packages present: ${PACKAGES[*]}"
else
    log "missing packages: ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo)
        else
            warn "not root and sudo is unavailable; please install: ${missing[*]}"
            warn "  e.g. apt-get install -y --no-install-recommends ${missing[*]}"
            exit 0
        fi
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    log "installed: ${missing[*]}"
fi

# Installing `postgresql` on Debian may create and start a system cluster
# "15 main" on port 5432.  The test suite does not use it (it runs its own
# throwaway cluster); we leave it untouched and just report its state.
if command -v pg_lsclusters >/dev/null 2>&1; then
    if pg_lsclusters --no-header 2>/dev/null | awk '$1 == "15" && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
        log "note: system cluster 15/main is online on port 5432 (not used by the tests; left alone)"
    fi
fi
exit 0
