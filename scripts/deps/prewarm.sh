#!/usr/bin/env bash
# What the pre-warm end-to-end tests (tests/e2e/test_prewarm*.py) need beyond transfer.sh
# (Verdaccio, nginx, mvn with Debian's plugins):
#   * pypiserver in .cache/pypiserver-venv: the loopback "public" PyPI behind public:pypi;
#   * pnpm in .cache/pnpm (from npm): `pnpm install` of a pre-warmed pnpm lockfile;
#   * .cache/prewarm-public: public files the sample lockfiles name beyond the demo seed's
#     proxy caches (fetched once from the npm registry and PyPI, then served on loopback).
# Idempotent and fast when everything is present; runs as root, non-interactive, in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .cache/verdaccio/node_modules/verdaccio/bin/verdaccio ] || ! command -v nginx >/dev/null 2>&1 \
        || ! command -v mvn >/dev/null 2>&1; then
    bash scripts/deps/transfer.sh
fi

VENV=.cache/pypiserver-venv
if [ ! -x "$VENV/bin/pypi-server" ] || ! "$VENV/bin/pypi-server" --version >/dev/null 2>&1; then
    echo "prewarm deps: pip install pypiserver into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    PIP_CONFIG_FILE=/dev/null "$VENV/bin/pip" --isolated install --quiet --no-cache-dir \
        --disable-pip-version-check "pypiserver>=2.3" "waitress>=3.0"
fi

PNPM_DIR=.cache/pnpm
if [ ! -x "$PNPM_DIR/node_modules/.bin/pnpm" ]; then
    echo "prewarm deps: npm install pnpm@9 into $PNPM_DIR"
    mkdir -p "$PNPM_DIR"
    (cd "$PNPM_DIR" && npm install --no-audit --no-fund --loglevel=error --no-save \
        --cache "$PWD/.npm-cache" pnpm@9)
fi

PUBLIC=.cache/prewarm-public
mkdir -p "$PUBLIC/npm" "$PUBLIC/pypi"
if [ ! -s "$PUBLIC/npm/ms-2.1.2.tgz" ]; then
    echo "prewarm deps: npm pack ms@2.1.2 into $PUBLIC/npm"
    (cd "$PUBLIC/npm" && npm pack --silent --cache "$PWD/.npm-cache" ms@2.1.2 >/dev/null)
fi
if [ ! -s "$PUBLIC/pypi/packaging-24.1-py3-none-any.whl" ]; then
    echo "prewarm deps: pip download packaging==24.1 into $PUBLIC/pypi"
    PIP_CONFIG_FILE=/dev/null python3 -m pip --isolated download --quiet --no-cache-dir \
        --disable-pip-version-check --no-deps --only-binary :all: packaging==24.1 \
        -d "$PUBLIC/pypi"
fi
# the bytes the sample lockfiles pin: a different file would fail every test for a reason
# that has nothing to do with pre-warming
echo "5b8f2217dbdbd2f7f384c41c628544e6d52f2d0f53c6d0c3ea61aa5d1d7ff124  $PUBLIC/pypi/packaging-24.1-py3-none-any.whl" \
    | sha256sum --check --quiet
echo "d09d1f357b443f493382a8eb3ccd183872ae6009  $PUBLIC/npm/ms-2.1.2.tgz" | sha1sum --check --quiet
echo "prewarm deps: ok"
