"""Packages and package versions: list/describe/verify, statuses, copy, generic publish."""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from .control import Ctx, operation, page
from .errors import Conflict, NotFound, Validation
from .publish import (
    add_asset,
    check_publish,
    package_summary,
    same_bytes_again,
    set_first_origin_defaults,
)
from .store import DOWNLOADABLE, Package, Repository, Version, new_revision, normalize_name


def _repo(ctx: Ctx, p: dict, key: str = "repository") -> Repository:
    return ctx.store.repository(p["domain"], p[key], p.get("domainOwner"))


def _pkg(ctx: Ctx, p: dict, repo: Repository | None = None) -> Package:
    repo = repo or _repo(ctx, p)
    return ctx.store.package(repo, p["format"], p.get("namespace"), p["package"])


def _visible(ctx: Ctx, v: Version) -> bool:
    return v.visible_at <= ctx.store.clock()


def _coords(pkg: Package) -> dict:
    out = {"format": pkg.format, "package": pkg.name}
    return {**out, "namespace": pkg.namespace} if pkg.namespace else out


@operation("ListPackages")
def list_packages(ctx: Ctx, p: dict) -> dict:
    repo = _repo(ctx, p)
    ns, prefix = p.get("namespace"), normalize_name(p.get("format", ""), p.get("packagePrefix", ""))
    items = []
    for pkg in repo.packages.values():
        if p.get("format") and pkg.format != p["format"]:
            continue
        if ns is not None and not pkg.namespace.startswith(ns):  # namespace is a prefix match
            continue
        if not pkg.name.startswith(prefix):
            continue
        r = pkg.restrictions()
        if (p.get("publish") and r["publish"] != p["publish"]) or (
                p.get("upstream") and r["upstream"] != p["upstream"]):
            continue
        if pkg.versions and not any(_visible(ctx, v) for v in pkg.versions.values()):
            continue  # not yet visible (eventual consistency / ingestion delay)
        items.append(pkg)
    items.sort(key=lambda k: (k.format, k.namespace, k.name))
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    out = {"packages": [package_summary(k) for k in chunk]}
    return {**out, "nextToken": nxt} if nxt else out


@operation("DescribePackage")
def describe_package(ctx: Ctx, p: dict) -> dict:
    pkg = _pkg(ctx, p)
    out = {"format": pkg.format, "name": pkg.name,
           "originConfiguration": {"restrictions": pkg.restrictions()}}
    return {"package": {**out, "namespace": pkg.namespace} if pkg.namespace else out}


@operation("DeletePackage")
def delete_package(ctx: Ctx, p: dict) -> dict:
    repo = _repo(ctx, p)
    pkg = _pkg(ctx, p, repo)
    del repo.packages[(pkg.format, pkg.namespace, pkg.name)]
    return {"deletedPackage": package_summary(pkg)}


@operation("PutPackageOriginConfiguration")
def put_origin(ctx: Ctx, p: dict) -> dict:
    # Works before the package exists: it creates a package with no versions (§7.2).
    repo = _repo(ctx, p)
    pkg = ctx.store.ensure_package(repo, p["format"], p.get("namespace"), p["package"])
    r = p["restrictions"]
    if "publish" not in r or "upstream" not in r:
        raise Validation("restrictions.publish and restrictions.upstream are both required")
    pkg.publish, pkg.upstream = r["publish"], r["upstream"]
    return {"originConfiguration": {"restrictions": pkg.restrictions()}}


def _default_display(ctx: Ctx, pkg: Package) -> str | None:
    if pkg.format == "npm" and pkg.dist_tags.get("latest") in pkg.versions:
        return pkg.dist_tags["latest"]
    published = [v for v in pkg.versions.values() if v.status == "Published" and _visible(ctx, v)]
    return max(published, key=lambda v: v.published_time).version if published else None


