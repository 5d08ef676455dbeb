"""Everything a repository manager computes from package bytes, shared by both source emulators.

Nexus and Artifactory never store npm packuments, PyPI index pages or checksums as the user
wrote them: they compute them from the uploaded files. The emulators do the same from the seed
folder, so any folder of real packages becomes a realistic source. Nothing here knows HTTP.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import HeaderParser
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

HASHES = ("md5", "sha1", "sha256", "sha512")
# Checksums only: a detached signature (`.asc`) is an ordinary file of the component, listed
# by Nexus and Artifactory like the jar it signs (and attached by maven-gpg-plugin as an
# artifact with extension `jar.asc`).
SIDECAR_SUFFIXES = (".md5", ".sha1", ".sha256", ".sha512")


def digests(data: bytes) -> dict[str, str]:
    """md5, sha1, sha256 and sha512 hex digests of `data`."""
    return {name: hashlib.new(name, data).hexdigest() for name in HASHES}


def pep503(name: str) -> str:
    """PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def iso_millis(ts: float) -> str:
    """Jackson StdDateFormat as Nexus writes it: millis and a numeric offset."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+00:00"


def iso_z(ts: float) -> str:
    """ISO-8601 with millis and `Z`, as Artifactory and the npm registry write it."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


# ---- Maven --------------------------------------------------------------------------------------

_SNAPSHOT_TS = re.compile(r"^(?P<ts>\d{8}\.\d{6})-(?P<build>\d+)")


@dataclass(frozen=True, slots=True)
class MavenCoords:
    """What Nexus' Maven2MavenPathParser reads from a path in the Maven 2 layout."""

    group_id: str
    artifact_id: str
    version: str  # the timestamped version for SNAPSHOT builds
    base_version: str  # `1.0-SNAPSHOT` for snapshots, else == version
    classifier: str | None
    extension: str  # `jar`, `pom`, `jar.sha1`, ...

    @property
    def is_sidecar(self) -> bool:
        return self.extension.endswith(SIDECAR_SUFFIXES)


def maven_coords(path: str) -> MavenCoords | None:
    """Parse `g/r/o/u/p/artifactId/version/artifactId-version[-classifier].ext`, else None."""
    parts = path.split("/")
    if len(parts) < 4:
        return None
    *group, artifact_id, base_version, filename = parts
    prefix = f"{artifact_id}-"
    if not filename.startswith(prefix):
        return None
    rest = filename[len(prefix) :]
    version = base_version
    if base_version.endswith("-SNAPSHOT"):
        stem = base_version[: -len("-SNAPSHOT")] + "-"
        if rest.startswith(stem) and (m := _SNAPSHOT_TS.match(rest[len(stem) :])):
            version = f"{stem}{m.group('ts')}-{m.group('build')}"
    if not rest.startswith(version):
        return None
    tail = rest[len(version) :]
    classifier = None
    if tail.startswith("-"):
        classifier, _, ext = tail[1:].partition(".")
    elif tail.startswith("."):
        ext = tail[1:]
    else:
        return None
    if not ext:
        return None
    return MavenCoords(".".join(group), artifact_id, version, base_version, classifier or None, ext)


def _maven_sort_key(v: str) -> tuple[int, Any]:
    try:
        return (1, Version(v.removesuffix("-SNAPSHOT")))
    except InvalidVersion:
        return (0, v)


def maven_ga_metadata(
    group_id: str, artifact_id: str, versions: list[str], updated: float
) -> bytes:
    """GA-level maven-metadata.xml as the deploy plugin writes it (latest, release, versions)."""
    ordered = sorted(set(versions), key=_maven_sort_key)
    releases = [v for v in ordered if not v.endswith("-SNAPSHOT")]
    stamp = datetime.fromtimestamp(updated, UTC).strftime("%Y%m%d%H%M%S")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<metadata>",
        f"  <groupId>{group_id}</groupId>",
        f"  <artifactId>{artifact_id}</artifactId>",
        "  <versioning>",
    ]
    if ordered:
        lines.append(f"    <latest>{ordered[-1]}</latest>")
    if releases:
        lines.append(f"    <release>{releases[-1]}</release>")
    lines.append("    <versions>")
    lines += [f"      <version>{v}</version>" for v in ordered]
    lines += ["    </versions>", f"    <lastUpdated>{stamp}</lastUpdated>", "  </versioning>"]
    lines.append("</metadata>")
    return ("\n".join(lines) + "\n").encode()


