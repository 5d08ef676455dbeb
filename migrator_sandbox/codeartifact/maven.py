"""The native Maven endpoint (reference §2): PUT files, checksums, metadata; GET everything.

* PUT of a file creates (or adds to) an Unfinished version; identical bytes again succeed,
  different bytes are 409.
* Checksum files are not stored: they are compared, case-sensitively, with the computed
  lowercase digests (404 before the asset exists, 400 on a mismatch) and served computed.
* PUT of the artifact-level maven-metadata.xml publishes (400 when an asset of a version it
  publishes had a checksum mismatch, 404 when the package is unknown). GET of it is generated
  from the Published versions of the repository, its upstreams and external connections.
* Only unique (timestamped) SNAPSHOTs are accepted. Switch `maven_snapshot_model`:
  `builds` (default, UG maven-snapshots): the first PUT of a build's file creates the build's
  own version (`1.0-20240101.120000-1`) Unfinished; the version-level maven-metadata.xml PUT
  names the build (timestamp, buildNumber), turns it Unlisted and makes `1.0-SNAPSHOT`
  Published with that build's assets (the previous build stays Unlisted). The artifact-level
  metadata never publishes a build. `rolling`: the newest build's files live under
  `1.0-SNAPSHOT`; the next build's first PUT moves the previous one into an Unlisted version.
* Switch `maven_metadata_served`: `generated` (default) or `uploaded` (the last PUT file).
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import Response

from .errors import Conflict, NativeError
from .publish import add_asset, check_publish
from .store import DOWNLOADABLE, Package, Repository, Version, hashes_off_loop, new_revision

CHECKSUMS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
METADATA = "maven-metadata.xml"
TIMESTAMPED = re.compile(r"-(\d{8}\.\d{6}-\d+)")
SNAPSHOT_MODELS = ("builds", "rolling")
SERVED = ("generated", "uploaded")


def _switch(em, name: str, allowed: tuple[str, ...]) -> str:
    value = getattr(em.store.behaviour, name)
    if value not in allowed:
        raise NativeError(500, f"sandbox behaviour {name}={value!r}: expected one of "
                               f"{', '.join(allowed)}")
    return value


def _builds(em) -> bool:
    return _switch(em, "maven_snapshot_model", SNAPSHOT_MODELS) == "builds"


def build_version(snapshot: str, build: str) -> str:
    """`1.0-SNAPSHOT` + `20240101.120000-1` → `1.0-20240101.120000-1`."""
    return snapshot[: -len("SNAPSHOT")] + build


def _holder(em, p: dict) -> str:
    """The version that holds a file of a version folder: under the builds model a file of a
    SNAPSHOT folder belongs to its build's own version."""
    version = p["version"]
    if version.endswith("-SNAPSHOT") and _builds(em):
        m = TIMESTAMPED.search(p["file"])
        if m:
            return build_version(version, m.group(1))
    return version


def split_path(rest: str) -> dict:
    parts = [p for p in rest.split("/") if p]
    if len(parts) < 3:
        raise NativeError(404, f"Not a Maven path: /{rest}")
    last, checksum = parts[-1], None
    base, _, ext = last.rpartition(".")
    if ext in CHECKSUMS and base:
        last, checksum = base, ext
    if last == METADATA:
        if parts[-2].endswith("-SNAPSHOT"):
            return {"kind": "version-metadata", "group": ".".join(parts[:-3]),
                    "artifact": parts[-3], "version": parts[-2], "checksum": checksum}
        return {"kind": "metadata", "group": ".".join(parts[:-2]), "artifact": parts[-2],
                "checksum": checksum}
    if len(parts) < 4:
        raise NativeError(404, f"Not a Maven path: /{rest}")
    return {"kind": "file", "group": ".".join(parts[:-3]), "artifact": parts[-3],
            "version": parts[-2], "file": last, "checksum": checksum}


def _asset_key(repo: Repository, p: dict) -> str:
    coords = f"{p['group']}/{p['artifact']}/{p['version']}/{p['file']}"
    return f"{repo.domain}/{repo.name}/maven/{coords}"


