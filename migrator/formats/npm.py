"""npm: scope, name and version of a tarball, from its path or from the source's properties.

Layouts seen in the wild (reference §1.9, §2.8):

- Nexus:                        `name/-/name-1.0.0.tgz`, `@scope/name/-/name-1.0.0.tgz`
- Artifactory local:            `name/-/name-1.0.0.tgz`, `@scope/name/-/@scope/name-1.0.0.tgz`
- Artifactory remote cache:     `@scope/name/-/name-1.0.0.tgz`
- Artifactory local, free-form: anything; identity in properties `npm.name` / `npm.version`

Properties win when present (Artifactory reads them from the tarball's package.json; the
version is sometimes stored as `v1.0.0`). Packuments (`name`, `@scope/name`) and `.npm/` files
are metadata: CodeArtifact builds its own packument from the published versions.

`read_package_json` reads `package/package.json` out of a tarball with bounded reads: a
source's tarball may be a gzip bomb (a few KB that inflate to gigabytes), so the member is
refused above `MAX_PACKAGE_JSON` bytes and the scan stops after `MAX_INFLATED` inflated bytes;
memory stays at a few MB whatever the tarball says.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import zlib
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder, prop
from migrator.formats.bounded import CappedStream
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["MAX_INFLATED", "MAX_PACKAGE_JSON", "TarballRefused", "coordinates_for", "parse",
           "read_package_json"]

_NAME = re.compile(r"^(?:@(?P<scope>[^/@\s]+)/)?(?P<name>[^/@\s][^/\s]*)$")


def coordinates_for(full_name: str, version: str) -> Coordinates | None:
    """`@scope/name` + version → coordinates (namespace = scope without '@'), or None."""
    match = _NAME.match(full_name)
    if not match or not version:
        return None
    if version.startswith("v") and version[1:2].isdigit():
        version = version[1:]
    return Coordinates(
        Format.NPM,
        match["scope"] or "",
        match["name"],
        version,
        {"name": full_name},
    )


def _from_path(path: str) -> Coordinates | None:
    package_part, sep, file_part = path.partition("/-/")
    if not sep or not file_part.endswith(".tgz"):
        return None
    match = _NAME.match(package_part)
    if not match:
        return None
    stem = file_part[: -len(".tgz")]
    # The tarball name is unscoped in Nexus and remote caches, scoped in Artifactory locals.
    for prefix in (f"{package_part}-", f"{match['name']}-"):
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return coordinates_for(package_part, stem[len(prefix) :])
    return None


def parse(path: str, properties: Mapping[str, Any] | None = None) -> Parsed:
    """Classify one path of an npm repository (see the module docstring)."""
    if checksum_sidecar(path):
        return Parsed.checksum()
    if internal_folder(path):
        return Parsed.metadata("npm registry metadata")
    name, version = prop(properties, "npm.name"), prop(properties, "npm.version")
    if path.endswith(".tgz") and name and version:
        coordinates = coordinates_for(name, version)
        if coordinates is not None:
            return Parsed(AssetKind.ARTIFACT, coordinates)
    if "/-/" not in path and _NAME.match(path):
        return Parsed.metadata("npm packument")
    coordinates = _from_path(path)
    if coordinates is not None:
        return Parsed(AssetKind.ARTIFACT, coordinates)
    if path.endswith(".tgz"):
        return Parsed.refused(
            "npm tarball path does not name the package and the source gave no "
            "npm.name/npm.version properties"
        )
    return Parsed.refused("not an npm tarball (.tgz) or packument")


#: The largest package.json read (npm's own are a few KB; the registry caps documents at MBs).
MAX_PACKAGE_JSON = 4 * 1024 * 1024
#: Inflated bytes read looking for it (npm puts package.json among the first members).
MAX_INFLATED = 64 * 1024 * 1024


class TarballRefused(ValueError):
    """The tarball cannot be read within the bounds, or holds no usable package.json."""


def _too_big_tarball(limit: int) -> TarballRefused:
    return TarballRefused(f"the tarball inflates to more than {limit} bytes before "
                          "its package.json (a gzip bomb?)")


def read_package_json(data: bytes, *, max_member: int = MAX_PACKAGE_JSON,
                      max_inflated: int = MAX_INFLATED) -> dict:
    """`package.json` of an npm tarball (top folder `package/`, else the first single top
    folder that has one), read as a stream within the bounds.

    :raises TarballRefused: not a readable tarball, no package.json, one above `max_member`
        bytes, more than `max_inflated` inflated bytes before it, or not a JSON object.
    """
    raw: io.IOBase = io.BytesIO(data)
    if data[:2] == b"\x1f\x8b":
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    found: bytes | None = None
    try:
        capped = io.BufferedReader(CappedStream(raw, max_inflated, _too_big_tarball))
        with tarfile.open(fileobj=capped, mode="r|") as tar:
            while (member := tar.next()) is not None:
                # The stream keeps every header it read: dropped, so a tarball of a
                # hundred thousand empty members costs no memory.
                tar.members = []
                if not (member.isfile() and member.name.count("/") == 1
                        and member.name.endswith("/package.json")):
                    continue
                if member.size > max_member:
                    raise TarballRefused(f"{member.name} is {member.size} bytes (more than "
                                         f"{max_member}): not a package manifest")
                handle = tar.extractfile(member)
                body = handle.read(max_member + 1) if handle is not None else b""
                if member.name.startswith("package/"):
                    found = body
                    break
                if found is None:
                    found = body  # another single folder: kept unless package/ follows
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise TarballRefused(f"not a readable npm tarball ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
    if found is None:
        raise TarballRefused("the npm tarball has no package/package.json")
    try:
        manifest = json.loads(found)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TarballRefused(f"package.json is not JSON: {str(exc)[:200]}") from None
    if not isinstance(manifest, dict):
        raise TarballRefused("package.json is not a JSON object")
    return manifest
