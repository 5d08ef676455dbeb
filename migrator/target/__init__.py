"""Publishing into CodeArtifact: one small protocol, one module per format.

`PublishPackageVersion` accepts only the generic format, so each format speaks the protocol
CodeArtifact really accepts for it (Maven PUTs + artifact-level maven-metadata.xml, the npm
publish document around the original tarball, twine's multipart upload, generic
PublishPackageVersion). A publisher makes one claimed package version complete in the target
and reports each asset's fact as soon as it is true, so the engine can record it before the
next step: a process killed between two PUTs resumes with only the missing files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from migrator.models import (
    AssetOutcome,
    AssetResult,
    ClaimedVersion,
    Format,
    Report,
    SpooledFile,
    VersionCheck,
)

__all__ = [
    "AssetOutcome",
    "AssetResult",
    "Publisher",
    "Report",
    "SourceMetadata",
    "SpooledFile",
    "VersionCheck",
    "make_publisher",
]


class SourceMetadata(Protocol):
    """What publishers may ask of the source beyond the files themselves."""

    async def npm_packument(self, repository: str, name: str) -> Mapping[str, Any]:
        """The source registry's packument for `name` (scoped: `@scope/name`)."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """Makes one package version complete and Published in CodeArtifact."""

    format: Format

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        """Publish `files` (the version's assets not yet recorded as published) in the order
        the protocol needs, then complete the version (Maven: metadata PUT and status check),
        even when `files` is empty because an earlier, interrupted run uploaded them all.

        Calls `report` right after each asset's fact is true. A 409 or "already exists" is
        resolved by comparing hashes with `ListPackageVersionAssets` (IDENTICAL or CONFLICT),
        never by deleting anything.

        :raises TargetError: retryable or not (see `migrator.retry`); `TargetAuthError` when
            the credentials or token are refused.
        """
        ...


# -- construction (extension of the contract; the modules are imported lazily) -----------------


def make_publisher(fmt: Format | str, target: Any, *,
                   source_metadata: SourceMetadata | None = None,
                   **options: Any) -> Publisher:
    """The publisher of `fmt` writing to `target` (a `CodeArtifactClient`, or a
    `RegistryTarget` for real registries). `source_metadata` feeds the npm manifest; other
    keyword options go to the publisher (`check_first`, `upload_checksums`, ...)."""
    fmt = Format(fmt)
    if fmt is Format.MAVEN:
        from migrator.target.maven import MavenPublisher

        return MavenPublisher(target, **options)
    if fmt is Format.NPM:
        from migrator.target.npm import NpmPublisher

        return NpmPublisher(target, source_metadata=source_metadata, **options)
    if fmt is Format.PYPI:
        from migrator.target.pypi import PyPIPublisher

        return PyPIPublisher(target, **options)
    from migrator.target.generic import GenericPublisher

    return GenericPublisher(target, **options)