@operation("ListPackageVersions")
def list_versions(ctx: Ctx, p: dict) -> dict:
    pkg = _pkg(ctx, p)
    items = [v for v in pkg.versions.values() if _visible(ctx, v)
             and (not p.get("status") or v.status == p["status"])
             and (not p.get("originType") or v.origin_type == p["originType"])]
    if p.get("sortBy") == "PUBLISHED_TIME":
        items.sort(key=lambda v: v.published_time, reverse=True)
    chunk, nxt = page(items, p.get("maxResults"), p.get("nextToken"))
    out = {**_coords(pkg),
           "versions": [{"version": v.version, "revision": v.revision, "status": v.status,
                         "origin": v.origin()} for v in chunk]}
    default = _default_display(ctx, pkg)
    if default:
        out["defaultDisplayVersion"] = default
    return {**out, "nextToken": nxt} if nxt else out


def _version(ctx: Ctx, p: dict) -> tuple[Package, Version]:
    pkg = _pkg(ctx, p)
    return pkg, ctx.store.version(pkg, p["packageVersion"])


@operation("DescribePackageVersion")
def describe_version(ctx: Ctx, p: dict) -> dict:
    pkg, v = _version(ctx, p)
    meta = v.metadata
    out = {"format": pkg.format, "packageName": pkg.name, "displayName": v.display_name,
           "version": v.version, "publishedTime": v.published_time, "revision": v.revision,
           "status": v.status, "origin": v.origin(),
           "licenses": [{"name": lic} for lic in meta.get("licenses", [])]}
    for key in ("summary", "homePage", "sourceCodeRepository"):
        if meta.get(key):
            out[key] = meta[key]
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    return {"packageVersion": out}


@operation("ListPackageVersionAssets")
def list_assets(ctx: Ctx, p: dict) -> dict:
    pkg, v = _version(ctx, p)
    assets = list(v.assets.values())
    chunk, nxt = page(assets, p.get("maxResults"), p.get("nextToken"))
    out = {**_coords(pkg), "version": v.version, "versionRevision": v.revision,
           "assets": [{"name": a.name, "size": a.size, "hashes": a.hashes} for a in chunk]}
    return {**out, "nextToken": nxt} if nxt else out


@operation("GetPackageVersionAsset")
def get_asset(ctx: Ctx, p: dict) -> Response:
    _, v = _version(ctx, p)
    if p.get("packageVersionRevision") and p["packageVersionRevision"] != v.revision:
        raise NotFound("Package version revision not found", resourceId=v.version,
                       resourceType="package-version")
    if v.status not in DOWNLOADABLE:
        raise Conflict(f"Assets of a {v.status} package version cannot be downloaded",
                       resourceId=v.version, resourceType="package-version")
    asset = v.assets.get(p["asset"])
    if asset is None:
        raise NotFound(f"Asset {p['asset']} not found", resourceId=p["asset"],
                       resourceType="asset")
    return Response(ctx.store.read_asset(asset), 200, headers={
        "Content-Type": "application/octet-stream", "X-AssetName": asset.name,
        "X-PackageVersion": v.version, "X-PackageVersionRevision": v.revision})


@operation("GetPackageVersionReadme")
def get_readme(ctx: Ctx, p: dict) -> dict:
    pkg, v = _version(ctx, p)
    return {**_coords(pkg), "version": v.version, "versionRevision": v.revision,
            "readme": v.metadata.get("readme", "")}


@operation("ListPackageVersionDependencies")
def list_dependencies(ctx: Ctx, p: dict) -> dict:
    pkg, v = _version(ctx, p)
    deps = []
    for kind, table in v.metadata.get("dependencies", {}).items():
        for name, req in table.items():
            entry = {"package": name, "versionRequirement": req, "dependencyType": kind}
            if name.startswith("@") and "/" in name:  # npm scope → namespace without the @
                entry["namespace"], _, entry["package"] = name[1:].partition("/")
            deps.append(entry)
    return {**_coords(pkg), "version": v.version, "versionRevision": v.revision,
            "dependencies": deps}


