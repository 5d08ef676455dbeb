"""npm: the publish document around the original tarball, then dist-tags and deprecations.

Reference §3: `PUT <endpoint><@scope%2fname>` with the version manifest and the tarball
base64 in `_attachments`; `dist.integrity` (sha512 SRI) and `dist.shasum` (sha1) are computed
from the very bytes the source served, never re-packed. The manifest comes from the source's
packument (`SourceMetadata.npm_packument`), or from `package/package.json` inside the tarball.
`access` is sent as npm sends it (`"public"` unless told otherwise). A publish request above
2 GB (base64 included) is refused permanently.

What CodeArtifact answers to a version it already has is undocumented (200, 409, 403 or 400
are all plausible), so every refusal that could mean "already there" is settled the same way:
look the version's hashes up (again, over the read lag, since a publish whose answer was lost
may have landed a moment ago) and report IDENTICAL or CONFLICT. A 409 for a version the target
does not hold is npm's "the document changed meanwhile": like libnpmpublish, GET the packument
with `?write=true`, merge the new version in and PUT once more. A 403 or 400 for a version the
target does not hold is a refusal of this package (origin controls, a package group) and is
raised as such.

After all versions of a package: `restore_dist_tags()` puts the source's dist-tags back
(`latest` last, so it ends where the source had it) and its deprecation messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio

from migrator.errors import first_error
from migrator.formats.npm import TarballRefused, read_package_json
from migrator.models import AssetOutcome, AssetResult, ClaimedVersion, Format, Report, SpooledFile
from migrator.target import SourceMetadata
from migrator.target.base import NPM_ASSET, holding, judge, repository_of
from migrator.target.errors import AlreadyExists, NotFound, PublishError

__all__ = ["MAX_PUBLISH_BYTES", "NpmPublisher", "TagReport", "escaped_name", "full_name",
           "sort_by_publish_time"]

logger = logging.getLogger(__name__)

MAX_PUBLISH_BYTES = 2 * 1024**3  # per publish request, base64 and JSON included (§3.2)
_ENVELOPE = 64 * 1024  # generous allowance for the JSON around the base64


def full_name(version: ClaimedVersion) -> str:
    """`@scope/name` or `name`."""
    name = version.extra.get("name") or next(
        (a.extra.get("name") for a in version.assets if a.extra.get("name")), None)
    if name:
        return str(name)
    return f"@{version.namespace}/{version.package}" if version.namespace else version.package


def escaped_name(name: str) -> str:
    """`@scope/name` → `@scope%2fname` (what npm puts in the URL)."""
    return quote(name, safe="@").replace("%2F", "%2f")


def sort_by_publish_time(versions: Iterable[ClaimedVersion], packument: Mapping[str, Any]
                         ) -> list[ClaimedVersion]:
    """Claimed versions of one package in the source's publish order (packument `time`);
    versions without a time keep their order after the dated ones."""
    times = packument.get("time") or {}
    items = list(versions)
    return sorted(items, key=lambda v: (times.get(v.version) is None,
                                        str(times.get(v.version) or ""), items.index(v)))


# Answers to a publish that may mean "this version is already there" (reference §3.2: the
# status for an identical re-publish is undocumented).
_MAYBE_THERE = frozenset({400, 403, 409})


def _dist_hashes(dist: Mapping[str, Any]) -> dict[str, str]:
    """sha1/sha512 (hex) from a packument's `dist.shasum` and `dist.integrity`."""
    out: dict[str, str] = {}
    if dist.get("shasum"):
        out["sha1"] = str(dist["shasum"]).lower()
    for sri in str(dist.get("integrity") or "").split():
        algo, _, b64 = sri.partition("-")
        if algo in ("sha512", "sha256", "sha1"):
            try:
                out[algo] = base64.b64decode(b64).hex()
            except ValueError:
                continue
    return out


