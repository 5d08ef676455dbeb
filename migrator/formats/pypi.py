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

`read_core_metadata` reads that METADATA / PKG-INFO out of a wheel, egg or sdist with bounded
reads: a source's file may be a zip or tar bomb (a few KB that inflate to gigabytes, or a
member that claims to be small and is not), so a member above `MAX_METADATA` bytes is refused
and a tar is scanned as a stream for at most `MAX_SDIST_INFLATED` inflated bytes; memory stays
at a few MB whatever the archive says.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
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
from migrator.formats.bounded import CappedStream
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["MAX_METADATA", "MAX_SDIST_INFLATED", "MetadataRefused", "identity_conflict",
           "parse", "parse_filename", "read_core_metadata"]

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


#: The largest METADATA / PKG-INFO read. Real ones are a few KB, up to a few hundred KB with a
#: long README as the description; PyPI itself refuses uploads whose description exceeds that.
MAX_METADATA = 4 * 1024 * 1024
#: Inflated bytes of a tar sdist scanned for its PKG-INFO (setuptools writes it near the
#: start; large C/C++ sdists inflate to a few hundred MB). Read as a stream: costs time, not
#: memory.
MAX_SDIST_INFLATED = 1024 * 1024 * 1024
#: Candidate members tried, shallowest first (a real archive has one, or a few nested copies).
_MAX_CANDIDATES = 8


class MetadataRefused(ValueError):
    """The file's core metadata cannot be read within the bounds, or is missing."""


def _too_big_sdist(limit: int) -> MetadataRefused:
    return MetadataRefused(f"the archive inflates to more than {limit} bytes "
                           "before its PKG-INFO (a tar bomb?)")


def _member_name(filename: str) -> str:
    return "METADATA" if filename.endswith(".whl") else "PKG-INFO"


def _bounded(data: bytes, name: str, max_member: int) -> bytes:
    if len(data) > max_member:
        raise MetadataRefused(f"{name} inflates to more than {max_member} bytes: not core "
                              "metadata (a zip bomb?)")
    return data


def _from_zip(path: Path, member: str, max_member: int) -> bytes | None:
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()
                 and i.filename.rsplit("/", 1)[-1] == member
                 and (member != "METADATA" or (i.filename.count("/") == 1
                      and i.filename.split("/", 1)[0].endswith(".dist-info")))]
        infos.sort(key=lambda i: (i.filename.count("/"), i.filename))
        for info in infos[:_MAX_CANDIDATES]:
            if info.file_size > max_member:
                raise MetadataRefused(f"{info.filename[:200]} is {info.file_size} bytes (more "
                                      f"than {max_member}): not core metadata")
            with archive.open(info) as handle:
                # One byte more than allowed: a member whose header lies about its size.
                data = _bounded(handle.read(max_member + 1), info.filename[:200], max_member)
            if b"Metadata-Version" in data:
                return data
    return None


def _inflating(raw):
    head = raw.read(6)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb")
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _from_tar(path: Path, max_member: int, max_inflated: int) -> bytes | None:
    best: tuple[int, bytes] | None = None
    with path.open("rb") as raw:
        stream = io.BufferedReader(CappedStream(_inflating(raw), max_inflated, _too_big_sdist))
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            try:
                while (info := tar.next()) is not None:
                    # The stream keeps every header it read: dropped, so an archive of a
                    # million empty members costs no memory.
                    tar.members = []
                    if not info.isfile() or info.name.rsplit("/", 1)[-1] != "PKG-INFO":
                        continue
                    if info.size > max_member:
                        raise MetadataRefused(f"{info.name[:200]} is {info.size} bytes (more "
                                              f"than {max_member}): not core metadata")
                    handle = tar.extractfile(info)
                    data = handle.read(max_member + 1) if handle is not None else b""
                    depth = info.name.strip("/").count("/")
                    if b"Metadata-Version" not in data or (best and best[0] <= depth):
                        continue
                    best = (depth, data)
                    if depth <= 1:  # `{name}-{version}/PKG-INFO`: the sdist's own
                        break
            except MetadataRefused:
                if best is None:
                    raise
    return best[1] if best else None


def read_core_metadata(path: Path, filename: str, *, max_member: int = MAX_METADATA,
                       max_inflated: int = MAX_SDIST_INFLATED) -> bytes:
    """The METADATA (wheel) or PKG-INFO (egg, sdist) of one distribution file, read within
    the bounds: the shallowest member of that name that holds a `Metadata-Version`.

    :raises MetadataRefused: not a readable archive, no such member, one above `max_member`
        bytes, or (tar) more than `max_inflated` inflated bytes before it.
    """
    member = _member_name(filename)
    try:
        if filename.endswith((".whl", ".egg", ".zip")) or zipfile.is_zipfile(path):
            data = _from_zip(path, member, max_member)
        else:
            data = _from_tar(path, max_member, max_inflated)
    except MetadataRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError,
            zlib.error, lzma.LZMAError, ValueError, NotImplementedError) as exc:
        raise MetadataRefused(f"not a readable archive ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from None
    if data is None:
        raise MetadataRefused(f"no {member} with a Metadata-Version in the archive")
    return data