@operation("PublishPackageVersion")
async def publish_version(ctx: Ctx, p: dict) -> dict:
    if p["format"] != "generic":
        raise Validation("PublishPackageVersion supports only the generic format")
    if not p.get("namespace"):
        raise Validation("namespace is required for generic packages")
    body = p["assetContent"]
    if hashlib.sha256(body).hexdigest() != p["assetSHA256"]:
        raise Validation("The SHA256 hash of the asset content does not match assetSHA256")
    repo = _repo(ctx, p)
    pkg = await check_publish(ctx.store, None, repo, "generic", p["namespace"], p["package"],
                              p["packageVersion"])
    existing = pkg.versions.get(p["packageVersion"])
    if existing and existing.status != "Unfinished" and p["assetName"] not in existing.assets:
        raise Conflict(f"Package version {existing.version} is {existing.status}; assets can "
                       "only be added while it is Unfinished", resourceId=existing.version,
                       resourceType="package-version")
    if ctx.store.behaviour.generic_republish_status == 409 and \
            same_bytes_again(pkg, p["packageVersion"], p["assetName"], body):
        raise Conflict(f"Asset {p['assetName']} of {pkg.name} {p['packageVersion']} already "
                       "exists", resourceId=p["assetName"], resourceType="asset")
    unfinished = bool(p.get("unfinished"))
    v, _changed = add_asset(ctx.store, repo, pkg, p["packageVersion"], p["assetName"], body,
                            new_status="Unfinished" if unfinished else "Published")
    if not unfinished and v.status == "Unfinished":
        v.status, v.revision = "Published", new_revision()
        v.visible_at = ctx.store.clock() + ctx.store.behaviour.publish_delay
    a = v.assets[p["assetName"]]
    return {**_coords(pkg), "version": v.version, "versionRevision": v.revision,
            "status": v.status, "asset": {"name": a.name, "size": a.size, "hashes": a.hashes}}


def _select(ctx: Ctx, pkg: Package, p: dict) -> tuple[list[str], dict, dict]:
    """Resolve the requested versions; failures make the others SKIPPED (all-or-nothing)."""
    names = list(p.get("versions") or []) + [
        v for v in (p.get("versionRevisions") or {}) if v not in (p.get("versions") or [])]
    failed: dict[str, dict] = {}
    for name in names:
        v = pkg.versions.get(name)
        if v is None or not _visible(ctx, v):
            failed[name] = {"errorCode": "NOT_FOUND", "errorMessage": f"{name} not found"}
        elif (p.get("versionRevisions") or {}).get(name, v.revision) != v.revision:
            failed[name] = {"errorCode": "MISMATCHED_REVISION",
                            "errorMessage": f"revision {v.revision} does not match"}
        elif p.get("expectedStatus") and v.status != p["expectedStatus"]:
            failed[name] = {"errorCode": "MISMATCHED_STATUS",
                            "errorMessage": f"current status: {v.status}, expected status: "
                                            f"{p['expectedStatus']}"}
    return names, failed, {}


def _skip_rest(names: list[str], failed: dict) -> dict:
    for name in names:
        failed.setdefault(name, {"errorCode": "SKIPPED",
                                 "errorMessage": f"version {name} is skipped"})
    return failed


@operation("UpdatePackageVersionsStatus")
def update_status(ctx: Ctx, p: dict) -> dict:
    target = p["targetStatus"]
    if target not in ("Published", "Unlisted", "Archived"):
        raise Validation(f"targetStatus {target} is not allowed; use Published, Unlisted or "
                         "Archived (Disposed via DisposePackageVersions)")
    pkg = _pkg(ctx, p)
    names, failed, ok = _select(ctx, pkg, p)
    for name in names:
        v = pkg.versions.get(name)
        if name not in failed and v.status == "Disposed":
            failed[name] = {"errorCode": "NOT_ALLOWED",
                            "errorMessage": "a Disposed version can only be deleted"}
    if failed:
        return {"successfulVersions": {}, "failedVersions": _skip_rest(names, failed)}
    for name in names:
        v = pkg.versions[name]
        if v.status != target:
            v.status, v.revision = target, new_revision()
        ok[name] = {"revision": v.revision, "status": v.status}
    return {"successfulVersions": ok, "failedVersions": {}}


