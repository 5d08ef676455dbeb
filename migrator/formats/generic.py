"""Generic (Nexus raw, Artifactory generic): the documented mapping from a raw path to a package.

CodeArtifact generic packages need namespace, package, version and a flat asset name. A raw
repository only has paths, so migrator maps them like this (`R` is the source repository name):

1. **Versioned**: when the file's directory looks like a version (starts with a digit, or `v`
   and a digit: `1.2.0`, `v2`, `2024.01.05-rc1`) and has a parent, the parent is the package,
   the directories above it (joined with `.`) the namespace, or `R` when there are none:
   `com/acme/tool/1.0/tool.tgz` → `com.acme` / `tool` / `1.0`;
   `releases/1.1.0/x.zip` → `R` / `releases` / `1.1.0`.
2. **Unversioned**: any other file belongs to the version `unversioned` of a package named by
   its directories joined with `.` (`R` for files at the root), in namespace `R`:
   `tools/install.sh` → `R` / `tools` / `unversioned`; `README.txt` → `R` / `R` / `unversioned`.
   Raw files can be overwritten at the source; a changed file later meets the immutable
   CodeArtifact asset and is reported as a conflict, never silently replaced.
3. The **asset name** is the file name.
4. Files inside a dot-folder (`.npm/`, `.index/`, ...) are the repository manager's own
   metadata and are not migrated.

Names must fit CodeArtifact's rules (1-255 characters, no `#`, `/` or whitespace; asset names:
letters, digits, single inner spaces and ``~!@^&()-`_+[]{};,.``); otherwise the file is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["UNVERSIONED", "parse"]

UNVERSIONED = "unversioned"

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
    if len(dirs) >= 2 and _VERSION_LIKE.match(dirs[-1]):
        version, package = dirs[-1], dirs[-2]
        namespace = ".".join(dirs[:-2]) or default_namespace
    else:
        version = UNVERSIONED
        package = ".".join(dirs) or default_namespace
        namespace = default_namespace
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
