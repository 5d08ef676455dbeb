#!/usr/bin/env bash
# Rebuild the demo seed corpus in migrator_sandbox/demo_seed/ from real package files.
#
# The result is committed, so CI never runs this; run it by hand when the corpus should change:
#   bash scripts/make-demo-seed.sh            # rebuilds every repository folder except repos.toml
# Needs: npm, pip (the project venv), a JDK (javac, jar) and Maven with Debian's deploy plugin
# (apt-get install maven libmaven-deploy-plugin-java). Maven Central is never contacted: plugins
# resolve from Debian's /usr/share/maven-repo through a file:// mirror.
#
# Where the bytes come from:
#   npm-internal, npm-proxy   `npm pack <pkg>@<ver>`: the registry's original tarball, byte for byte
#   pypi-internal, pypi-proxy `pip download --no-deps`: the sdists and wheels exactly as PyPI serves them
#   maven-central (proxy)     commons-cli 1.5.0 jar + pom from Debian's /usr/share/maven-repo
#   maven-releases            a tiny real Java library built here with javac/jar (main + -sources
#                             classifier), deployed with the real maven-deploy-plugin into a file://
#                             repository, so sidecars and maven-metadata.xml are what Maven writes
#   maven-snapshots           the same library deployed twice as 1.2.0-SNAPSHOT: two timestamped
#                             builds and the GAV-level maven-metadata.xml Maven writes for them
#   raw-files                 small real files (a shell script, a text file, a zip built here)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEED="$ROOT/migrator_sandbox/demo_seed"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for repo in maven-releases maven-snapshots maven-central npm-internal npm-proxy pypi-internal \
            pypi-proxy raw-files; do
  rm -rf "${SEED:?}/$repo"
done
mkdir -p "$SEED"

