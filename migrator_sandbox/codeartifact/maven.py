"""The native Maven endpoint (reference §2): PUT files, checksums, metadata; GET everything.

* PUT of a file creates (or adds to) an Unfinished version; identical bytes again succeed,
  different bytes are 409.
* Checksum files are not stored: they are compared, case-sensitively, with the computed
  lowercase digests (404 before the asset exists, 400 on a mismatch) and served computed.
* PUT of the artifact-level maven-metadata.xml publishes (400 when an asset of a version it
  publishes had a checksum mismatch, 404 when the package is unknown). GET of it is generated
  from the Published versions of the repository, its upstreams and external connections.
* Only unique (timestamped) SNAPSHOTs are accepted; a new build turns the previous one into
  an Unlisted version of its own.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import Response

from .errors import Conflict, NativeError
from .publish import add_asset, check_publish
from .store import DOWNLOADABLE, Package, Repository, Version, new_revision

CHECKSUMS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
METADATA = "maven-metadata.xml"
TIMESTAMPED = re.compile(r"-(\d{8}\.\d{6}-\d+)")


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
            await request.body()
            return Response(status_code=200) if p["checksum"] else publish_snapshot(em, repo, p)
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
    store = em.store
    pkg = await check_publish(store, em.upstream, repo, "maven", p["group"], p["artifact"],
                              version)
    if build:
        _roll_snapshot(store, pkg, version, build)
    v, _changed = add_asset(store, repo, pkg, version, filename, data,
                            new_status="Unfinished", display_name=p["artifact"])
    if filename.endswith(".pom"):
        v.metadata.update(_pom_metadata(data))
    if build:
        v.metadata["build"] = build
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
    v = pkg.versions.get(p["version"]) if pkg else None
    asset = v.assets.get(p["file"]) if v else None
    if asset is None:
        raise NativeError(404, f"Asset {p['file']} not found; upload it before its checksum")
    value = value.split()[0] if value else ""
    if value != asset.hashes[CHECKSUMS[p["checksum"]]]:  # case-sensitive: lowercase hex only
        v.bad_checksums.add(p["file"])
        raise NativeError(400, f"Checksum mismatch for {p['file']}.{p['checksum']}")
    return Response(status_code=200)


async def get_file(em, repo: Repository, p: dict, method: str) -> Response:
    v = await em.upstream.resolve(repo, "maven", p["group"], p["artifact"], p["version"],
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
    unfinished = [v for v in pkg.versions.values() if v.status == "Unfinished"]
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
    return Response(status_code=200)


def publish_snapshot(em, repo: Repository, p: dict) -> Response:
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
