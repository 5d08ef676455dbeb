#!/usr/bin/env bash
# System tools the publisher tests against real registries drive (tests/target, realserver):
#   * nginx-light (apt): WebDAV PUT as a Maven repository (reference real-servers.md §3a);
#   * devpi-server + devpi-client in .cache/devpi-venv (pip): a real PyPI upload server (§2b);
#   * Verdaccio in .cache/verdaccio and mvn + Debian plugins: installed by codeartifact.sh,
#     which this script runs first when they are missing.
# Idempotent and fast when everything is present; runs as root, non-interactive, in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

if [ ! -x .cache/verdaccio/node_modules/verdaccio/bin/verdaccio ] || ! command -v mvn >/dev/null 2>&1; then
    bash scripts/deps/codeartifact.sh
fi

if ! dpkg-query -W -f='${Status}' nginx-light 2>/dev/null | grep -q "install ok installed"; then
    echo "transfer deps: apt-get install nginx-light"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nginx-light
fi

DEVPI_VENV=.cache/devpi-venv
if [ ! -x "$DEVPI_VENV/bin/devpi-server" ] || [ ! -x "$DEVPI_VENV/bin/devpi" ]; then
    echo "transfer deps: pip install devpi-server devpi-client into $DEVPI_VENV"
    python3 -m venv "$DEVPI_VENV"
    "$DEVPI_VENV/bin/pip" install --quiet --disable-pip-version-check devpi-server devpi-client
fi
echo "transfer deps: ok"
