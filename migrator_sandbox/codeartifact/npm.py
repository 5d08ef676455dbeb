"""The native npm endpoint (reference §3): publish, packument, tarball, dist-tags, ping.

Scoped names arrive as `@scope%2fname` (decoded to `@scope/name` by the router); the API
namespace is the scope without `@`. A version has exactly one asset, `package.tgz`. npm
versions are immutable: publishing an existing version with other bytes is 409; with the same
bytes the answer is a switch (`Behaviour.npm_republish_status`). A publish document carries the
one new version, or (npm's retry after a 409: the packument fetched with `?write=true`, the
new version merged in) every version with one attachment: the attachment names the new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import Conflict, NativeError
from .publish import add_asset, check_publish
from .store import DOWNLOADABLE, Repository, hashes_off_loop

MAX_REQUEST = 2 * 1024**3  # 2 GB per publish request, not adjustable (§3.2)
ASSET = "package.tgz"


def split_name(full: str) -> tuple[str, str]:
    """'@scope/name' → ('scope', 'name'); 'name' → ('', 'name')."""
    if full.startswith("@"):
        scope, _, name = full[1:].partition("/")
        if not scope or not name or "/" in name:
            raise NativeError(404, f"Invalid package name {full}")
        return scope, name
    if "/" in full or not full:
        raise NativeError(404, f"Invalid package name {full}")
    return "", full


def full_name(ns: str, name: str) -> str:
    return f"@{ns}/{name}" if ns else name


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


async def handle(em, request: Request, repo: Repository, rest: str) -> Response:
    state = request.scope.setdefault("state", {})
    state["repository"] = repo.name
    method = request.method
    if rest == "-/ping":
        state["operation"] = "npm:Ping"
        return JSONResponse({})
    if rest.startswith("-/package/"):
        name_part, sep, tag_part = rest[len("-/package/"):].partition("/dist-tags")
        if not sep:
            raise NativeError(404, "Not found")
        ns, name = split_name(name_part)
        state["operation"] = f"npm:DistTags{method.title()}"
        return await dist_tags(em, request, repo, ns, name, tag_part.strip("/"))
    if rest.startswith("-/"):
        raise NativeError(404, f"{rest} is not supported by CodeArtifact")
    name_part, sep, filename = rest.partition("/-/")
    ns, name = split_name(name_part)
    if sep:
        state["operation"] = "npm:GetTarball"
        version = filename[len(name) + 1 : -len(".tgz")] \
            if filename.startswith(name + "-") and filename.endswith(".tgz") else ""
        state["asset"] = f"{repo.domain}/{repo.name}/npm/{ns}/{name}/{version}/{ASSET}"
        if method not in ("GET", "HEAD"):
            raise NativeError(405, "Method Not Allowed")
        v = await em.upstream.resolve(repo, "npm", ns, name, version, ASSET) if version else None
        if v is None or v.status not in DOWNLOADABLE or ASSET not in v.assets:
            raise NativeError(404, "not found")
        asset = v.assets[ASSET]
        data = b"" if method == "HEAD" else em.store.read_asset(asset)
        return Response(data, 200, headers={"Content-Type": "application/octet-stream",
                                            "Content-Length": str(asset.size)})
    if method == "PUT":
        state["operation"] = "npm:Publish"
        return await publish(em, request, repo, ns, name, state)
    if method in ("GET", "HEAD"):
        state["operation"] = "npm:GetPackument"
        base = str(request.base_url) + request.url.path.lstrip("/")[: -len(rest) or None]
        return await packument(em, repo, ns, name, base)
    raise NativeError(405, "Method Not Allowed")


async def publish(em, request: Request, repo: Repository, ns: str, name: str,
                  state: dict) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_REQUEST:
        raise NativeError(413, "Request exceeds the 2 GB npm publish limit")
    body = await request.body()
    if len(body) > MAX_REQUEST:
        raise NativeError(413, "Request exceeds the 2 GB npm publish limit")
    try:
        doc = json.loads(body)
    except ValueError:
        raise NativeError(400, "Publish body is not JSON") from None
    full = full_name(ns, name)
    if doc.get("name") != full:
        raise NativeError(400, f"Document name {doc.get('name')!r} does not match {full}")
    versions, attachments = doc.get("versions") or {}, doc.get("_attachments") or {}
    if not attachments:
        return update_metadata(em, repo, ns, name, versions)
    if len(attachments) != 1 or not versions:
        raise NativeError(400, "Publish exactly one version with exactly one attachment")
    key, attachment = next(iter(attachments.items()))
    version = _attached_version(full, key, versions)
    manifest = versions[version]
    state["asset"] = f"{repo.domain}/{repo.name}/npm/{ns}/{name}/{version}/{ASSET}"
    try:
        data = base64.b64decode(attachment.get("data", ""), validate=True)
    except ValueError:
        raise NativeError(400, "Attachment data is not base64") from None
    if em.store.behaviour.npm_strict_integrity:
        _check_integrity(manifest.get("dist") or {}, attachment, data)
    hashes = await hashes_off_loop(data)  # before the checks: no wait between them and the write
    pkg = repo.packages.get(("npm", ns, name))
    existing = pkg.versions.get(version) if pkg else None
    if existing is not None:
        same = ASSET in existing.assets and existing.assets[ASSET].sha256 == \
            hashlib.sha256(data).hexdigest()
        answer = em.store.behaviour.npm_republish_status if same else 409
        if answer == 409:
            raise NativeError(409, f"Version {version} of {full} already exists")
        if answer == 403:
            raise NativeError(403, f"You cannot publish over the previously published "
                                   f"versions: {version}.")
        if answer != 200:
            raise NativeError(answer, f"EPUBLISHCONFLICT: Cannot publish {full}@{version} "
                                      "over existing version.")
    pkg = await check_publish(em.store, em.upstream, repo, "npm", ns, name, version)
    if existing is None and em.faults.take("npm_publish_conflicts"):
        raise NativeError(409, f"Conflict: the document of {full} changed while {version} "
                               "was being published")
    try:
        v, _ = add_asset(em.store, repo, pkg, version, ASSET, data, new_status="Published",
                         display_name=name, hashes=hashes)
    except Conflict as exc:
        raise NativeError(409, exc.message) from None
    clean = {k: val for k, val in manifest.items() if k != "dist"}
    license_ = manifest.get("license")
    v.metadata.update({
        "npm": clean, "summary": manifest.get("description", ""),
        "homePage": manifest.get("homepage", ""),
        "licenses": [license_] if isinstance(license_, str) else [],
        "readme": doc.get("readme") or manifest.get("readme") or "",
        "dependencies": {kind: manifest.get(key) or {} for kind, key in (
            ("regular", "dependencies"), ("dev", "devDependencies"),
            ("peer", "peerDependencies"), ("optional", "optionalDependencies"))},
    })
    for tag, ver in (doc.get("dist-tags") or {}).items():
        if ver == version:
            pkg.dist_tags[tag] = ver
    return JSONResponse({"ok": "created new version", "success": True}, 200)


def _attached_version(full: str, key: str, versions: dict) -> str:
    """The version a publish document adds: the only one, or the one its attachment
    (`<name>-<version>.tgz`) names."""
    if len(versions) == 1:
        return next(iter(versions))
    prefix = full + "-"
    named = key[len(prefix):-len(".tgz")] if key.startswith(prefix) and \
        key.endswith(".tgz") else None
    if named not in versions:
        raise NativeError(400, f"Attachment {key} names no version of the document")
    return named


def update_metadata(em, repo: Repository, ns: str, name: str, versions: dict) -> Response:
    """`npm deprecate` PUTs the packument back without attachments: only `deprecated` changes."""
    pkg = repo.packages.get(("npm", ns, name))
    if pkg is None:
        raise NativeError(404, "not found")
    for ver, manifest in versions.items():
        v = pkg.versions.get(ver)
        if v is None:
            continue
        npm_meta = v.metadata.setdefault("npm", {})
        if manifest.get("deprecated"):
            npm_meta["deprecated"] = manifest["deprecated"]
        else:
            npm_meta.pop("deprecated", None)
    return JSONResponse({"ok": "updated package", "success": True})


def _check_integrity(dist: dict, attachment: dict, data: bytes) -> None:
    if "length" in attachment and attachment["length"] != len(data):
        raise NativeError(400, "Attachment length does not match its data")
    if dist.get("shasum") and dist["shasum"] != hashlib.sha1(data).hexdigest():
        raise NativeError(400, "dist.shasum does not match the attachment")
    integrity = dist.get("integrity") or ""
    if integrity.startswith("sha512-"):
        want = base64.b64encode(hashlib.sha512(data).digest()).decode()
        if integrity.split()[0][len("sha512-"):] != want:
            raise NativeError(400, "dist.integrity does not match the attachment")


async def packument(em, repo: Repository, ns: str, name: str, endpoint: str) -> Response:
    listed = await em.upstream.listed_versions(repo, "npm", ns, name)
    if not listed:
        raise NativeError(404, "not found")
    full = full_name(ns, name)
    versions, times = {}, {}
    for ver, item in listed.items():
        v = item["version"]
        if v is not None:
            manifest = dict(v.metadata.get("npm") or {"name": full, "version": ver})
            asset = v.assets.get(ASSET)
            dist = {}
            if asset:
                sri = base64.b64encode(bytes.fromhex(asset.hashes["SHA-512"])).decode()
                dist = {"shasum": asset.hashes["SHA-1"], "integrity": f"sha512-{sri}"}
            times[ver] = _iso(v.published_time)
        else:
            manifest = dict(item["external"])
            dist = {k: val for k, val in (manifest.get("dist") or {}).items()
                    if k in ("shasum", "integrity")}
        # Tarballs always point back at this repository, never at the upstream (§3.2).
        dist["tarball"] = f"{endpoint}{full}/-/{name}-{ver}.tgz"
        manifest.update({"name": full, "version": ver, "_id": f"{full}@{ver}", "dist": dist})
        versions[ver] = manifest
    tags = {t: v for t, v in em.upstream.tags_with_upstreams(repo, ns, name).items()
            if v in versions}
    if "latest" not in tags:
        tags["latest"] = list(versions)[-1]
    if times:
        times = {"created": min(times.values()), "modified": max(times.values()), **times}
    doc = {"_id": full, "name": full, "dist-tags": tags, "versions": versions, "time": times}
    return JSONResponse(doc)


async def dist_tags(em, request: Request, repo: Repository, ns: str, name: str,
                    tag: str) -> Response:
    pkg = repo.packages.get(("npm", ns, name))
    if request.method == "GET" and not tag:
        tags = em.upstream.tags_with_upstreams(repo, ns, name)
        if not tags and pkg is None:
            raise NativeError(404, "not found")
        return JSONResponse(tags)
    if pkg is None:
        raise NativeError(404, "not found")
    if request.method == "PUT" and tag:
        version = json.loads(await request.body())
        if not isinstance(version, str) or version not in pkg.versions:
            raise NativeError(400, f"Version {version!r} does not exist")
        pkg.dist_tags[tag] = version
        return JSONResponse({"ok": True})
    if request.method == "DELETE" and tag:
        if pkg.dist_tags.pop(tag, None) is None:
            raise NativeError(404, f"Tag {tag} not found")
        return JSONResponse({"ok": True})
    raise NativeError(405, "Method Not Allowed")