async def handle(em, request: Request, repo: Repository, rest: str) -> Response:
    p = split_path(rest)
    state = request.scope.setdefault("state", {})
    state["repository"] = repo.name
    method = request.method
    if p["kind"] == "file":
        state["asset"] = _asset_key(repo, p)
        if method == "PUT" and p["checksum"]:
            state["operation"] = "maven:PutChecksum"
            return put_checksum(em, repo, p, (await request.body()).decode().strip())
        if method == "PUT":
            state["operation"] = "maven:PutAsset"
            return await put_file(em, repo, p, await request.body())
        if method in ("GET", "HEAD"):
            state["operation"] = "maven:GetChecksum" if p["checksum"] else "maven:GetAsset"
            return await get_file(em, repo, p, method)
    elif p["kind"] == "metadata":
        if method == "PUT":
            state["operation"] = "maven:PutMetadata"
            body = await request.body()
            return Response(status_code=200) if p["checksum"] else put_metadata(em, repo, p, body)
        if method in ("GET", "HEAD"):
            state["operation"] = "maven:GetMetadata"
            return await get_metadata(em, repo, p, method)
    elif p["kind"] == "version-metadata":
        if method == "PUT":
            state["operation"] = "maven:PutMetadata"
            body = await request.body()
            return Response(status_code=200) if p["checksum"] else \
                publish_snapshot(em, repo, p, body)
        if method in ("GET", "HEAD"):
            state["operation"] = "maven:GetMetadata"
            return get_snapshot_metadata(em, repo, p, method)
    raise NativeError(405, "Method Not Allowed")


def _pom_metadata(data: bytes) -> dict:
    text = data.decode("utf-8", "replace")
    text = re.sub(r"<parent>.*?</parent>", "", text, flags=re.S)  # own POM only, not parent's

    def first(tag: str, within: str = text) -> str:
        m = re.search(rf"<{tag}>\s*([^<]*?)\s*</{tag}>", within)
        return m.group(1) if m else ""

    scm = re.search(r"<scm>(.*?)</scm>", text, re.S)
    licenses = re.findall(r"<license>.*?<name>\s*([^<]*?)\s*</name>", text, re.S)
    return {"summary": first("description"), "homePage": first("url", re.sub(
        r"<(scm|licenses|developers|organization|distributionManagement)>.*?</\1>", "",
        text, flags=re.S)), "sourceCodeRepository": first("url", scm.group(1)) if scm else "",
        "licenses": licenses}


async def put_file(em, repo: Repository, p: dict, data: bytes) -> Response:
    version, filename = p["version"], p["file"]
    build = None
    if version.endswith("-SNAPSHOT"):
        m = TIMESTAMPED.search(filename)
        if not m:
            raise NativeError(400, "Non-unique SNAPSHOT versions are not supported; deploy "
                                   "timestamped snapshots (uniqueVersion)")
        build = m.group(1)
    hashes = await hashes_off_loop(data)  # before the checks: no wait between them and the write
    store = em.store
    holder = _holder(em, p)
    pkg = await check_publish(store, em.upstream, repo, "maven", p["group"], p["artifact"],
                              holder)
    if build and holder == version:
        _roll_snapshot(store, pkg, version, build)
    v, _changed = add_asset(store, repo, pkg, holder, filename, data,
                            new_status="Unfinished", display_name=p["artifact"], hashes=hashes)
    if filename.endswith(".pom"):
        v.metadata.update(_pom_metadata(data))
    if build:
        v.metadata["build"] = build
        if holder != version:
            v.metadata["snapshot_of"] = version
    return Response(status_code=201 if _changed else 200)


def _roll_snapshot(store, pkg: Package, version: str, build: str) -> None:
    """A new build of a Published SNAPSHOT: the previous build becomes its own Unlisted version."""
    v = pkg.versions.get(version)
    if v is None or v.metadata.get("build") in (None, build) or v.status != "Published":
        return
    old_build = v.metadata["build"]
    old_name = version[: -len("SNAPSHOT")] + old_build
    pkg.versions[old_name] = Version(
        old_name, "Unlisted", new_revision(), v.published_time, v.origin_type,
        v.entry_repository, v.entry_connection, dict(v.assets), display_name=v.display_name,
        metadata=dict(v.metadata))
    v.assets, v.status, v.revision = {}, "Unfinished", new_revision()
    v.metadata["build"] = build


def put_checksum(em, repo: Repository, p: dict, value: str) -> Response:
    pkg = repo.packages.get(("maven", p["group"], p["artifact"]))
    v = pkg.versions.get(_holder(em, p)) if pkg else None
    asset = v.assets.get(p["file"]) if v else None
    if asset is None:
        raise NativeError(404, f"Asset {p['file']} not found; upload it before its checksum")
    value = value.split()[0] if value else ""
    if value != asset.hashes[CHECKSUMS[p["checksum"]]]:  # case-sensitive: lowercase hex only
        v.bad_checksums.add(p["file"])
        raise NativeError(400, f"Checksum mismatch for {p['file']}.{p['checksum']}")
    return Response(status_code=200)


