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

Namespace, package and version must fit the MODEL's `[^#/\\s]{1,255}`, else the file is refused.
Asset names must fit UG generic-packages-overview (stricter than the MODEL's `\\P{C}{1,255}`):
Unicode letters and digits (categories Ll, Lm, Lo, Lt, Lu, Nl, Nd), the characters
``~!@^&()-`_+[]{};,.``, single spaces inside the name, never `.` or `..`. A file whose name
breaks a rule (a `:` in it, say) is **excluded** with the exact rule; an explicit mapping
(`map_asset_name`, the manifest's `generic_asset_name_map`, off by default) can replace the
offending parts, and the mapped name is recorded (`extra["asset"]`, with the original in
`extra["source_name"]`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["ASSET_NAME_OPTION", "UNVERSIONED", "asset_name_problem", "map_asset_name", "parse"]

UNVERSIONED = "unversioned"

_VERSION_LIKE = re.compile(r"^v?\d[\w.+~-]*$")
_NAME = re.compile(r"^[^#/\s]{1,255}$")
_LETTERS_DIGITS = frozenset({"Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"})
_SPECIAL = frozenset("~!@^&()-`_+[]{};,.")
#: The manifest option (in `[options]`) that maps asset names; see `map_asset_name`.
ASSET_NAME_OPTION = "generic_asset_name_map"
_RULE = ("CodeArtifact generic asset names may contain Unicode letters and digits, single "
         "inner spaces and ~!@^&()-`_+[]{};,. only (UG generic-packages-overview)")


def asset_name_problem(name: str) -> str | None:
    """The rule of CodeArtifact's generic asset names that `name` breaks, or None."""
    if not 1 <= len(name) <= 255:
        return (f"asset name {name!r} has {len(name)} characters; CodeArtifact asset names "
                "have 1-255 (MODEL AssetName)")
    if name in (".", ".."):
        return f"asset name {name!r}: an asset may not be named . or .."
    for ch in name:
        if ch != " " and ch not in _SPECIAL and \
                unicodedata.category(ch) not in _LETTERS_DIGITS:
            return f"asset name {name!r}: character {ch!r} (U+{ord(ch):04X}) is not allowed; " \
                   + _RULE
    if name.startswith(" ") or name.endswith(" "):
        return f"asset name {name!r} starts or ends with a space; {_RULE}"
    if "  " in name:
        return f"asset name {name!r} has consecutive spaces; {_RULE}"
    return None


def map_asset_name(name: str, mapping: Mapping[str, str] | None) -> str:
    """Apply the explicit asset-name mapping: each key (a literal substring) is replaced by its
    value, in the mapping's order. An empty or absent mapping changes nothing."""
    for old, new in (mapping or {}).items():
        if old:
            name = name.replace(old, new)
    return name


def parse(
    path: str,
    properties: Mapping[str, Any] | None = None,
    *,
    default_namespace: str = "",
    asset_name_map: Mapping[str, str] | None = None,
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
    asset = map_asset_name(filename, asset_name_map)
    extra: dict[str, Any] = {"asset": asset}
    if asset != filename:
        extra.update(source_name=filename, mapped_by=ASSET_NAME_OPTION)
    coordinates = Coordinates(Format.GENERIC, namespace, package, version, extra)
    problem = asset_name_problem(asset)
    if problem:
        hint = ("even after the mapping" if asset != filename else
                f"map it with [options] {ASSET_NAME_OPTION} (an explicit, recorded "
                "replacement of substrings; off by default)")
        return Parsed(AssetKind.ARTIFACT, coordinates, skip=f"{problem}; {hint}")
    return Parsed(AssetKind.ARTIFACT, coordinates)
