"""PyPI: normalised name, version, filename and file type of a distribution file.

Identity comes from the file name, parsed by `packaging` (wheels: PEP 427/491, sdists: PEP 625
`.tar.gz`/`.zip`, eggs by their documented `name-version-pyX.Y[-platform].egg` shape). Names are
PEP 503-normalised (`canonicalize_name`) for identity; the upload keeps the file name unchanged.
When the file name does not parse (legacy `.tar.bz2`, odd uploads), Artifactory's `pypi.name` /
`pypi.version` properties are used, then Nexus' `packages/<name>/<version>/<file>` layout.

`simple/` pages (Nexus) and `.pypi/` (Artifactory) are index files: metadata.

A file's identity is told three times: by its file name, by the listing (the package and
version the plan recorded) and by its own core metadata (`Name`/`Version` in METADATA or
PKG-INFO). The upload publishes into the package the metadata names, so a file whose three
do not agree (a wheel named `hostile_wheel-1.0.0` carrying `Name: six`, `Version: 6.6.6`)
would write into another package: `identity_conflict` says so, and the file is refused.

A detached signature `<file>.asc` (what `twine upload` sends as the `gpg_signature` part of
the file's upload, and what Nexus and Artifactory keep beside it) belongs to the version of the
file it signs: an artifact with `signature_of` naming that file; the publisher sends it with
that file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from migrator.formats import Parsed, checksum_sidecar, internal_folder, prop, signed_file
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["identity_conflict", "parse", "parse_filename"]

_EGG = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<py>py\d[\d.]*)(?:-(?P<plat>.+))?\.egg$")
_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".egg", ".tar.bz2", ".tgz", ".tar.xz", ".exe", ".msi")


def _normal_version(text: str) -> str | None:
    try:
        return str(Version(text))
    except InvalidVersion:
        return None


def parse_filename(filename: str) -> tuple[str, str, str, str] | None:
    """File name → (distribution name, version, filetype, pyversion), or None."""
    if filename.endswith(".whl"):
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        pyversions = sorted({tag.interpreter for tag in tags})
        return name, str(version), "bdist_wheel", ".".join(pyversions)
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            return None
        return name, str(version), "sdist", "source"
    match = _EGG.match(filename)
    if match:
        version = _normal_version(match["version"])
        if version is not None:
            return match["name"], version, "bdist_egg", match["py"][2:]
    return None


def _filetype_guess(filename: str) -> str:
    if filename.endswith(".whl"):
        return "bdist_wheel"
    if filename.endswith(".egg"):
        return "bdist_egg"
    return "sdist"


def parse(path: str, properties: Mapping[str, Any] | None = None) -> Parsed:
    """Classify one path of a PyPI repository (see the module docstring)."""
    segments = path.split("/")
    filename = segments[-1]
    if checksum_sidecar(path):
        return Parsed.checksum()
    if segments[0] == "simple" or internal_folder(path) or filename.endswith((".html", ".json")):
        return Parsed.metadata("PyPI simple index page")
    signed = signed_file(filename)
    if signed is not None:
        of = parse("/".join([*segments[:-1], signed]), properties)
        if of.coordinates is None:
            return of
        extra = {**of.coordinates.extra, "filename": filename, "signature_of": signed}
        c = of.coordinates
        return Parsed(AssetKind.ARTIFACT, Coordinates(c.format, c.namespace, c.package,
                                                      c.version, extra))
    parsed = parse_filename(filename)
    if parsed is not None:
        name, version, filetype, pyversion = parsed
    else:
        name = prop(properties, "pypi.name") or ""
        version = prop(properties, "pypi.version") or ""
        if not (name and version) and len(segments) >= 3 and filename.endswith(_DIST_SUFFIXES):
            name, version = segments[-3], segments[-2]
        normal = _normal_version(version) if version else None
        if not name or normal is None:
            return Parsed.refused(
                "file name is not a wheel, sdist or egg name and the source gave no "
                "pypi.name/pypi.version"
            )
        version, filetype, pyversion = normal, _filetype_guess(filename), "source"
    extra = {"filename": filename, "filetype": filetype, "pyversion": pyversion, "name": name}
    coordinates = Coordinates(Format.PYPI, "", canonicalize_name(name), version, extra)
    return Parsed(AssetKind.ARTIFACT, coordinates)


def _version_key(text: str) -> Version | str:
    """PEP 440 equality (`1.0` is `1.0.0`); a version that does not parse compares as text."""
    try:
        return Version(text)
    except InvalidVersion:
        return text


def identity_conflict(filename: str, package: str, version: str, meta_name: object,
                      meta_version: object) -> str | None:
    """Why the file name, the listing (`package`, `version`) and the file's core metadata
    disagree about which distribution this is, or None when they agree (names compared
    PEP 503-normalised, versions PEP 440-normalised)."""
    if not isinstance(meta_name, str) or not isinstance(meta_version, str) or not (
            meta_name.strip() and meta_version.strip()):
        return f"{filename} carries no Name/Version metadata"
    told = {"its metadata": (meta_name, meta_version.strip()),
            "the listing": (package, version)}
    parsed = parse_filename(filename)
    if parsed is not None:
        told["its file name"] = (parsed[0], parsed[1])
    if len({(canonicalize_name(n), _version_key(v)) for n, v in told.values()}) == 1:
        return None
    said = ", ".join(f"{who} says {canonicalize_name(name)} {ver}"
                     for who, (name, ver) in told.items())
    return (f"{filename}: {said}; a file is only published into the package and version "
            "its name, the listing and its metadata all give")
