"""Maven dependency lists: the output of `mvn dependency:list` (on the console or with
`-DoutputFile=FILE`) and Gradle's `gradle.lockfile`.

Each resolved artifact becomes its POM (every Maven client reads it) and its file
(`artifactId-version[-classifier].extension`); a `pom` dependency is the POM alone. Neither
list carries hashes. Artifact coordinates follow Maven's documented forms
`groupId:artifactId:type[:classifier]:version:scope` (dependency:list) and
`group:name:version=configurations` (Gradle's dependency locking).
"""

from __future__ import annotations

from pathlib import Path

from migrator.errors import LockfileError
from migrator.lockfiles import LockedPackage
from migrator.models import Format

# Maven's artifact handlers (maven-core's artifact-handlers.xml): type → (extension, classifier)
_HANDLERS = {
    "jar": ("jar", ""), "pom": ("pom", ""), "maven-plugin": ("jar", ""), "ejb": ("jar", ""),
    "ejb-client": ("jar", "client"), "test-jar": ("jar", "tests"), "java-source": ("jar",
    "sources"), "javadoc": ("jar", "javadoc"), "war": ("war", ""), "ear": ("ear", ""),
    "rar": ("rar", ""), "bundle": ("jar", ""),
}
_SCOPES = ("compile", "provided", "runtime", "test", "system", "import")


def artifact_files(group: str, artifact: str, version: str, type_: str = "jar",
                   classifier: str = "", lockfile: Path | None = None, *,
                   type_known: bool = True) -> list[LockedPackage]:
    extension, default_classifier = _HANDLERS.get(type_, (type_, ""))
    classifier = classifier or default_classifier
    folder = f"{group.replace('.', '/')}/{artifact}/{version}"
    names = [f"{artifact}-{version}.pom"]
    if extension != "pom" or classifier:
        names.append(f"{artifact}-{version}{'-' + classifier if classifier else ''}."
                     f"{extension}")
    src = (str(lockfile),) if lockfile else ()
    return [LockedPackage(Format.MAVEN, group, artifact, version, f"{folder}/{n}", n, {},
                          None, src, optional=not type_known and not n.endswith(".pom"))
            for n in names]


def parse_dependency_list(path: Path, text: str) -> list[LockedPackage]:
    out: list[LockedPackage] = []
    listing = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        for prefix in ("[INFO]", "[DEBUG]"):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        if "The following files have been resolved:" in line:
            listing = True
            continue
        if not listing:
            continue
        if not line or line == "none" or line.startswith(("---", "[", "BUILD")):
            listing = line == "none"  # the list ends at the first other line
            continue
        coords = line.split()[0].split(":")
        # g:a:t:v:scope or g:a:t:c:v:scope; optional trailing `:path` (outputAbsolute...)
        if len(coords) >= 6 and coords[5] in _SCOPES:
            g, a, t, c, v = coords[:5]
        elif len(coords) >= 5 and coords[4] in _SCOPES:
            g, a, t, v = coords[:4]
            c = ""
        else:
            raise LockfileError(
                f"{path}:{n}: {line.split()[0]!r} is not groupId:artifactId:type"
                "[:classifier]:version:scope",
                hint="pass the output of `mvn dependency:list -DoutputFile=FILE` as written")
        out.extend(artifact_files(g, a, v, t, c, path))
    if not listing and not out:
        raise LockfileError(f"{path}: no 'The following files have been resolved:' list",
                            hint="run `mvn dependency:list -DoutputFile=FILE` and pass FILE")
    return out


def parse_gradle_lockfile(path: Path, text: str) -> list[LockedPackage]:
    out: list[LockedPackage] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        coords, sep, _configurations = line.partition("=")
        if coords == "empty":
            continue  # configurations that resolve nothing
        parts = coords.split(":")
        if not sep or len(parts) != 3 or not all(parts):
            raise LockfileError(f"{path}:{n}: {line!r} is not group:name:version="
                                "configurations", hint="regenerate it with gradle "
                                "dependencies --write-locks")
        # the lockfile does not say the module's packaging: the jar may not exist (a BOM)
        out.extend(artifact_files(*parts, lockfile=path, type_known=False))
    return out