@operation("DisposePackageVersions")
def dispose_versions(ctx: Ctx, p: dict) -> dict:
    pkg = _pkg(ctx, p)
    names, failed, ok = _select(ctx, pkg, p)
    if failed:
        return {"successfulVersions": {}, "failedVersions": _skip_rest(names, failed)}
    for name in names:
        v = pkg.versions[name]
        v.status, v.assets, v.revision = "Disposed", {}, new_revision()
        ok[name] = {"revision": v.revision, "status": v.status}
    return {"successfulVersions": ok, "failedVersions": {}}


@operation("DeletePackageVersions")
def delete_versions(ctx: Ctx, p: dict) -> dict:
    pkg = _pkg(ctx, p)
    names, failed, ok = _select(ctx, pkg, p)
    if failed:
        return {"successfulVersions": {}, "failedVersions": _skip_rest(names, failed)}
    for name in names:
        v = pkg.versions.pop(name)
        ok[name] = {"revision": v.revision, "status": "Deleted"}
        for tag in [t for t, ver in pkg.dist_tags.items() if ver == name]:
            del pkg.dist_tags[tag]
    return {"successfulVersions": ok, "failedVersions": {}}


def _same(a: Version, b: Version) -> bool:
    return {n: x.sha256 for n, x in a.assets.items()} == {
        n: x.sha256 for n, x in b.assets.items()} and a.metadata == b.metadata


def _source_package(ctx: Ctx, src: Repository, p: dict) -> Package:
    """The source package; with includeFromUpstream, versions stored upstream count too."""
    key = (p["format"], p.get("namespace") or "", normalize_name(p["format"], p["package"]))
    if not p.get("includeFromUpstream") or ctx.upstream is None:
        return _pkg(ctx, p, src)
    merged = Package(*key)
    found = False
    for repo in ctx.upstream.search_order(src):
        pkg = repo.packages.get(key)
        if pkg is None:
            continue
        found = True
        for ver, v in pkg.versions.items():
            merged.versions.setdefault(ver, v)
        if repo is src:
            merged.dist_tags = dict(pkg.dist_tags)
    if not found:
        return _pkg(ctx, p, src)  # raises ResourceNotFound
    return merged


@operation("CopyPackageVersions")
def copy_versions(ctx: Ctx, p: dict) -> dict:
    if bool(p.get("versions")) == bool(p.get("versionRevisions")):
        raise Validation("Specify exactly one of versions and versionRevisions")
    src = _repo(ctx, p, "sourceRepository")
    dst = _repo(ctx, p, "destinationRepository")
    pkg = _source_package(ctx, src, p)
    names, failed, ok = _select(ctx, pkg, p)
    target = dst.packages.get((pkg.format, pkg.namespace, pkg.name))
    for name in names:
        old = target.versions.get(name) if target else None
        if name not in failed and old and not _same(old, pkg.versions[name]) \
                and not p.get("allowOverwrite"):
            failed[name] = {"errorCode": "ALREADY_EXISTS",
                            "errorMessage": f"{name} already exists in {dst.name}"}
    if failed:
        return {"successfulVersions": {}, "failedVersions": _skip_rest(names, failed)}
    target = ctx.store.ensure_package(dst, pkg.format, pkg.namespace, pkg.name)
    for name in names:
        v, old = pkg.versions[name], target.versions.get(name)
        if old and _same(old, v):
            continue  # identical: skipped and left out of successfulVersions
        copy = Version(v.version, v.status, new_revision(), v.published_time, v.origin_type,
                       v.entry_repository, v.entry_connection, dict(v.assets),
                       display_name=v.display_name, metadata=dict(v.metadata))
        target.versions[name] = copy
        set_first_origin_defaults(target, v.origin_type)
        ok[name] = {"revision": copy.revision, "status": copy.status}
    for tag, ver in pkg.dist_tags.items():
        if ver in names:
            target.dist_tags[tag] = ver  # existing destination tags are overwritten
    return {"successfulVersions": ok, "failedVersions": {}}
