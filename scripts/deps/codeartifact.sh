#!/usr/bin/env bash
# System tools the CodeArtifact-emulator tests drive (tests/sandbox_codeartifact):
#   * mvn + Debian-packaged maven-deploy/maven-dependency plugins (+ junit4, which the
#     dependency plugin needs) so `mvn deploy:deploy-file` / `dependency:get` run offline
#     against file:///usr/share/maven-repo (Maven Central is not reachable);
#   * node + npm for `npm publish` / `npm install`;
#   * Verdaccio 6.8.0 in .cache/verdaccio as the "public npm registry" behind an external
#     connection (6.8.0 because 6.10+ needs Node 22; node-fetch override per real-servers.md).
# Idempotent and fast when everything is present; runs as root, non-interactive, in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(maven libmaven-deploy-plugin-java libmaven-dependency-plugin-java junit4)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "codeartifact deps: apt-get install ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

VERDACCIO_DIR=.cache/verdaccio
if [ ! -x "$VERDACCIO_DIR/node_modules/verdaccio/bin/verdaccio" ]; then
    echo "codeartifact deps: npm install verdaccio@6.8.0 into $VERDACCIO_DIR"
    mkdir -p "$VERDACCIO_DIR"
    cat > "$VERDACCIO_DIR/package.json" <<'JSON'
{
  "name": "verdaccio-host",
  "private": true,
  "version": "0.0.0",
  "dependencies": { "verdaccio": "6.8.0" },
  "overrides": { "node-fetch": "2.7.0" }
}
JSON
    (cd "$VERDACCIO_DIR" && npm install --no-audit --no-fund --loglevel=error \
        --cache "$PWD/.npm-cache")
fi
echo "codeartifact deps: ok"
