"""Maven 2 layout: `g/r/o/u/p/artifactId/version/artifactId-version[-classifier].extension`.

SNAPSHOT directories (`1.0-SNAPSHOT/`) hold timestamped builds
`artifactId-1.0-20240101.123456-1[-classifier].ext`. Each build is its own CodeArtifact version
(`1.0-20240101.123456-1`, Unlisted; the `-SNAPSHOT` version points at the newest), so the
coordinates' `version` is the timestamped version and `extra` carries `base_version`,
`snapshot_timestamp` and `build_number`. A non-unique SNAPSHOT file (`app-1.0-SNAPSHOT.jar`)
cannot be stored by CodeArtifact: it is recognised and excluded with that reason.

A detached signature (`app-1.0.jar.asc`) is an artifact of the version with extension `jar.asc`
(as maven-gpg-plugin attaches it) and `signature_of` naming the signed file.

The path is authoritative: it is what the publisher PUTs. The Nexus `maven2` attribute block is
not needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from migrator.formats import Parsed, checksum_sidecar, internal_folder, signed_file
from migrator.models import AssetKind, Coordinates, Format

__all__ = ["NON_UNIQUE_SNAPSHOT_REASON", "is_snapshot", "parse"]

SNAPSHOT_SUFFIX = "-SNAPSHOT"
NON_UNIQUE_SNAPSHOT_REASON = (
    "non-unique SNAPSHOT; CodeArtifact stores only timestamped snapshots "
    "(redeploy with uniqueVersion=true)"
)
_TIMESTAMPED = re.compile(r"^(?P<timestamp>\d{8}\.\d{6})-(?P<build>\d+)")
_METADATA_FILES = ("maven-metadata.xml", "archetype-catalog.xml")
_METADATA_PREFIX = "maven-metadata"  # also maven-metadata-local.xml, maven-metadata-<repo>.xml


def is_snapshot(version: str) -> bool:
    return version.endswith(SNAPSHOT_SUFFIX)


def _split_tail(tail: str) -> tuple[str, str] | None:
    """`-sources.jar` → ("sources", "jar"); `.tar.gz` → ("", "tar.gz"); else None."""
    if tail.startswith("."):
        return ("", tail[1:]) if len(tail) > 1 else None
    if tail.startswith("-"):
        classifier, dot, extension = tail[1:].partition(".")
        if classifier and dot and extension:
            return classifier, extension
    return None


def parse(path: str, properties: Mapping[str, Any] | None = None) -> Parsed:
    """Classify one path of a Maven repository (see the module docstring)."""
    segments = path.split("/")
    filename = segments[-1]
    if checksum_sidecar(path):
        return Parsed.checksum()
    if filename in _METADATA_FILES or (
        filename.startswith(_METADATA_PREFIX) and filename.endswith(".xml")
    ):
        return Parsed.metadata("Maven repository metadata")
    if internal_folder(path):
        return Parsed.metadata("repository manager index")
    if len(segments) < 4:
        return Parsed.refused(
            "not a Maven 2 layout path (expected group/artifactId/version/file)"
        )
    *group, artifact_id, version_dir, _ = segments
    group_id = ".".join(group)
    if not filename.startswith(artifact_id + "-"):
        return Parsed.refused(
            f"file name does not start with the artifactId {artifact_id!r}-"
        )
    rest = filename[len(artifact_id) + 1 :]
    extra: dict[str, Any] = {}
    version = version_dir
    if is_snapshot(version_dir):
        base = version_dir[: -len(SNAPSHOT_SUFFIX)]
        if not rest.startswith(base + "-"):
            return Parsed.refused(f"file name does not carry the version {version_dir!r}")
        after_base = rest[len(base) + 1 :]
        match = _TIMESTAMPED.match(after_base)
        if match:
            version = f"{base}-{match['timestamp']}-{match['build']}"
            extra.update(
                base_version=version_dir,
                snapshot_timestamp=match["timestamp"],
                build_number=int(match["build"]),
            )
            tail = after_base[match.end() :]
        elif after_base.startswith("SNAPSHOT"):
            extra.update(base_version=version_dir, non_unique_snapshot=True)
            tail = after_base[len("SNAPSHOT") :]
        else:
            return Parsed.refused(
                f"SNAPSHOT file name is neither timestamped nor {version_dir!r}"
            )
    else:
        if not rest.startswith(version_dir):
            return Parsed.refused(f"file name does not carry the version {version_dir!r}")
        extra["base_version"] = version_dir
        tail = rest[len(version_dir) :]
    split = _split_tail(tail)
    if split is None:
        return Parsed.refused("file name has no extension after the version")
    classifier, extension = split
    extra.update(classifier=classifier, extension=extension)
    signed = signed_file(filename)
    if signed is not None:
        extra["signature_of"] = signed
    coordinates = Coordinates(Format.MAVEN, group_id, artifact_id, version, extra)
    skip = NON_UNIQUE_SNAPSHOT_REASON if extra.get("non_unique_snapshot") else None
    return Parsed(AssetKind.ARTIFACT, coordinates, skip=skip)