# ---- npm -------------------------------------------------------------------------------------
# Nexus layout: <name>/-/<name>-<ver>.tgz, scoped @scope/name/-/name-<ver>.tgz (unscoped file name).
npm_put() {  # repo spec
  local repo="$1" spec="$2" name ver file base
  name="${spec%@*}"; ver="${spec##*@}"; base="${name##*/}"
  (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
  file="$(ls "$WORK"/*.tgz)"
  mkdir -p "$SEED/$repo/$name/-"
  mv "$file" "$SEED/$repo/$name/-/$base-$ver.tgz"
}
for spec in @types/ms@0.7.31 @types/ms@0.7.34 @types/ms@2.1.0 is-number@6.0.0 is-number@7.0.0 \
            left-pad@1.2.0 left-pad@1.3.0; do
  npm_put npm-internal "$spec"
done
for spec in ms@2.0.0 ms@2.1.3 @isaacs/string-locale-compare@1.1.0; do
  npm_put npm-proxy "$spec"
done

# ---- PyPI ------------------------------------------------------------------------------------
# Nexus layout: packages/<normalised-name>/<version>/<filename>.
pypi_put() {  # repo normalised-name version requirement kinds...
  local repo="$1" norm="$2" ver="$3" req="$4"; shift 4
  local dest="$SEED/$repo/packages/$norm/$ver"
  mkdir -p "$dest"
  for kind in "$@"; do
    if [ "$kind" = sdist ]; then
      "$PIP" download -q --no-deps --no-binary :all: -d "$dest" "$req"
    else
      "$PIP" download -q --no-deps --only-binary :all: -d "$dest" "$req"
    fi
  done
}
pypi_put pypi-internal jaraco-classes 3.3.1 jaraco.classes==3.3.1 sdist wheel
pypi_put pypi-internal jaraco-classes 3.4.0 jaraco.classes==3.4.0 sdist wheel
pypi_put pypi-internal typing-extensions 4.12.2 typing_extensions==4.12.2 sdist wheel
pypi_put pypi-proxy six 1.16.0 six==1.16.0 wheel
pypi_put pypi-proxy iniconfig 2.0.0 iniconfig==2.0.0 wheel

# ---- Maven -----------------------------------------------------------------------------------
DEB=/usr/share/maven-repo
mkdir -p "$SEED/maven-central/commons-cli/commons-cli/1.5.0"
cp -L "$DEB/commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar" \
      "$DEB/commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.pom" \
      "$SEED/maven-central/commons-cli/commons-cli/1.5.0/"

cat > "$WORK/settings.xml" <<XML
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>$WORK/m2</localRepository>
  <mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf>
    <url>file://$DEB</url></mirror></mirrors>
</settings>
XML
DEPLOY=org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file

build_greeter() {  # version message -> $WORK/greeter-<version>{,-sources}.jar
  local ver="$1" msg="$2" src="$WORK/src-$1"
  mkdir -p "$src/com/acme/greeter" "$WORK/classes-$ver"
  cat > "$src/com/acme/greeter/Greeter.java" <<JAVA
package com.acme.greeter;

/** Demo library of the migrator seed corpus, version $ver. */
public final class Greeter {
    private Greeter() {}

    public static String greet(String name) {
        return "$msg, " + name + "!";
    }
}
JAVA
  javac --release 11 -d "$WORK/classes-$ver" "$src/com/acme/greeter/Greeter.java"
  # Fixed timestamps in the jars keep rebuilds byte-stable for the same version.
  jar --create --date=2024-01-02T03:04:05Z --file "$WORK/greeter-$ver.jar" -C "$WORK/classes-$ver" .
  jar --create --date=2024-01-02T03:04:05Z --file "$WORK/greeter-$ver-sources.jar" -C "$src" .
}

deploy_greeter() {  # repo version
  local repo="$1" ver="$2"
  mvn -B -q -c -s "$WORK/settings.xml" "$DEPLOY" \
    -Dfile="$WORK/greeter-$ver.jar" -Dsources="$WORK/greeter-$ver-sources.jar" \
    -DgroupId=com.acme -DartifactId=greeter -Dversion="$ver" -Dpackaging=jar -DgeneratePom=true \
    -Durl="file://$SEED/$repo"
}

build_greeter 1.0.0 Hello
build_greeter 1.1.0 Hi
build_greeter 1.2.0-SNAPSHOT Hey
deploy_greeter maven-releases 1.0.0
deploy_greeter maven-releases 1.1.0
deploy_greeter maven-snapshots 1.2.0-SNAPSHOT
deploy_greeter maven-snapshots 1.2.0-SNAPSHOT   # second timestamped build (buildNumber 2)

# ---- raw -------------------------------------------------------------------------------------
mkdir -p "$SEED/raw-files/tools" "$SEED/raw-files/docs" "$SEED/raw-files/releases/1.1.0"
cat > "$SEED/raw-files/tools/install.sh" <<'SH'
#!/bin/sh
# Installs the greeter CLI into ~/.local/bin (demo file of the migrator seed corpus).
set -eu
mkdir -p "$HOME/.local/bin"
cp greeter "$HOME/.local/bin/greeter"
echo "greeter installed"
SH
printf 'Release notes\n\n1.1.0: friendlier greeting.\n1.0.0: first release.\n' \
  > "$SEED/raw-files/docs/RELEASE-NOTES.txt"
(cd "$WORK" && mkdir -p dist && cp greeter-1.1.0.jar dist/ \
  && TZ=UTC touch -d '2024-01-02 03:04:05' dist/greeter-1.1.0.jar \
  && "$ROOT/.venv/bin/python" - "$SEED/raw-files/releases/1.1.0/greeter-1.1.0-dist.zip" <<'PY'
import sys, zipfile
# A deterministic zip (fixed member timestamp) so rebuilds do not churn git.
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("greeter-1.1.0/greeter-1.1.0.jar", (2024, 1, 2, 3, 4, 4))
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open("dist/greeter-1.1.0.jar", "rb").read())
PY
)

du -sh "$SEED"
find "$SEED" -type f | sort | sed "s|$SEED/||"
