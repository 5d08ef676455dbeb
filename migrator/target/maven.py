"""Maven: PUT every file of the version, the POM after the artifacts, then maven-metadata.xml.

Reference §2: a PUT creates the version Unfinished; the artifact-level `maven-metadata.xml`
PUT publishes it. Then `DescribePackageVersion` confirms Published and
`UpdatePackageVersionsStatus` is the fallback. Checksum sidecars are not uploaded (CodeArtifact
computes its own); `upload_checksums=True` PUTs lowercase `.md5`/`.sha1` for plain repositories
such as nginx WebDAV. Detached signatures (`.asc`) are ordinary assets (only checksums are
excluded, UG maven-checksums): each is PUT right after the file it signs. Non-unique SNAPSHOTs
(`x-1.0-SNAPSHOT.jar`) cannot be stored and fail permanently with that reason.

The artifact-level metadata lists every version the target already shows plus this one (read
from the target first, merged, one writer per artifact at a time; the versions of an artifact
waiting for their turn together are listed by one write), with `latest` and `release`
by Maven's version order (`migrator.formats.maven_version`), so it is right whether CodeArtifact
serves the uploaded file or one it generates (undocumented).

SNAPSHOT builds (UG maven-snapshots): a build's files are PUT into the `X-SNAPSHOT` folder, then
the version-level metadata naming the build (timestamp, buildNumber), then the artifact-level
one. AWS documents that each build is kept as its own version, Unlisted, while `X-SNAPSHOT` is
Published and points at the newest build; the build's own version exists, Unfinished, from its
first PUT. An older emulation kept the newest build only under `X-SNAPSHOT` and moved the
previous one into its own version when the next build's first file arrived. The publisher is
correct under both:

- it reads which build `X-SNAPSHOT` points at (the version-level metadata) and what the build's
  own version holds, and PUTs only the files missing there;
- a build newer than (or equal to) the current one is published with the version-level
  metadata; an older one (a retry, or builds finishing out of order) never is, since that
  would make it the newest: where builds are versions of their own its files are PUT (they go
  to its own version) and it is made Unlisted; where only the newest build lives under
  `X-SNAPSHOT`, adding an older one would replace the newest, so it fails permanently with
  that reason;
- on CodeArtifact a build left Unfinished (a run killed between its first PUT and its metadata,
  then resumed) is made Unlisted with `UpdatePackageVersionsStatus` once `X-SNAPSHOT` is
  Published, so no build stays Unfinished.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

import anyio

from migrator.errors import root_cause
from migrator.formats import CHECKSUM_SUFFIXES, signed_file
from migrator.formats.maven import NON_UNIQUE_SNAPSHOT_REASON
from migrator.formats.maven_version import sort_versions
from migrator.models import (
    AssetOutcome,
    AssetResult,
    ClaimedVersion,
    Format,
    Report,
    SpooledFile,
)
from migrator.target.base import (
    MAVEN_METADATA,
    judge,
    repository_of,
    resolve_existing,
    until_visible,
)
from migrator.target.errors import AlreadyExists, NotFound, PublishError
from migrator.target.http import file_body

__all__ = ["MavenPublisher", "artifact_metadata", "build_order_key", "snapshot_metadata",
           "upload_order"]

_VERSION_TAG = re.compile(r"<version>\s*([^<\s]+)\s*</version>")
_TIMESTAMP = re.compile(r"<timestamp>\s*(\d{8}\.\d{6})\s*</timestamp>")
_BUILD_NUMBER = re.compile(r"<buildNumber>\s*(\d+)\s*</buildNumber>")


def build_order_key(version: ClaimedVersion) -> tuple:
    """Sort key that puts SNAPSHOT builds of one base version in build order (then releases
    by name): the engine publishes timestamped builds oldest first."""
    extra = next((a.extra for a in version.assets if a.extra.get("build_number")), {})
    return (version.namespace, version.package, extra.get("base_version", version.version),
            extra.get("snapshot_timestamp", ""), int(extra.get("build_number") or 0))


def upload_order(name: str) -> tuple:
    """Sort key of a version's files: artifacts, then the POM; each signature right after
    the file it signs."""
    signed = signed_file(name)
    base = signed or name
    return (base.endswith(".pom"), base, signed is not None)


def artifact_metadata(group_id: str, artifact_id: str, versions: Iterable[str],
                      now: float | None = None) -> bytes:
    """The artifact-level `maven-metadata.xml` listing `versions` in Maven's order, `latest`
    the greatest of them and `release` the greatest that is not a SNAPSHOT."""
    ordered = sort_versions(versions)
    releases = [v for v in ordered if not v.endswith("-SNAPSHOT")]
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>",
             f"  <groupId>{escape(group_id)}</groupId>",
             f"  <artifactId>{escape(artifact_id)}</artifactId>", "  <versioning>",
             f"    <latest>{escape(ordered[-1])}</latest>"]
    if releases:
        lines.append(f"    <release>{escape(releases[-1])}</release>")
    lines.append("    <versions>")
    lines += [f"      <version>{escape(v)}</version>" for v in ordered]
    lines += ["    </versions>", f"    <lastUpdated>{stamp}</lastUpdated>", "  </versioning>",
              "</metadata>", ""]
    return "\n".join(lines).encode()


def listed_versions(body: str) -> list[str]:
    """The `<version>` entries of an artifact-level maven-metadata.xml."""
    return _VERSION_TAG.findall(body)


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


def _build_key(build: str) -> tuple[str, int]:
    """`1.0-20240101.120000-3` (or `20240101.120000-3`) → ("20240101.120000", 3)."""
    m = re.search(r"(\d{8}\.\d{6})-(\d+)$", build)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


class MavenPublisher:
    """Publishes Maven versions through the native endpoint (PUTs)."""

    format = Format.MAVEN

    def __init__(self, target, *, upload_checksums: bool = False,
                 check_first: bool = True) -> None:
        self.target = target
        # One ListPackageVersionAssets per version before the PUTs: an identical re-PUT is a
        # 200 (not a 409), so this is how a re-run reports IDENTICAL and saves its writes.
        self.check_first = check_first
        self.upload_checksums = upload_checksums
        # One read-merge-write of an artifact's maven-metadata.xml at a time, for every
        # version waiting for it (versions of one artifact are published in parallel; shards
        # split by package, so one process holds every version of an artifact).
        self._metadata: dict[str, _ArtifactMetadata] = {}

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        repository_of(version)
        info = _snapshot_info(version)
        if version.version.endswith("-SNAPSHOT") or any(
                a.extra.get("non_unique_snapshot") for a in version.assets):
            raise PublishError(f"{version.namespace}:{version.package}:{version.version}: "
                               f"{NON_UNIQUE_SNAPSHOT_REASON}", retryable=False)
        endpoint = await self.target.endpoint(repository_of(version), Format.MAVEN)
        group_path = version.namespace.replace(".", "/")
        artifact_url = f"{endpoint}{group_path}/{version.package}/"
        folder = f"{artifact_url}{info['base_version']}/"
        wanted = [f for f in files if not f.asset.filename.lower().endswith(CHECKSUM_SUFFIXES)
                  and f.asset.filename != MAVEN_METADATA]
        ordered = sorted(wanted, key=lambda f: upload_order(f.asset.filename))
        if info["snapshot"]:
            await self._publish_build(version, info, artifact_url, folder, ordered, report)
            return
        base_version = info["base_version"]
        artifact = self._artifact(artifact_url)
        artifact.uploading += 1  # its metadata turn waits a little for this version's files
        try:
            known = await self.target.asset_hashes(version, base_version) \
                if self.check_first and ordered else None
            await self._put_files(version, folder, ordered, known, base_version, report)
        finally:
            artifact.uploaded()
        await self._put_artifact_metadata(artifact_url, version, base_version)
        await self.target.complete_version(version, base_version)

    def _artifact(self, artifact_url: str) -> _ArtifactMetadata:
        return self._metadata.setdefault(artifact_url + MAVEN_METADATA, _ArtifactMetadata())

    # -- releases and builds -----------------------------------------------------------------

    async def _put_files(self, version: ClaimedVersion, folder: str,
                         ordered: Sequence[SpooledFile], known: dict | None,
                         target_version: str, report: Report) -> None:
        for spooled in ordered:
            name = spooled.asset.filename
            if known and name in known:
                await report(judge(self.target.name, version, spooled, name, target_version,
                                   known[name], "found before upload"))
                continue
            await report(await self._put_file(version, folder, spooled, target_version))

    async def _publish_build(self, version: ClaimedVersion, info: dict, artifact_url: str,
                             folder: str, ordered: Sequence[SpooledFile],
                             report: Report) -> None:
        snapshot, build = info["base_version"], version.version
        current = await self._current_build(folder, snapshot)
        own = await self.target.asset_hashes(version, build)
        if current is None or _build_key(current) <= _build_key(build):
            # The newest build: its files, then the version-level metadata that makes it the
            # build `X-SNAPSHOT` points at, then the artifact-level metadata.
            known = own if own is not None else (
                await self.target.asset_hashes(version, snapshot) if ordered else None)
            holder = build if own is not None else snapshot
            await self._put_files(version, folder, ordered, known, holder, report)
            files = [(a.extra.get("classifier") or "", a.extra.get("extension") or "jar")
                     for a in version.assets if a.kind == "artifact"]
            await self._put(folder + MAVEN_METADATA, snapshot_metadata(
                version.namespace, version.package, snapshot, info["timestamp"],
                info["build_number"], files))
            await self._put_artifact_metadata(artifact_url, version, snapshot)
            status = await self.target.complete_version(version, snapshot)
            if status == "Published":
                await self._unlist_if_unfinished(version, build)
            return
        # An older build than the one `X-SNAPSHOT` points at: never its metadata.
        coexist = not self.target.is_codeartifact or own is not None or (
            await self._listed(version, current))
        if coexist:
            await self._put_files(version, folder, ordered, own, build, report)
            await self._unlist_if_unfinished(version, build)
            return
        raise PublishError(
            f"{version.namespace}:{version.package}: build {build} is older than {current}, "
            f"which {snapshot} already points at, and this target keeps only the newest "
            f"build under {snapshot}: adding the older build would replace the newest",
            retryable=False)

    async def _listed(self, version: ClaimedVersion, build: str) -> bool:
        """Whether `build` is a version of its own in the target. `X-SNAPSHOT` already points
        at it, so a miss may only be the read lagging the publish (about a second): it is
        looked up again over the target's `visibility_waits` before concluding no."""
        return await until_visible(
            self.target, lambda: self.target.asset_hashes(version, build)) is not None

    async def _current_build(self, folder: str, snapshot: str) -> str | None:
        """The build version `X-SNAPSHOT` points at (its version-level metadata), or None."""
        try:
            response = await self.target.http.request("GET", folder + MAVEN_METADATA)
        except NotFound:
            return None
        stamp, number = _TIMESTAMP.search(response.text), _BUILD_NUMBER.search(response.text)
        if not (stamp and number):
            return None
        return f"{snapshot[: -len('SNAPSHOT')]}{stamp.group(1)}-{number.group(1)}"

    async def _unlist_if_unfinished(self, version: ClaimedVersion, build: str) -> None:
        """CodeArtifact: a build's own version left Unfinished becomes Unlisted, as AWS
        documents every build but the one `X-SNAPSHOT` is."""
        if not self.target.is_codeartifact:
            return
        repo = repository_of(version)
        described = await self.target.describe_version(repo, Format.MAVEN, version.namespace,
                                                       version.package, build)
        if described is None or described.get("status") != "Unfinished":
            return  # no version of its own (rolling model), or already settled
        result = await self.target.update_status(
            repo, Format.MAVEN, version.namespace, version.package, [build],
            target_status="Unlisted", expected_status="Unfinished")
        failed = (result.get("failedVersions") or {}).get(build)
        if failed and failed.get("errorCode") != "MISMATCHED_STATUS":
            raise PublishError(
                f"CodeArtifact UpdatePackageVersionsStatus could not make build {build} of "
                f"{version.package} Unlisted: {failed.get('errorCode')} "
                f"{failed.get('errorMessage')}", retryable=True)

    # -- requests ----------------------------------------------------------------------------

    async def _put_file(self, version: ClaimedVersion, folder: str, spooled: SpooledFile,
                        target_version: str) -> AssetResult:
        name = spooled.asset.filename
        try:
            await self.target.http.request(
                "PUT", folder + name, content=file_body(spooled.path),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(spooled.size)})
        except AlreadyExists as exc:
            return await resolve_existing(self.target, version, spooled, name, target_version,
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
        if self.upload_checksums:
            import hashlib

            for algo in ("md5", "sha1"):
                await self._put_plain(f"{url}.{algo}", hashlib.new(algo, body).hexdigest())

    async def _put_plain(self, url: str, text: str) -> None:
        await self.target.http.request("PUT", url, content=text.encode(),
                                       headers={"Content-Type": "text/plain"})

    async def _put_artifact_metadata(self, artifact_url: str, version: ClaimedVersion,
                                     new: str) -> None:
        """Read the target's artifact-level metadata, add `new`, write it back.

        Versions of one artifact whose files are all in go together: the first to get the
        artifact's turn writes the metadata listing every version that joined while it
        waited (group commit). One read and one write then publish them all, instead of a
        read and a write each one after the other (at 100 ms a request, a chain of 200 ms a
        version at the end of a run). Whichever versions CodeArtifact publishes with one
        metadata PUT (those listed, or every Unfinished one), each is still verified, and
        completed with UpdatePackageVersionsStatus if it is left Unfinished.
        """
        url = artifact_url + MAVEN_METADATA
        state = self._artifact(artifact_url)
        batch = state.joining
        batch.versions.append(new)
        async with state.lock:
            if batch.done.is_set():  # written by the version that had the turn
                if batch.failed is not None:
                    raise PublishError(
                        f"{version.namespace}:{version.package}: the maven-metadata.xml write "
                        f"that was to list {new} failed ({batch.failed})", retryable=True)
                return
            # Versions of this artifact still putting their files (they wait for write tokens
            # like everyone: the quota, not this wait, paces the run) join this write if they
            # are done within LINGER_SECONDS, instead of needing a write each.
            await state.quiet(LINGER_SECONDS)
            state.joining = _MetadataBatch()  # versions arriving now wait for the next turn
            try:
                try:
                    response = await self.target.http.request("GET", url)
                    listed = listed_versions(response.text)
                except NotFound:
                    listed = []
                await self._put(url, artifact_metadata(version.namespace, version.package,
                                                       [*listed, *batch.versions]))
            except BaseException as exc:
                batch.failed = root_cause(exc) if isinstance(exc, Exception) else "cancelled"
                raise
            finally:
                batch.done.set()


class _MetadataBatch:
    """Versions of one artifact waiting for the same metadata write."""

    __slots__ = ("done", "failed", "versions")

    def __init__(self) -> None:
        self.versions: list[str] = []
        self.done = anyio.Event()
        self.failed: str | None = None


class _ArtifactMetadata:
    """One artifact's metadata turns: the lock, the batch joining the next write, and how
    many of its versions are still putting their files."""

    __slots__ = ("_quiet", "joining", "lock", "uploading")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.joining = _MetadataBatch()
        self.uploading = 0
        self._quiet = anyio.Event()

    def uploaded(self) -> None:
        self.uploading -= 1
        if self.uploading == 0:
            self._quiet.set()
            self._quiet = anyio.Event()  # for the next wait

    async def quiet(self, at_most: float) -> None:
        """Until no version of the artifact is putting files, or `at_most` seconds."""
        if self.uploading:
            with anyio.move_on_after(at_most):
                await self._quiet.wait()


# How long the version whose metadata turn it is waits for the artifact's other versions
# still putting their files (at the quota ceiling a PUT can wait a second for its token).
LINGER_SECONDS = 2.0


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
