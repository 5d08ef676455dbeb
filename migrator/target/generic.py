"""Generic packages (Nexus raw, Artifactory generic): `PublishPackageVersion`, one call per asset.

`unfinished=true` on all but the last asset, so the version turns Published only when it is
complete; a resumed version (some or all assets already there) is then confirmed Published
with `DescribePackageVersion` and, if needed, `UpdatePackageVersionsStatus`.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrator.models import AssetOutcome, AssetResult, ClaimedVersion, Format, Report, SpooledFile
from migrator.target.base import judge, repository_of, resolve_existing
from migrator.target.errors import AlreadyExists, PublishError
from migrator.verification import asset_name, normal_hashes

__all__ = ["GenericPublisher"]


class GenericPublisher:
    """Publishes generic package versions through `PublishPackageVersion` (CodeArtifact only)."""

    format = Format.GENERIC

    def __init__(self, target, *, check_first: bool = True) -> None:
        if not getattr(target, "is_codeartifact", False):
            raise ValueError("generic packages can only be published to CodeArtifact")
        self.target = target
        # One ListPackageVersionAssets per version first: an identical re-publish succeeds
        # silently, and PublishPackageVersion (10/s) is the scarcest quota, so look first.
        self.check_first = check_first

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        repo = repository_of(version)
        if not version.namespace:
            raise PublishError("CodeArtifact generic packages need a namespace; "
                               f"{version.package} {version.version} has none",
                               retryable=False)
        ordered = sorted(files, key=lambda f: asset_name(version, f.asset))
        known = await self.target.asset_hashes(version, version.version) \
            if self.check_first and ordered else None
        if known:
            todo = []
            for spooled in ordered:
                name = asset_name(version, spooled.asset)
                if name in known:
                    await report(judge(self.target.name, version, spooled, name,
                                       version.version, known[name], "found before upload"))
                else:
                    todo.append(spooled)
            ordered = todo
        for index, spooled in enumerate(ordered):
            name = asset_name(version, spooled.asset)
            sha256 = spooled.hashes.get("sha256")
            if not sha256:
                raise PublishError(f"{spooled.path} has no sha256; the engine must hash the "
                                   "spool file", retryable=False)
            try:
                result = await self.target.publish_generic(
                    repo, version.namespace, version.package, version.version, name,
                    spooled.path, sha256, unfinished=index < len(ordered) - 1)
            except AlreadyExists as exc:
                await report(await resolve_existing(self.target, version, spooled, name,
                                                    version.version, exc.message))
                continue
            asset = result.get("asset") or {}
            await report(AssetResult(spooled.asset.id, AssetOutcome.PUBLISHED,
                                     target_hashes=normal_hashes(asset.get("hashes"))))
        await self.target.complete_version(version, version.version)
