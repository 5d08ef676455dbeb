"""What the four publishers share: the `Target` they write to and how a 409 is settled.

A `Target` is CodeArtifact (`CodeArtifactClient`) or, for tests against real registries, a
`RegistryTarget` (Verdaccio, devpi, nginx WebDAV) whose "asset hashes" come from the
registry's own packument, simple page or files, since only CodeArtifact has
`ListPackageVersionAssets`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import anyio

from migrator.models import (
    HASH_ALGORITHMS,
    AssetOutcome,
    AssetResult,
    ClaimedVersion,
    Format,
    SpooledFile,
)
from migrator.target.errors import PublishError
from migrator.target.http import NativeHttp
from migrator.verification import MAVEN_METADATA, NPM_ASSET, compare_hashes

T = TypeVar("T")

__all__ = [
    "MAVEN_METADATA",
    "NPM_ASSET",
    "Target",
    "holding",
    "judge",
    "repository_of",
    "resolve_existing",
    "target_version_names",
]


class Target(Protocol):
    """Where publishers write: native endpoints plus the reads that settle a 409."""

    name: str
    is_codeartifact: bool
    http: NativeHttp

    async def endpoint(self, repository: str, fmt: Format | str) -> str:
        """The repository's native base URL, ending in `/`."""
        ...

    async def asset_hashes(self, version: ClaimedVersion, target_version: str
                           ) -> dict[str, dict[str, Any]] | None:
        """Asset name → {size?, md5?, sha1?, sha256?, sha512?}; None when the version is absent."""
        ...

    async def complete_version(self, version: ClaimedVersion, target_version: str) -> str | None:
        """Make the version Published if the protocol left it Unfinished; its status."""
        ...


def repository_of(version: ClaimedVersion) -> str:
    """The target repository of a claimed version.

    :raises PublishError: the mapping has none (never retryable: the manifest must change).
    """
    if not version.target_repository:
        raise PublishError(f"{version.package} {version.version} has no target repository",
                           retryable=False)
    return version.target_repository


def target_version_names(version: ClaimedVersion) -> list[str]:
    """Names under which the target may hold this version, most specific first: a Maven
    SNAPSHOT build `1.0-20240101.120000-3` is its own (Unlisted) version once a newer build
    exists, and lives in `1.0-SNAPSHOT` while it is the newest."""
    names = [version.version]
    if version.format is Format.MAVEN:
        base = _base_version(version)
        if base and base != version.version:
            names.append(base)
    return names


def _base_version(version: ClaimedVersion) -> str | None:
    for asset in version.assets:
        base = asset.extra.get("base_version")
        if base:
            return str(base)
    return version.extra.get("base_version")


async def resolve_existing(target: Target, version: ClaimedVersion, spooled: SpooledFile,
                           asset_name: str, target_version: str, why: str) -> AssetResult:
    """A 409: read what the target holds, then IDENTICAL or CONFLICT, never a deletion.

    Reads lag writes (about a second on CodeArtifact): a write whose answer was lost may have
    landed a moment ago, so its retry meets a 409 while the listing does not show the asset
    yet. The look-up is repeated over the target's `visibility_waits` before concluding.

    :raises PublishError: the target still does not hold the asset: the refusal was about
        something else (an origin control, a package group, a version reachable upstream),
        never retryable, with the target's answer in the message.
    """
    theirs = await holding(target, version, asset_name, target_version)
    if theirs is None:
        raise PublishError(
            f"{target.name} refused {asset_name} of {version.package} {target_version} and "
            f"does not hold it, so this is no conflict of bytes: {why}", retryable=False,
            hint="check the package's origin configuration and package group (publish "
                 "allowed?), and whether an upstream already serves this version")
    return judge(target.name, version, spooled, asset_name, target_version, theirs, why)


async def holding(target: Target, version: ClaimedVersion, asset_name: str,
                  target_version: str) -> Mapping[str, Any] | None:
    """The target's hashes of one asset, looked up again over `visibility_waits` while it
    is not listed (eventual consistency); None when it never shows."""
    async def read() -> Mapping[str, Any] | None:
        found = await target.asset_hashes(version, target_version)
        return found.get(asset_name) if found else None

    return await until_visible(target, read)


async def until_visible(target: Target, read: Callable[[], Awaitable[T | None]]) -> T | None:
    """`read()` again over the target's `visibility_waits` while it answers None (reads lag
    writes); its first other answer, or None when it never gives one."""
    waits = tuple(getattr(target, "visibility_waits", ()) or ())
    sleep = getattr(target, "sleep", None) or anyio.sleep
    for wait in (0.0, *waits):
        if wait:
            await sleep(wait)
        found = await read()
        if found is not None:
            return found
    return None


def judge(target_name: str, version: ClaimedVersion, spooled: SpooledFile, asset_name: str,
          target_version: str, theirs: Mapping[str, Any] | None, why: str) -> AssetResult:
    """IDENTICAL when the target's hashes of `asset_name` equal ours, else CONFLICT (with both
    hashes in the reason)."""
    ours = {**spooled.hashes, "size": spooled.size}
    if theirs is None:
        return AssetResult(spooled.asset.id, AssetOutcome.CONFLICT,
                           reason=f"{target_name} refused {asset_name} of {version.package} "
                                  f"{target_version} ({why}) and does not list it; "
                                  f"ours sha256={spooled.hashes.get('sha256')}")
    same, detail = compare_hashes(ours, theirs)
    target_hashes = {a: str(theirs[a]) for a in HASH_ALGORITHMS if theirs.get(a)}
    if same:
        return AssetResult(spooled.asset.id, AssetOutcome.IDENTICAL,
                           target_hashes=target_hashes)
    return AssetResult(spooled.asset.id, AssetOutcome.CONFLICT, target_hashes=target_hashes,
                       reason=f"{target_name} already holds different bytes under "
                              f"{asset_name} of {version.package} {target_version}: {detail}")
