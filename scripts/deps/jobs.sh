#!/usr/bin/env bash
# System tools the tests of jobs/ drive (tests/jobs/test_validators.py):
#   * systemd-analyze (verify the units) and systemd-sysusers (check the user definition), from
#     Debian's systemd package: a container or CI image often lacks it. Installing the package
#     does not start systemd; only the two offline tools are used.
# The other validators (kubernetes-validate, check-jsonschema, cfn-lint, dockerfile-parse) are
# Python packages of the test extra (pyproject.toml).
# Idempotent and fast when everything is present; runs as root, non-interactive, in CI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v systemd-analyze >/dev/null 2>&1 || ! command -v systemd-sysusers >/dev/null 2>&1; then
    echo "jobs deps: apt-get install systemd"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends systemd
fi
echo "jobs deps: ok"
