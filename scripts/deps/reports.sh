#!/usr/bin/env bash
# System tools the report tests drive (tests/e2e/test_reports.py):
#   * chromium (apt, Debian): renders the HTML report headless (a screenshot, the DOM).
# Idempotent and fast when everything is present; runs as root, non-interactive, in CI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v chromium >/dev/null 2>&1; then
    echo "reports deps: apt-get install chromium"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium
fi
echo "reports deps: ok"