def maven_snapshot_metadata(
    group_id: str, artifact_id: str, base_version: str, files: list[MavenCoords], updated: float
) -> bytes:
    """GAV-level metadata of a SNAPSHOT: newest timestamp/buildNumber plus one snapshotVersion
    per (classifier, extension) of the newest build that has it."""
    builds = sorted({c.version for c in files if c.version != c.base_version}, key=_build_no)
    newest = builds[-1] if builds else base_version
    m = re.search(r"(\d{8}\.\d{6})-(\d+)$", newest)
    latest: dict[tuple[str | None, str], str] = {}
    for c in sorted(files, key=lambda c: _build_no(c.version)):
        if not c.is_sidecar:
            latest[(c.classifier, c.extension)] = c.version
    stamp = datetime.fromtimestamp(updated, UTC).strftime("%Y%m%d%H%M%S")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<metadata modelVersion="1.1.0">',
        f"  <groupId>{group_id}</groupId>",
        f"  <artifactId>{artifact_id}</artifactId>",
        "  <versioning>",
        f"    <lastUpdated>{stamp}</lastUpdated>",
    ]
    if m:
        out += [
            "    <snapshot>",
            f"      <timestamp>{m.group(1)}</timestamp>",
            f"      <buildNumber>{m.group(2)}</buildNumber>",
            "    </snapshot>",
        ]
    out.append("    <snapshotVersions>")
    for (classifier, ext), value in latest.items():
        out.append("      <snapshotVersion>")
        if classifier:
            out.append(f"        <classifier>{classifier}</classifier>")
        out += [
            f"        <extension>{ext}</extension>",
            f"        <value>{value}</value>",
            f"        <updated>{stamp}</updated>",
            "      </snapshotVersion>",
        ]
    out += ["    </snapshotVersions>", "  </versioning>", f"  <version>{base_version}</version>"]
    out.append("</metadata>")
    return ("\n".join(out) + "\n").encode()


def _build_no(version: str) -> tuple[str, int]:
    m = re.search(r"(\d{8}\.\d{6})-(\d+)$", version)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


# ---- npm ----------------------------------------------------------------------------------------


