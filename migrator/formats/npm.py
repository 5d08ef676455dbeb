"""npm: scope, name and version of a tarball, from its path or from the source's properties.

Layouts seen in the wild (reference §1.9, §2.8):

- Nexus:                        `name/-/name-1.0.0.tgz`, `@scope/name/-/name-1.0.0.tgz`
- Artifactory local:            `name/-/name-1.0.0.tgz`, `@scope/name/-/@scope/name-1.0.0.tgz`
- Artifactory remote cache:     `@scope/name/-/name-1.0.0.tgz`
- Artifactory local, free-form: anything; identity in properties `npm.name` / `npm.version`

Properties win when present (Artifactory reads them from the tarball's package.json; the
version is sometimes stored as `v1.0.0`). Packuments (`name`, `@scope/name`) and `.npm/` files
are metadata: CodeArtifact builds its own packument from the published versions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder, prop
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["coordinates_for", "parse"]

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