async def get_file(em, repo: Repository, p: dict, method: str) -> Response:
    v = await em.upstream.resolve(repo, "maven", p["group"], p["artifact"], _holder(em, p),
                                  p["file"])
    asset = v.assets.get(p["file"]) if v and v.status in DOWNLOADABLE else None
    if asset is None:
        raise NativeError(404, f"Not found: {p['file']}")
    if p["checksum"]:
        body = asset.hashes[CHECKSUMS[p["checksum"]]].encode()
        return Response(b"" if method == "HEAD" else body, 200,
                        headers={"Content-Type": "text/plain"})
    data = b"" if method == "HEAD" else em.store.read_asset(asset)
    return Response(data, 200, headers={"Content-Type": "application/octet-stream",
                                        "Content-Length": str(asset.size)})


def _versions_named(body: bytes) -> list[str]:
    return re.findall(r"<version>\s*([^<\s]+)\s*</version>", body.decode("utf-8", "replace"))


def put_metadata(em, repo: Repository, p: dict, body: bytes) -> Response:
    pkg = repo.packages.get(("maven", p["group"], p["artifact"]))
    if pkg is None or not pkg.versions:
        raise NativeError(404, f"No package found with groupId: '{p['group']}' & "
                               f"artifactId: '{p['artifact']}'")
    # A SNAPSHOT build is published by its version-level metadata only.
    unfinished = [v for v in pkg.versions.values()
                  if v.status == "Unfinished" and "snapshot_of" not in v.metadata]
    if em.store.behaviour.maven_metadata_publishes == "listed":
        named = set(_versions_named(body))
        unfinished = [v for v in unfinished if v.version in named]
    bad = [v for v in unfinished if v.bad_checksums]
    if bad:
        raise NativeError(400, f"Version {bad[0].version} has assets with mismatched checksums")
    now = em.store.clock()
    for v in unfinished:
        v.status, v.revision, v.published_time = "Published", new_revision(), now
        v.visible_at = now + em.store.behaviour.publish_delay
        if em.store.behaviour.maven_metadata_asset:
            v.assets[METADATA] = em.store.store_asset(METADATA, body)
    pkg.maven_metadata = body
    return Response(status_code=200)


