"""`TargetAccess`, the pipeline's view of CodeArtifact, and its implementation over the
CodeArtifact client and the per-format publishers.

Verification reads (`check_claimed`: DescribePackageVersion + ListPackageVersionAssets under
the name the target holds the version by), pre-warm GETs through the repository's native
endpoint (raw HTTP, never a package manager whose cache could skip the request), and the npm
dist-tag/deprecation restore of finalize, all through the client's rate limits and retries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urljoin

from migrator.manifest import Manifest
from migrator.models import ClaimedAsset, ClaimedVersion, Format, VersionCheck
from migrator.target import Publisher, SourceMetadata, make_publisher
from migrator.target.errors import NotFound, PublishError

__all__ = ["CodeArtifactTarget", "TargetAccess"]

_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)


@runtime_checkable
class TargetAccess(Protocol):
    """The engine's view of CodeArtifact (an adapter over the CodeArtifact client)."""

    def publisher(self, fmt: Format) -> Publisher:
        """The publisher of one format."""
        ...

    async def check_version(self, version: ClaimedVersion) -> VersionCheck:
        """DescribePackageVersion + ListPackageVersionAssets of the version in its target
        repository; `status` None when the version is not there (yet)."""
        ...

    async def request_asset(self, version: ClaimedVersion, asset: ClaimedAsset) -> None:
        """GET the asset through the target repository's native endpoint (pre-warm)."""
        ...

    async def upstream_refusal(self, version: ClaimedVersion) -> str | None:
        """Why the target will not fetch this package from upstream (origin controls), or
        None (pre-warm: tells blocked_by_origin_control from not_found_upstream)."""
        ...

    async def protect_origin(self, version: ClaimedVersion) -> None:
        """PutPackageOriginConfiguration(publish=ALLOW, upstream=BLOCK) on the version's
        package in its target repository: an internal name never resolves from upstream
        (dependency confusion), and a version already ingested from upstream cannot block
        the publish."""
        ...

    async def package_exists(self, version: ClaimedVersion) -> bool | None:
        """Whether the version's package is in its target repository now (any version, or
        none but an origin configuration); None when the target cannot tell."""
        ...

    async def restore_npm(self, target_repository: str, source_repository: str,
                          name: str, *, packument: Mapping[str, Any] | None = None,
                          prune: bool = False) -> Mapping[str, Any]:
        """Put the source's dist-tags and deprecation messages on one npm package (`@scope/
        name` or `name`); returns what was set and skipped. `packument`: the source's, when
        the caller has it; `prune`: also remove tags and deprecations the source removed."""
        ...

    async def aclose(self) -> None: ...


def npm_name(v: ClaimedVersion) -> str:
    return f"@{v.namespace}/{v.package}" if v.namespace else v.package


