"""What the four publishers share: the `Target` they write to, asset names, hash comparison.

A `Target` is CodeArtifact (`CodeArtifactClient`) or, for tests against real registries, a
`RegistryTarget` (Verdaccio, devpi, nginx WebDAV) whose "asset hashes" come from the
registry's own packument, simple page or files, since only CodeArtifact has
`ListPackageVersionAssets`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from migrator.models import (
    HASH_ALGORITHMS,
    AssetOutcome,
    AssetResult,
    ClaimedAsset,
    ClaimedVersion,
    Format,
    SpooledFile,
    VersionCheck,
)
from migrator.target.http import NativeHttp

__all__ = [
    "Target",
    "asset_name_in_target",
    "compare_hashes",
    "hashes_from_aws",
    "judge",
    "resolve_existing",
    "target_version_names",
    "verify_assets",
]

_AWS_NAMES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
NPM_ASSET = "package.tgz"
MAVEN_METADATA = "maven-metadata.xml"


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


def hashes_from_aws(hashes: Mapping[str, str] | None) -> dict[str, str]:
    """CodeArtifact's `{"SHA-256": ...}` → `{"sha256": ...}` (lowercase hex)."""
    return {_AWS_NAMES.get(k, k.lower()): v.lower() for k, v in (hashes or {}).items()}


def asset_name_in_target(version: ClaimedVersion, asset: ClaimedAsset) -> str:
    """The name CodeArtifact gives this asset: `package.tgz` for npm, the generic asset name,
    else the file name."""
    if version.format is Format.NPM:
        return NPM_ASSET
    if version.format is Format.GENERIC:
        return str(asset.extra.get("asset") or asset.filename)
    return asset.filename


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


def compare_hashes(ours: Mapping[str, Any], theirs: Mapping[str, Any]
                   ) -> tuple[bool | None, str]:
    """(True, "") when every algorithm both sides know agrees (and the size, when both give
    one); (False, reason) on the first difference; (None, reason) when nothing is comparable."""
    common = [a for a in ("sha256", "sha512", "sha1", "md5") if ours.get(a) and theirs.get(a)]
    for algo in common:
        if str(ours[algo]).lower() != str(theirs[algo]).lower():
            shown = "sha256" if "sha256" in common else algo  # the reason names sha256 first
            return False, f"ours {shown}={ours[shown]}, target {shown}={theirs[shown]}"
    if ours.get("size") is not None and theirs.get("size") is not None \
            and int(ours["size"]) != int(theirs["size"]):
        return False, f"ours size={ours['size']}, target size={theirs['size']}"
    if not common:
        return None, "no hash algorithm in common with the target"
    return True, ""


async def resolve_existing(target: Target, version: ClaimedVersion, spooled: SpooledFile,
                           asset_name: str, target_version: str, why: str) -> AssetResult:
    """A 409: read what the target holds, then IDENTICAL or CONFLICT, never a deletion."""
    found = await target.asset_hashes(version, target_version)
    return judge(target.name, version, spooled, asset_name, target_version,
                 (found or {}).get(asset_name), why)


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


def verify_assets(version: ClaimedVersion, check: VersionCheck,
                  files: Sequence[SpooledFile] | Mapping[int, Mapping[str, Any]] | None = None,
                  *, statuses: Sequence[str] = ("Published", "Unlisted")) -> list[str]:
    """Mismatches between the source/downloaded files and what the target reports.

    Compares size, sha256 and every hash the source gave (plus the downloaded hashes) for each
    artifact asset of `version`; requires a status in `statuses` (Unlisted: an older SNAPSHOT
    build) and origin INTERNAL. `maven-metadata.xml` assets and extra target assets are
    ignored. `files` (spool files, or asset id → hashes) overrides the recorded hashes.
    An empty list means verified.
    """
    problems: list[str] = []
    if check.status is None:
        return [f"{version.package} {version.version} is not in the target"]
    if check.status not in statuses:
        problems.append(f"status is {check.status}, expected {' or '.join(statuses)}")
    if check.origin and check.origin != "INTERNAL":
        problems.append(f"origin is {check.origin}, expected INTERNAL")
    given: dict[int, Mapping[str, Any]] = {}
    if isinstance(files, Mapping):
        given = dict(files)
    elif files:
        given = {f.asset.id: {**f.hashes, "size": f.size} for f in files}
    for asset in version.assets:
        if asset.kind != "artifact" or asset.status in ("excluded", "failed_permanent",
                                                                "conflict"):
            continue
        name = asset_name_in_target(version, asset)
        if name == MAVEN_METADATA:
            continue
        theirs = check.assets.get(name)
        if theirs is None:
            problems.append(f"{name}: missing in the target")
            continue
        expected: dict[str, Any] = {**asset.source_hashes, **asset.downloaded_hashes}
        if asset.size is not None:
            expected["size"] = asset.size
        expected.update(given.get(asset.id, {}))
        for key in (*HASH_ALGORITHMS, "size"):
            want, got = expected.get(key), theirs.get(key)
            if want is None:
                continue
            if got is None:
                if key == "sha256":
                    problems.append(f"{name}: the target reports no sha256")
                continue
            if str(want).lower() != str(got).lower():
                problems.append(f"{name}: {key} expected {want}, target has {got}")
    return problems