def _named_build(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace")
    stamp = re.search(r"<timestamp>\s*(\d{8}\.\d{6})\s*</timestamp>", text)
    number = re.search(r"<buildNumber>\s*(\d+)\s*</buildNumber>", text)
    return f"{stamp.group(1)}-{number.group(1)}" if stamp and number else None


def _build_key(build: str) -> tuple[str, int]:
    stamp, _, number = build.partition("-")
    return stamp, int(number or 0)


def publish_build(em, repo: Repository, p: dict, body: bytes) -> Response:
    """Builds model: the named build (else the newest Unfinished one) turns Unlisted and
    `X-SNAPSHOT` becomes Published with its assets."""
    snapshot = p["version"]
    pkg = repo.packages.get(("maven", p["group"], p["artifact"]))
    builds = {v.metadata["build"]: v for v in (pkg.versions.values() if pkg else ())
              if v.metadata.get("snapshot_of") == snapshot and "build" in v.metadata}
    build = _named_build(body)
    if build is None:
        pending = [b for b, v in builds.items() if v.status == "Unfinished"]
        build = max(pending, key=_build_key) if pending else None
    v = builds.get(build) if build else None
    if v is None:
        raise NativeError(404, f"No package found with groupId: '{p['group']}' & "
                               f"artifactId: '{p['artifact']}' & version: "
                               f"'{build_version(snapshot, build) if build else snapshot}'")
    if v.bad_checksums:
        raise NativeError(400, f"Version {v.version} has assets with mismatched checksums")
    now = em.store.clock()
    delay = em.store.behaviour.publish_delay
    with em.store.lock:
        if v.status == "Unfinished":
            v.status, v.revision, v.published_time = "Unlisted", new_revision(), now
        head = pkg.versions.get(snapshot)
        if head is None:
            head = pkg.versions[snapshot] = Version(
                snapshot, "Published", new_revision(), now, v.origin_type, v.entry_repository,
                v.entry_connection, visible_at=now + delay, display_name=v.display_name)
        head.status, head.revision, head.published_time = "Published", new_revision(), now
        head.assets = dict(v.assets)
        head.metadata = {k: val for k, val in v.metadata.items() if k != "snapshot_of"}
    return Response(status_code=200)


def publish_snapshot(em, repo: Repository, p: dict, body: bytes = b"") -> Response:
    if _builds(em):
        return publish_build(em, repo, p, body)
    pkg = repo.packages.get(("maven", p["group"], p["artifact"]))
    v = pkg.versions.get(p["version"]) if pkg else None
    if v is None:
        raise NativeError(404, f"No package found with groupId: '{p['group']}' & "
                               f"artifactId: '{p['artifact']}'")
    if v.bad_checksums:
        raise NativeError(400, f"Version {v.version} has assets with mismatched checksums")
    if v.status == "Unfinished":
        now = em.store.clock()
        v.status, v.revision, v.published_time = "Published", new_revision(), now
        v.visible_at = now + em.store.behaviour.publish_delay
    return Response(status_code=200)


def _xml_response(xml: str, method: str) -> Response:
    return Response(b"" if method == "HEAD" else xml.encode(), 200,
                    headers={"Content-Type": "text/xml"})


async def get_metadata(em, repo: Repository, p: dict, method: str) -> Response:
    own = repo.packages.get(("maven", p["group"], p["artifact"]))
    uploaded = getattr(own, "maven_metadata", None) if own else None
    if uploaded is not None and _switch(em, "maven_metadata_served", SERVED) == "uploaded":
        if p["checksum"]:
            from .store import hashes_of

            return Response(hashes_of(uploaded)[CHECKSUMS[p["checksum"]]], 200)
        return Response(b"" if method == "HEAD" else uploaded, 200,
                        headers={"Content-Type": "text/xml"})
    listed = await em.upstream.listed_versions(repo, "maven", p["group"], p["artifact"])
    if not listed:
        raise NativeError(404, f"Not found: {p['group']}:{p['artifact']}")

    def when(ver: str) -> float:
        v = listed[ver]["version"]
        return v.published_time if v else 0.0

    versions = sorted(listed, key=lambda ver: (when(ver), ver))
    releases = [v for v in versions if not v.endswith("-SNAPSHOT")]
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(em.store.clock()))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n'
        f"  <groupId>{p['group']}</groupId>\n  <artifactId>{p['artifact']}</artifactId>\n"
        f"  <versioning>\n    <latest>{versions[-1]}</latest>\n"
        + (f"    <release>{releases[-1]}</release>\n" if releases else "")
        + "    <versions>\n"
        + "".join(f"      <version>{v}</version>\n" for v in versions)
        + f"    </versions>\n    <lastUpdated>{stamp}</lastUpdated>\n  </versioning>\n"
        "</metadata>\n"
    )
    if p["checksum"]:
        from .store import hashes_of

        return Response(hashes_of(xml.encode())[CHECKSUMS[p["checksum"]]], 200)
    return _xml_response(xml, method)


def get_snapshot_metadata(em, repo: Repository, p: dict, method: str) -> Response:
    pkg = repo.packages.get(("maven", p["group"], p["artifact"]))
    v = pkg.versions.get(p["version"]) if pkg else None
    if v is None or v.status != "Published" or "build" not in v.metadata:
        raise NativeError(404, f"Not found: {p['version']}/{METADATA}")
    stamp, _, number = v.metadata["build"].partition("-")
    base = p["version"][: -len("SNAPSHOT")] + v.metadata["build"]
    entries = ""
    for name in v.assets:
        m = re.fullmatch(rf"{re.escape(p['artifact'])}-{re.escape(base)}(-[^.]+)?\.(.+)", name)
        if m:
            classifier = f"<classifier>{m.group(1)[1:]}</classifier>" if m.group(1) else ""
            entries += (f"      <snapshotVersion>{classifier}<extension>{m.group(2)}</extension>"
                        f"<value>{base}</value><updated>{stamp.replace('.', '')}</updated>"
                        "</snapshotVersion>\n")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metadata modelVersion="1.1.0">\n'
        f"  <groupId>{p['group']}</groupId>\n  <artifactId>{p['artifact']}</artifactId>\n"
        f"  <version>{p['version']}</version>\n  <versioning>\n    <snapshot>\n"
        f"      <timestamp>{stamp}</timestamp>\n      <buildNumber>{number}</buildNumber>\n"
        f"    </snapshot>\n    <lastUpdated>{stamp.replace('.', '')}</lastUpdated>\n"
        f"    <snapshotVersions>\n{entries}    </snapshotVersions>\n  </versioning>\n"
        "</metadata>\n"
    )
    return _xml_response(xml, method)


__all__ = ["Conflict", "handle"]