class CodeArtifactTarget:
    """`TargetAccess` for a `CodeArtifactClient` (one domain)."""

    def __init__(self, client: Any, source: SourceMetadata | None = None,
                 **publisher_options: Any) -> None:
        self.client = client
        self.source = source
        self.publisher_options = publisher_options
        self._publishers: dict[Format, Publisher] = {}

    @classmethod
    def from_manifest(cls, manifest: Manifest, source: SourceMetadata | None = None,
                      **client_options: Any) -> CodeArtifactTarget:
        from migrator.target.codeartifact import CodeArtifactClient

        return cls(CodeArtifactClient.from_manifest(manifest, **client_options), source)

    def publisher(self, fmt: Format) -> Publisher:
        fmt = Format(fmt)
        if fmt not in self._publishers:
            self._publishers[fmt] = make_publisher(fmt, self.client,
                                                   source_metadata=self.source,
                                                   **self.publisher_options)
        return self._publishers[fmt]

    async def check_version(self, version: ClaimedVersion) -> VersionCheck:
        return await self.client.check_claimed(version)

    async def protect_origin(self, version: ClaimedVersion) -> None:
        await self.client.put_origin_configuration(
            version.target_repository, version.format, version.namespace, version.package,
            publish="ALLOW", upstream="BLOCK")

    async def package_exists(self, version: ClaimedVersion) -> bool | None:
        return await self.client.package_exists(
            version.target_repository, version.format, version.namespace, version.package)

    async def request_asset(self, version: ClaimedVersion, asset: ClaimedAsset) -> None:
        """GET the asset through the target repository so CodeArtifact fetches it from its
        upstream / external connection and keeps it."""
        repo = version.target_repository
        if not repo:
            raise PublishError(f"{asset.path}: no target repository", retryable=False)
        endpoint = await self.client.endpoint(repo, version.format)
        http = self.client.http
        if version.format is Format.NPM:
            name = npm_name(version)
            url = f"{endpoint}{quote(name, safe='@/')}/-/{version.package}-{version.version}.tgz"
            await http.request("GET", url, write=False, scheme="bearer")
        elif version.format is Format.PYPI:
            page = f"{endpoint}simple/{quote(version.package)}/"
            response = await http.request("GET", page, write=False)
            links = [urljoin(page, h) for h in _HREF.findall(response.text)]
            wanted = [u for u in links if u.split("#", 1)[0].rsplit("/", 1)[-1] ==
                      quote(asset.filename)]
            if not wanted:
                raise NotFound(f"CodeArtifact: {asset.filename} is not on the simple page of "
                               f"{version.package} in {repo} (not in the upstream?)")
            await http.request("GET", wanted[0], write=False)
        elif version.format is Format.MAVEN:
            await http.request("GET", endpoint + quote(asset.path), write=False)
        else:
            raise PublishError(f"{asset.path}: {version.format} packages are never fetched "
                               "from upstreams; use mode = 'copy'", retryable=False)

    async def restore_npm(self, target_repository: str, source_repository: str,
                          name: str, *, packument: Mapping[str, Any] | None = None,
                          prune: bool = False) -> Mapping[str, Any]:
        publisher = self.publisher(Format.NPM)
        report = await publisher.restore_dist_tags(  # type: ignore[attr-defined]
            target_repository, source_repository, name, packument, prune=prune)
        return asdict(report)

    # -- pre-warm: why an upstream fetch found nothing, and which files a pin names ----------

    async def upstream_refusal(self, version: ClaimedVersion) -> str | None:
        """Why the target repository will not fetch this package from upstream, or None:
        its origin configuration says upstream=BLOCK (DescribePackage; an internal version
        published first sets that), or the version exists there with origin INTERNAL."""
        repo = version.target_repository or ""
        client = self.client
        try:
            # the client (migrator.target.codeartifact) has no DescribePackage wrapper yet;
            # its generic call paces it on the read quota like every other read
            described = await client._call(
                "DescribePackage", buckets=(client.limits.reads,), policy=client.read_policy,
                **client._coords(repo, version.format, version.namespace, version.package))
        except NotFound:
            described = {}
        restrictions = ((described.get("package") or {}).get("originConfiguration") or {}
                        ).get("restrictions") or {}
        name = npm_name(version) if version.format is Format.NPM else version.package
        if restrictions.get("upstream") == "BLOCK":
            return (f"CodeArtifact: {name} in {repo} has origin control upstream=BLOCK, so it is "
                    "never fetched from the external connection (an internal package of that "
                    "name, or a deliberate block); allow upstream on it or pre-warm it in "
                    "another repository")
        return await self._group_refusal(version, name)

    async def _group_refusal(self, version: ClaimedVersion, name: str) -> str | None:
        """The package group the name belongs to blocks external upstreams (its effective
        mode: its own or inherited), which applies in every repository of the domain, also
        to a package no repository holds yet."""
        client = self.client
        coords = client._coords(version.target_repository or "", version.format,
                                version.namespace, version.package)
        coords.pop("repository", None)
        try:
            found = await client._call("GetAssociatedPackageGroup",
                                       buckets=(client.limits.reads,),
                                       policy=client.read_policy, **coords)
        except NotFound:
            return None
        group = found.get("packageGroup") or {}
        external = ((group.get("originConfiguration") or {}).get("restrictions") or {}
                    ).get("EXTERNAL_UPSTREAM") or {}
        if external.get("effectiveMode") != "BLOCK":
            return None
        return (f"CodeArtifact: package group {group.get('pattern')} blocks external upstreams "
                f"for {name} (an internal namespace), so it is never fetched from the external "
                "connection; pre-warm it through a domain without that group, or drop the "
                "name from the lockfile")

    async def pypi_files(self, repository: str, name: str) -> list[tuple[str, str | None]]:
        """(file name, sha256 or None) of every file the target repository's simple page of
        `name` lists: what CodeArtifact would fetch through its upstreams."""
        endpoint = await self.client.endpoint(repository, Format.PYPI)
        page = f"{endpoint}simple/{quote(name)}/"
        try:
            response = await self.client.http.request("GET", page, write=False)
        except NotFound:
            return []
        out = []
        for href in _HREF.findall(response.text):
            url, _, fragment = href.partition("#")
            algo, _, digest = fragment.partition("=")
            filename = unquote(url.rsplit("/", 1)[-1])
            out.append((filename, digest.lower() if algo == "sha256" and digest else None))
        return out

    async def aclose(self) -> None:
        await self.client.aclose()
