#!/usr/bin/env bash
# Real clients the cut-over kit tests drive (tests/e2e/test_cutover.py) beyond mvn/npm/pip:
#   * Poetry and uv, pip-installed into .cache/poetry-venv (one venv for both), so the
#     generated `poetry source add` commands and `[[tool.uv.index]]` config run for real.
# parliament (the IAM policy linter) is a test extra of the project itself (pyproject.toml).
# Idempotent and fast when everything is present.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.cache/poetry-venv
if ! "$VENV/bin/poetry" --version >/dev/null 2>&1 || ! "$VENV/bin/uv" --version >/dev/null 2>&1; then
    rm -rf "$VENV"  # absent, or moved since it was made (its scripts name their python)
    echo "cutover deps: pip install poetry uv into $VENV"
    mkdir -p .cache
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "poetry>=2,<3" "uv<1"
fi