def npm_package_json(data: bytes) -> dict[str, Any] | None:
    """`package.json` from an npm tarball: the one file at depth 1 (usually `package/`, but
    DefinitelyTyped tarballs use the package name as the top folder)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = member.name.lstrip("./").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "package.json":
                    fh = tar.extractfile(member)
                    if fh is None:
                        return None
                    doc = json.loads(fh.read().decode("utf-8"))
                    if isinstance(doc, dict) and doc.get("name") and doc.get("version"):
                        return doc
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeDecodeError):
        return None
    return None


def npm_split(name: str) -> tuple[str | None, str]:
    """`@scope/name` → (`scope`, `name`); `name` → (None, `name`)."""
    if name.startswith("@") and "/" in name:
        scope, _, bare = name[1:].partition("/")
        return scope, bare
    return None, name


def npm_integrity(sha512_hex: str) -> str:
    import base64

    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode()


def _semver_key(v: str) -> tuple[int, Any]:
    try:
        return (1, Version(v))
    except InvalidVersion:
        return (0, v)


@dataclass(frozen=True, slots=True)
class NpmVersion:
    """One tarball as the packument needs it."""

    manifest: dict[str, Any]
    tarball_url: str
    sha1: str
    sha512: str
    mtime: float


def npm_packument(
    name: str,
    versions: list[NpmVersion],
    *,
    dist_tags: dict[str, str] | None = None,
    deprecated: dict[str, str] | None = None,
    abbreviated: bool = False,
) -> dict[str, Any]:
    """A registry packument built from tarballs. `latest` is the newest non-prerelease version
    (or the newest at all) unless `dist_tags` pins it."""
    ordered = sorted(versions, key=lambda v: _semver_key(v.manifest["version"]))
    tags: dict[str, str] = {}
    if ordered:
        stable = [v for v in ordered if not _is_prerelease(v.manifest["version"])]
        tags["latest"] = (stable or ordered)[-1].manifest["version"]
    tags.update(dist_tags or {})
    docs: dict[str, Any] = {}
    times: dict[str, str] = {}
    for v in ordered:
        ver = v.manifest["version"]
        doc = {k: val for k, val in v.manifest.items() if not k.startswith("_")}
        doc["_id"] = f"{name}@{ver}"
        doc["dist"] = {
            "shasum": v.sha1,
            "integrity": npm_integrity(v.sha512),
            "tarball": v.tarball_url,
        }
        if deprecated and ver in deprecated:
            doc["deprecated"] = deprecated[ver]
        if abbreviated:
            keep = ("name", "version", "dependencies", "optionalDependencies", "devDependencies",
                    "bundleDependencies", "peerDependencies", "bin", "engines", "dist",
                    "deprecated", "_hasShrinkwrap")
            doc = {k: doc[k] for k in keep if k in doc}
        docs[ver] = doc
        times[ver] = iso_z(v.mtime)
    modified = iso_z(max((v.mtime for v in ordered), default=0.0))
    if abbreviated:
        return {"name": name, "modified": modified, "dist-tags": tags, "versions": docs}
    created = iso_z(min((v.mtime for v in ordered), default=0.0))
    newest = ordered[-1].manifest if ordered else {}
    return {
        "_id": name,
        "_rev": f"{len(ordered)}-{hashlib.md5(json.dumps(tags).encode()).hexdigest()[:16]}",
        "name": name,
        "description": newest.get("description", ""),
        "dist-tags": tags,
        "versions": docs,
        "time": {"created": created, "modified": modified, **times},
        "readme": "",
        "license": newest.get("license"),
    }


def _is_prerelease(v: str) -> bool:
    try:
        return Version(v).is_prerelease
    except InvalidVersion:
        return "-" in v


# ---- PyPI ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PyDist:
    """Identity of one distribution file, read from its own metadata."""

    name: str  # as the metadata spells it
    version: str
    filetype: str  # sdist | bdist_wheel
    pyversion: str
    requires_python: str | None
    summary: str | None

    @property
    def normalized(self) -> str:
        return pep503(self.name)


def pypi_dist(filename: str, data: bytes) -> PyDist | None:
    """Read PKG-INFO / METADATA from an sdist (.tar.gz, .zip) or a wheel."""
    raw: bytes | None = None
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for n in z.namelist():
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"):
                        raw = z.read(n)
                        break
            filetype = "bdist_wheel"
            pyversion = filename[:-4].split("-")[-3] if filename.count("-") >= 4 else "py3"
        elif filename.endswith((".tar.gz", ".tgz")):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.count("/") == 1 and member.name.endswith(
                        "/PKG-INFO"
                    ):
                        fh = tar.extractfile(member)
                        raw = fh.read() if fh else None
                        break
            filetype, pyversion = "sdist", "source"
        elif filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for n in z.namelist():
                    if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                        raw = z.read(n)
                        break
            filetype, pyversion = "sdist", "source"
        else:
            return None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, KeyError):
        return None
    if raw is None:
        return None
    msg = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
    if not msg.get("Name") or not msg.get("Version"):
        return None
    return PyDist(
        name=msg["Name"],
        version=msg["Version"],
        filetype=filetype,
        pyversion=pyversion,
        requires_python=msg.get("Requires-Python"),
        summary=msg.get("Summary"),
    )


def simple_root_html(names: list[str]) -> bytes:
    """Root index in Nexus' pypi-root-index.vm shape: one anchor per normalised project."""
    body = "\n".join(f'    <a href="{html.escape(n)}/">{html.escape(n)}</a><br/>' for n in names)
    return (
        "<html lang=\"en\">\n  <head><title>Simple Index</title></head>\n  <body>\n"
        f"{body}\n  </body>\n</html>\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class SimpleLink:
    href: str  # already carries the #hash fragment
    filename: str
    requires_python: str | None


def simple_project_html(project: str, links: list[SimpleLink]) -> bytes:
    """Project page in Nexus' pypi-index.vm shape (PEP 503, rel="internal")."""
    rows = []
    for link in links:
        rp = (
            f' data-requires-python="{html.escape(link.requires_python)}"'
            if link.requires_python
            else ""
        )
        rows.append(
            f'    <a href="{html.escape(link.href)}" rel="internal"{rp}>'
            f"{html.escape(link.filename)}</a><br/>"
        )
    return (
        f"<html lang=\"en\">\n  <head><title>Links for {html.escape(project)}</title></head>\n"
        f"  <body>\n    <h1>Links for {html.escape(project)}</h1>\n"
        + "\n".join(rows)
        + "\n  </body>\n</html>\n"
    ).encode()


def canonical(name: str) -> str:
    """packaging's canonical name (same as PEP 503 for valid names)."""
    return str(canonicalize_name(name))
