"""Maven: PUT every file of the version, the POM after the artifacts, then maven-metadata.xml.

Reference §2: a PUT creates the version Unfinished; the artifact-level `maven-metadata.xml`
PUT publishes it (for a SNAPSHOT build the version-level metadata, with its timestamp and
build number, comes first). Then `DescribePackageVersion` confirms Published and
`UpdatePackageVersionsStatus` is the fallback. Checksum sidecars are not uploaded (CodeArtifact
computes its own); `upload_checksums=True` PUTs lowercase `.md5`/`.sha1` for plain repositories
such as nginx WebDAV. Non-unique SNAPSHOTs (`x-1.0-SNAPSHOT.jar`) cannot be stored and fail
permanently with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from migrator.formats.maven import NON_UNIQUE_SNAPSHOT_REASON
from migrator.models import (
    AssetOutcome,
    AssetResult,
    ClaimedAsset,
    ClaimedVersion,
    Format,
    Report,
    SpooledFile,
)
from migrator.target.base import MAVEN_METADATA, judge, repository_of, resolve_existing
from migrator.target.errors import AlreadyExists, NotFound, PublishError
from migrator.target.http import file_body

__all__ = ["MavenPublisher", "artifact_metadata", "build_order_key", "snapshot_metadata"]

_SIDECARS = (".md5", ".sha1", ".sha256", ".sha512", ".asc")


def build_order_key(version: ClaimedVersion) -> tuple:
    """Sort key that puts SNAPSHOT builds of one base version in build order (then releases
    by name): the engine publishes timestamped builds oldest first."""
    extra = next((a.extra for a in version.assets if a.extra.get("build_number")), {})
    return (version.namespace, version.package, extra.get("base_version", version.version),
            extra.get("snapshot_timestamp", ""), int(extra.get("build_number") or 0))


def artifact_metadata(group_id: str, artifact_id: str, versions: Iterable[str],
                      now: float | None = None) -> bytes:
    """The artifact-level `maven-metadata.xml` listing `versions` (oldest first)."""
    versions = list(dict.fromkeys(versions))
    releases = [v for v in versions if not v.endswith("-SNAPSHOT")]
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>",
             f"  <groupId>{escape(group_id)}</groupId>",
             f"  <artifactId>{escape(artifact_id)}</artifactId>", "  <versioning>",
             f"    <latest>{escape(versions[-1])}</latest>"]
    if releases:
        lines.append(f"    <release>{escape(releases[-1])}</release>")
    lines.append("    <versions>")
    lines += [f"      <version>{escape(v)}</version>" for v in versions]
    lines += ["    </versions>", f"    <lastUpdated>{stamp}</lastUpdated>", "  </versioning>",
              "</metadata>", ""]
    return "\n".join(lines).encode()


def snapshot_metadata(group_id: str, artifact_id: str, base_version: str, timestamp: str,
                      build_number: int, files: Iterable[tuple[str, str]]) -> bytes:
    """The version-level `maven-metadata.xml` of one SNAPSHOT build (modelVersion 1.1.0);
    `files` are (classifier, extension) pairs of the build."""
    value = f"{base_version[: -len('SNAPSHOT')]}{timestamp}-{build_number}"
    updated = timestamp.replace(".", "")
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<metadata modelVersion="1.1.0">',
             f"  <groupId>{escape(group_id)}</groupId>",
             f"  <artifactId>{escape(artifact_id)}</artifactId>",
             f"  <version>{escape(base_version)}</version>", "  <versioning>", "    <snapshot>",
             f"      <timestamp>{timestamp}</timestamp>",
             f"      <buildNumber>{build_number}</buildNumber>", "    </snapshot>",
             f"    <lastUpdated>{updated}</lastUpdated>", "    <snapshotVersions>"]
    for classifier, extension in sorted(set(files)):
        cls = f"<classifier>{escape(classifier)}</classifier>" if classifier else ""
        lines.append(f"      <snapshotVersion>{cls}<extension>{escape(extension)}</extension>"
                     f"<value>{value}</value><updated>{updated}</updated></snapshotVersion>")
    lines += ["    </snapshotVersions>", "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


def _is_pom(asset: ClaimedAsset) -> bool:
    return asset.extra.get("extension") == "pom" or asset.filename.endswith(".pom")


class MavenPublisher:
    """Publishes Maven versions through the native endpoint (PUTs)."""

    format = Format.MAVEN

    def __init__(self, target, *, upload_checksums: bool = False,
                 merge_metadata: bool | None = None, check_first: bool = True) -> None:
        self.target = target
        # One ListPackageVersionAssets per version before the PUTs: an identical re-PUT is a
        # 200 (not a 409), so this is how a re-run reports IDENTICAL and saves its writes.
        self.check_first = check_first
        self.upload_checksums = upload_checksums
        # Plain repositories serve the metadata file we PUT, so it must list every version;
        # CodeArtifact generates its own from the Published versions.
        self.merge_metadata = (not target.is_codeartifact) if merge_metadata is None \
            else merge_metadata

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        repo = repository_of(version)
        info = _snapshot_info(version)
        base_version = info["base_version"]
        if version.version.endswith("-SNAPSHOT") or any(
                a.extra.get("non_unique_snapshot") for a in version.assets):
            raise PublishError(f"{version.namespace}:{version.package}:{version.version}: "
                               f"{NON_UNIQUE_SNAPSHOT_REASON}", retryable=False)
        endpoint = await self.target.endpoint(repo, Format.MAVEN)
        group_path = version.namespace.replace(".", "/")
        folder = f"{endpoint}{group_path}/{version.package}/{base_version}/"
        wanted = [f for f in files if not f.asset.filename.lower().endswith(_SIDECARS)
                  and f.asset.filename != MAVEN_METADATA]
        ordered = sorted(wanted, key=lambda f: (_is_pom(f.asset), f.asset.filename))

        if info["snapshot"] and self.target.is_codeartifact and ordered:
            # An older build already rolled into its own (Unlisted) version: PUTting it into
            # the -SNAPSHOT folder again would make it the newest build. Settle it by hashes.
            existing = await self.target.asset_hashes(version, version.version)
            if existing is not None:
                for spooled in ordered:
                    await report(await resolve_existing(
                        self.target, version, spooled, spooled.asset.filename,
                        version.version, "older SNAPSHOT build already in the target"))
                return

        known = None
        if self.check_first and ordered:
            known = await self.target.asset_hashes(version, base_version)
        for spooled in ordered:
            if known and spooled.asset.filename in known:
                await report(judge(self.target.name, version, spooled, spooled.asset.filename,
                                   base_version, known[spooled.asset.filename],
                                   "found before upload"))
                continue
            await report(await self._put_file(version, folder, spooled, base_version))

        if info["snapshot"]:
            build_files = [(a.extra.get("classifier") or "", a.extra.get("extension") or "jar")
                           for a in version.assets if a.kind == "artifact"]
            await self._put(folder + MAVEN_METADATA, snapshot_metadata(
                version.namespace, version.package, base_version, info["timestamp"],
                info["build_number"], build_files))
        versions = [base_version]
        if self.merge_metadata:
            versions = await self._known_versions(endpoint, group_path, version) + versions
        artifact_url = f"{endpoint}{group_path}/{version.package}/{MAVEN_METADATA}"
        await self._put(artifact_url, artifact_metadata(version.namespace, version.package,
                                                        versions))
        await self.target.complete_version(version, base_version)

    async def _put_file(self, version: ClaimedVersion, folder: str, spooled: SpooledFile,
                        base_version: str) -> AssetResult:
        name = spooled.asset.filename
        try:
            await self.target.http.request(
                "PUT", folder + name, content=file_body(spooled.path),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(spooled.size)})
        except AlreadyExists as exc:
            return await resolve_existing(self.target, version, spooled, name, base_version,
                                          exc.message)
        if self.upload_checksums:
            for algo in ("md5", "sha1"):
                if spooled.hashes.get(algo):
                    await self._put(f"{folder}{name}.{algo}",
                                    spooled.hashes[algo].lower().encode())
        return AssetResult(spooled.asset.id, AssetOutcome.PUBLISHED)

    async def _put(self, url: str, body: bytes) -> None:
        try:
            await self.target.http.request("PUT", url, content=body,
                                           headers={"Content-Type": "application/xml"})
        except NotFound as exc:
            raise PublishError(f"{exc.message} (nothing of this version is in the target "
                               "yet; its files must be published first)", retryable=True,
                               status=404) from None

    async def _known_versions(self, endpoint: str, group_path: str,
                              version: ClaimedVersion) -> list[str]:
        import re

        url = f"{endpoint}{group_path}/{version.package}/{MAVEN_METADATA}"
        try:
            response = await self.target.http.request("GET", url)
        except NotFound:
            return []
        return re.findall(r"<version>\s*([^<\s]+)\s*</version>", response.text)


def _snapshot_info(version: ClaimedVersion) -> dict:
    for asset in version.assets:
        extra = asset.extra
        if extra.get("snapshot_timestamp"):
            return {"snapshot": True, "base_version": extra["base_version"],
                    "timestamp": extra["snapshot_timestamp"],
                    "build_number": int(extra.get("build_number") or 0)}
    base = next((a.extra["base_version"] for a in version.assets
                 if a.extra.get("base_version")), version.version)
    return {"snapshot": False, "base_version": base}