def _request_size(tarball_size: int) -> int:
    return 4 * ((tarball_size + 2) // 3) + _ENVELOPE


def manifest_from_tarball(data: bytes) -> dict[str, Any]:
    """`package.json` of an npm tarball, read within bounds (`formats.npm.read_package_json`:
    a gzip bomb is refused, not inflated)."""
    try:
        return read_package_json(data)
    except TarballRefused as exc:
        raise PublishError(f"npm tarball refused: {exc}", retryable=False) from None


@dataclass
class TagReport:
    """What `restore_dist_tags` did for one package."""

    set: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # tag → why
    deprecated: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)  # tag → the version it pointed at
    moved: dict[str, str] = field(default_factory=dict)  # tags PUT because they differed
    deprecations_put: list[str] = field(default_factory=list)  # versions whose message changed
    undeprecated: list[str] = field(default_factory=list)  # versions no longer deprecated


class NpmPublisher:
    """Publishes npm versions through the native endpoint (PUT of the publish document)."""

    format = Format.NPM

    def __init__(self, target, *, source_metadata: SourceMetadata | None = None,
                 check_first: bool = True, publish_tag: str = "latest",
                 access: str | None = "public") -> None:
        self.target = target
        self.source_metadata = source_metadata
        # One ListPackageVersionAssets per version first: what the target answers to a
        # version it already holds is undocumented, and a 200 would hide that it was there.
        self.check_first = check_first
        self.publish_tag = publish_tag
        self.access = access  # what `npm publish` sends: "public" unless --access restricted
        self._packuments: dict[tuple[str, str], Mapping[str, Any]] = {}

    async def _source_packument(self, repository: str, name: str) -> Mapping[str, Any] | None:
        if self.source_metadata is None:
            return None
        key = (repository, name)
        if key not in self._packuments:
            doc = await self.source_metadata.npm_packument(repository, name)
            # The source's document is read field by field later (versions, times, tags):
            # one of the wrong shape is refused here, in one readable line.
            wrong = [f"{field!r} is a {type(doc[field]).__name__}"
                     for field in ("versions", "time", "dist-tags")
                     if doc.get(field) is not None and not isinstance(doc[field], Mapping)]
            if wrong:
                raise PublishError(f"the source's packument of {name} is malformed: "
                                   f"{', '.join(wrong)}, not an object", retryable=False)
            self._packuments[key] = doc
            if len(self._packuments) > 256:  # bounded: one package at a time in practice
                self._packuments.pop(next(iter(self._packuments)))
        return self._packuments[key]

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report: Report) -> None:
        repo = repository_of(version)
        tarballs = [f for f in files if f.asset.filename.endswith(".tgz")] or list(files)
        if not tarballs:
            return  # an earlier run published it; npm versions are complete in one request
        if len(tarballs) > 1:
            raise PublishError(f"{version.package} {version.version}: an npm version has one "
                               f"tarball, got {len(tarballs)}", retryable=False)
        spooled = tarballs[0]
        name = full_name(version)
        if _request_size(spooled.size) > MAX_PUBLISH_BYTES:
            raise PublishError(
                f"{name}@{version.version}: the tarball ({spooled.size} bytes) makes a publish "
                "request above CodeArtifact's 2 GB npm limit (base64 adds a third)",
                retryable=False)
        if self.check_first:
            known = await self.target.asset_hashes(version, version.version)
            if known and NPM_ASSET in known:
                await report(judge(self.target.name, version, spooled, NPM_ASSET,
                                   version.version, known[NPM_ASSET], "found before upload"))
                return
        endpoint = await self.target.endpoint(repo, Format.NPM)
        url = endpoint + escaped_name(name)
        data = spooled.path.read_bytes()
        manifest = await self._manifest(version, name, data)
        try:
            await self._put(url, self._document(name, version.version, manifest, data,
                                                endpoint))
        except PublishError as exc:
            if exc.status not in _MAYBE_THERE:
                raise
            await report(await self._settle(version, spooled, name, manifest, data, endpoint,
                                            url, exc))
            return
        await report(AssetResult(spooled.asset.id, AssetOutcome.PUBLISHED))

    async def _put(self, url: str, body: bytes) -> None:
        await self.target.http.request(
            "PUT", url, scheme="bearer", content=body,
            headers={"Content-Type": "application/json", "npm-command": "publish"})

    async def _settle(self, version: ClaimedVersion, spooled: SpooledFile, name: str,
                      manifest: dict[str, Any], data: bytes, endpoint: str, url: str,
                      refused: PublishError) -> AssetResult:
        """The publish was refused (409, 403 or 400): IDENTICAL or CONFLICT when the target
        holds the version; for a 409 on a version it does not hold, npm's one merge-and-retry;
        otherwise the refusal itself is raised (this package fails, the run goes on)."""
        theirs = await holding(self.target, version, NPM_ASSET, version.version)
        if theirs is not None:
            return judge(self.target.name, version, spooled, NPM_ASSET, version.version,
                         theirs, refused.message)
        if not isinstance(refused, AlreadyExists):
            raise refused
        current = await self._current(url)
        listed = ((current.get("versions") or {}).get(version.version) or {}).get("dist")
        if listed is not None:
            # In the packument, not (yet) in ListPackageVersionAssets: judge by its dist.
            return judge(self.target.name, version, spooled, NPM_ASSET, version.version,
                         _dist_hashes(listed), refused.message)
        logger.info("%s@%s: 409 for a new version; merging into the current document and "
                    "publishing once more (as npm does)", name, version.version)
        try:
            await self._put(url, self._document(name, version.version, manifest, data,
                                                endpoint, base=current))
        except AlreadyExists as again:
            # Refused twice. The lag was already waited out above: one look, then conclude.
            found = (await self.target.asset_hashes(version, version.version) or {}).get(
                NPM_ASSET)
            if found is not None:
                return judge(self.target.name, version, spooled, NPM_ASSET, version.version,
                             found, again.message)
            raise PublishError(
                f"{self.target.name} refused {name}@{version.version} twice (409, then 409 "
                f"to the merged document) and does not hold it, so this is no conflict of "
                f"bytes: {again.message}", retryable=False,
                hint="check the package's origin configuration and package group (publish "
                     "allowed?), and whether an upstream already serves this version") from None
        return AssetResult(spooled.asset.id, AssetOutcome.PUBLISHED)

    async def _current(self, url: str) -> dict[str, Any]:
        """The target's packument as `npm publish` fetches it before its retry."""
        try:
            response = await self.target.http.request("GET", url + "?write=true",
                                                      scheme="bearer")
        except NotFound:
            return {}
        return response.json()

    async def _manifest(self, version: ClaimedVersion, name: str, data: bytes
                        ) -> dict[str, Any]:
        packument = await self._source_packument(version.source_repository, name)
        versions = (packument or {}).get("versions") or {}
        manifest = versions.get(version.version) if isinstance(versions, Mapping) else None
        if manifest is not None and not isinstance(manifest, Mapping):
            raise PublishError(f"the source's packument of {name} holds no object for version "
                               f"{version.version} (a {type(manifest).__name__})",
                               retryable=False)
        if manifest is None:
            manifest = manifest_from_tarball(data)
        manifest = {k: v for k, v in manifest.items()
                    if k not in ("dist", "deprecated", "_attachments", "_rev")}
        return manifest

    def _document(self, name: str, version: str, manifest: dict[str, Any], data: bytes,
                  endpoint: str, base: Mapping[str, Any] | None = None) -> bytes:
        """The publish document, streamed around the base64 tarball. With `base` (the
        target's current packument), the new version is merged into it as libnpmpublish's
        retry does: versions and dist-tags added to, every other field replaced."""
        shasum = hashlib.sha1(data).hexdigest()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        basename = name.rsplit("/", 1)[-1]
        manifest = {**manifest, "name": name, "version": version, "_id": f"{name}@{version}",
                    "dist": {"integrity": integrity, "shasum": shasum,
                             "tarball": f"{endpoint}{name}/-/{basename}-{version}.tgz"}}
        doc = {"_id": name, "name": name, "description": manifest.get("description", ""),
               "dist-tags": {self.publish_tag: version}, "versions": {version: manifest},
               "readme": manifest.get("readme", ""), "access": self.access,
               "_attachments": {f"{name}-{version}.tgz": {
                   "content_type": "application/octet-stream",
                   "data": "\0DATA\0", "length": len(data)}}}
        if base:
            merged = {k: v for k, v in base.items() if k not in ("_attachments", "_rev")}
            merged.update({k: v for k, v in doc.items() if k not in ("versions", "dist-tags")})
            merged["versions"] = {**(base.get("versions") or {}), version: manifest}
            merged["dist-tags"] = {**(base.get("dist-tags") or {}), **doc["dist-tags"]}
            doc = merged
        head, _, tail = json.dumps(doc).partition('"\\u0000DATA\\u0000"')
        return b"".join((head.encode(), b'"', base64.b64encode(data), b'"', tail.encode()))

    # -- after all versions of a package ----------------------------------------------------
    async def restore_dist_tags(self, target_repository: str, source_repository: str,
                                name: str, packument: Mapping[str, Any] | None = None,
                                *, prune: bool = False) -> TagReport:
        """Put the source's dist-tags (`latest` last) and deprecation messages on the target
        package. Tags pointing at versions the target does not have are skipped (reported).

        :param name: `@scope/name` or `name`.
        :param packument: the source packument; fetched through `SourceMetadata` when None.
        :param prune: also take back what the source took back (`migrator sync`): dist-tags
            the source no longer has are removed (`npm dist-tag rm`: DELETE; never `latest`,
            which npm cannot remove), and deprecations of versions the source no longer
            deprecates are lifted (`npm deprecate pkg@v ""`: the packument PUT with an empty
            message).
        """
        out = TagReport()
        if packument is None:
            packument = await self._source_packument(source_repository, name) or {}
        endpoint = await self.target.endpoint(target_repository, Format.NPM)
        url = endpoint + escaped_name(name)
        try:
            response = await self.target.http.request("GET", url + "?write=true",
                                                      scheme="bearer")
        except NotFound:
            out.skipped = {t: "the package is not in the target"
                           for t in packument.get("dist-tags") or {}}
            return out
        current = response.json()
        have = set(current.get("versions") or {})
        # Deprecations first: that PUT sends the whole packument back, dist-tags included.
        deprecations = {v: m.get("deprecated") for v, m in
                        (packument.get("versions") or {}).items()
                        if isinstance(m, Mapping) and m.get("deprecated") and v in have}
        changed = {v: msg for v, msg in deprecations.items()
                   if (current["versions"][v] or {}).get("deprecated") != msg}
        if prune:
            lifted = {v: "" for v, m in (current.get("versions") or {}).items()
                      if isinstance(m, Mapping) and m.get("deprecated")
                      and v not in deprecations}
            changed.update(lifted)
            out.undeprecated = sorted(lifted)
        if changed:
            doc = dict(current)
            doc["versions"] = {v: dict(m) for v, m in current["versions"].items()}
            for v, msg in changed.items():
                doc["versions"][v]["deprecated"] = msg
            doc.pop("_attachments", None)
            await self.target.http.request("PUT", url, scheme="bearer", json=doc,
                                           headers={"npm-command": "deprecate"})
            out.deprecations_put = sorted(changed)
        tags = dict(packument.get("dist-tags") or {})
        tag_base = f"{endpoint}-/package/{escaped_name(name)}/dist-tags/"
        order = sorted(tags, key=lambda t: t == "latest")
        moved: set[str] = set()

        async def put_tag(tag: str) -> None:
            await self.target.http.request("PUT", tag_base + quote(tag, safe=""),
                                           scheme="bearer", json=tags[tag])
            moved.add(tag)

        # The other tags side by side (one round trip, not one per tag), `latest` after
        # them all.
        stale = [t for t in order if tags[t] in have
                 and (current.get("dist-tags") or {}).get(t) != tags[t]]
        try:
            async with anyio.create_task_group() as tg:
                for tag in stale:
                    if tag != "latest":
                        tg.start_soon(put_tag, tag)
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        if "latest" in stale:
            await put_tag("latest")
        for tag in order:
            wanted = tags[tag]
            if wanted not in have:
                out.skipped[tag] = f"version {wanted} is not in the target"
                continue
            if tag in moved:
                out.moved[tag] = wanted
            out.set[tag] = wanted
        if prune:
            for tag in sorted(set(current.get("dist-tags") or {}) - set(tags) - {"latest"}):
                try:
                    await self.target.http.request("DELETE", tag_base + quote(tag, safe=""),
                                                   scheme="bearer")
                except NotFound:  # gone already, or a tag only an upstream has
                    continue
                out.removed[tag] = current["dist-tags"][tag]
        out.deprecated = dict(deprecations)
        return out
