"""Generic (Nexus raw, Artifactory generic): the documented mapping from a raw path to a package.

CodeArtifact generic packages need namespace, package, version and a flat asset name. A raw
repository only has paths, so migrator maps them like this:

1. The **version** is the right-most *directory* that looks like a version: it starts with a
   digit, or with `v` and a digit (`1.2.0`, `v2`, `2024.01.05-rc1`).
2. The **package** is the directory just before the version.
3. The **namespace** is every directory before the package, joined with `.`
   (`com/acme/tool/1.0/tool.tgz` → `com.acme`). With no directory before the package, the
   namespace is the source repository's name (CodeArtifact requires a namespace).
4. With no version-like directory, the last two directories are package and version
   (`tools/latest/x.zip` → package `tools`, version `latest`).
5. The **asset name** is the file name. A file nested below the version directory
   (`tool/1.0/bin/x`) or a path with fewer than two directories (`README.txt`, `docs/x.html`)
   has no package version: it is refused with a reason; use the mapping's `exclude` globs to
   leave such files out on purpose.

Names must fit CodeArtifact's rules (1-255 characters, no `#`, `/` or whitespace; asset names:
letters, digits, single inner spaces and ``~!@^&()-`_+[]{};,.``); otherwise the file is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["parse"]

_VERSION_LIKE = re.compile(r"^v?\d[\w.+~-]*$")
_NAME = re.compile(r"^[^#/\s]{1,255}$")
_ASSET = re.compile(r"^[\w~!@^&()\-`+\[\]{};,.]+(?: [\w~!@^&()\-`+\[\]{};,.]+)*$")


def _invalid_asset_name(name: str) -> str | None:
    if name in (".", "..") or len(name) > 255 or not _ASSET.match(name):
        return f"asset name {name!r} is not allowed by CodeArtifact generic packages"
    return None


def parse(
    path: str,
    properties: Mapping[str, Any] | None = None,
    *,
    default_namespace: str = "",
) -> Parsed:
    """Classify one path of a raw/generic repository (see the module docstring)."""
    if checksum_sidecar(path):
        return Parsed.checksum()
    if internal_folder(path):
        return Parsed.metadata("repository manager metadata")
    *dirs, filename = path.split("/")
    version_at = next(
        (i for i in range(len(dirs) - 1, 0, -1) if _VERSION_LIKE.match(dirs[i])), None
    )
    if version_at is None:
        if len(dirs) < 2:
            return Parsed.refused(
                "generic path needs at least <package>/<version>/<file> (see formats/generic.py)"
            )
        version_at = len(dirs) - 1
    if version_at != len(dirs) - 1:
        return Parsed.refused(
            f"file is nested below the version directory {dirs[version_at]!r}; "
            "generic asset names cannot contain '/'"
        )
    version, package = dirs[version_at], dirs[version_at - 1]
    namespace = ".".join(dirs[: version_at - 1]) or default_namespace
    for label, value in (("namespace", namespace), ("package", package), ("version", version)):
        if not _NAME.match(value):
            return Parsed.refused(f"{label} {value!r} is not a valid CodeArtifact generic name")
    problem = _invalid_asset_name(filename)
    if problem:
        return Parsed.refused(problem)
    coordinates = Coordinates(
        Format.GENERIC, namespace, package, version, {"asset": filename}
    )
    return Parsed(AssetKind.ARTIFACT, coordinates)
