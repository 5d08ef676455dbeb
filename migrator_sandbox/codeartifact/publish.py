"""What every publish path shares: origin controls, immutability, statuses and revisions.

Used by PublishPackageVersion (generic) and the native Maven, npm and PyPI endpoints, so the
rules of reference §2.4, §7.1 and §7.2 are implemented once.
"""

from __future__ import annotations

from .errors import AccessDenied, ApiError, Conflict, QuotaExceeded
from .groups import publish_mode
from .store import Package, Repository, Store, Version, new_revision, normalize_name


def publish_blocked(store: Store, message: str) -> ApiError:
    if store.behaviour.publish_blocked_status == 409:
        return Conflict(message, resourceType="package")
    return AccessDenied(message)


async def check_publish(store: Store, upstream, repo: Repository, fmt: str, ns: str,
                        name: str, version: str) -> Package:
    """Origin controls before a direct publish; returns the (possibly new) package."""
    key = (fmt, ns or "", normalize_name(fmt, name))
    pkg = repo.packages.get(key)
    domain = store.domain(repo.domain)
    # Both levels must allow it (reference §7.2, §7.3): the package's own origin configuration
    # in this repository, and the PUBLISH restriction of its package group (the most specific
    # pattern that matches, INHERIT resolved upwards).
    what = f"Publishing {fmt} package {'/'.join(p for p in (ns, name) if p)} to {repo.name}"
    if pkg and pkg.publish == "BLOCK":
        raise publish_blocked(store, f"{what} is blocked by its origin configuration "
                                     "(publish=BLOCK)")
    mode, holder = publish_mode(domain, repo.name, fmt, ns or "", name)
    if mode != "ALLOW":
        raise publish_blocked(store, f"{what} is blocked by package group {holder} "
                                     f"(PUBLISH={mode})")
    is_new_version = pkg is None or version not in pkg.versions
    upstream_allowed = pkg is None or pkg.upstream != "BLOCK"
    if is_new_version and upstream_allowed and upstream is not None \
            and await upstream.exists_upstream(repo, fmt, ns or "", name, version):
        # A version reachable upstream cannot be published while upstream=ALLOW (§7.2).
        raise Conflict(
            f"Package version {name} {version} already exists in an upstream repository or "
            "external connection of " + repo.name,
            resourceId=version, resourceType="package-version",
        )
    return store.ensure_package(repo, fmt, ns, name)


def same_bytes_again(pkg: Package, version: str, asset_name: str, data: bytes) -> bool:
    """Whether `asset_name` of `version` is already stored with exactly these bytes."""
    import hashlib

    v = pkg.versions.get(version)
    asset = v.assets.get(asset_name) if v else None
    return asset is not None and asset.sha256 == hashlib.sha256(data).hexdigest()


def set_first_origin_defaults(pkg: Package, origin_type: str) -> None:
    if pkg.publish is None and pkg.upstream is None:
        if origin_type == "EXTERNAL":
            pkg.publish, pkg.upstream = "BLOCK", "ALLOW"
        else:
            pkg.publish, pkg.upstream = "ALLOW", "BLOCK"


def add_asset(store: Store, repo: Repository, pkg: Package, version: str, asset_name: str,
              data: bytes, *, new_status: str, display_name: str = "",
              origin_type: str = "INTERNAL", entry_repository: str | None = None,
              entry_connection: str | None = None, delay: float | None = None,
              hashes: dict[str, str] | None = None) -> tuple[Version, bool]:
    """Store one asset of a version; same bytes again is a no-op, other bytes are 409.
    `hashes`: the digests of `data` when the caller computed them already (off the loop).

    Returns (version, changed).
    """
    now = store.clock()
    with store.lock:
        v = pkg.versions.get(version)
        if v is not None:
            if v.status in ("Archived", "Disposed"):
                raise Conflict(f"Package version {version} is {v.status} and cannot be "
                               "published to", resourceId=version,
                               resourceType="package-version")
            existing = v.assets.get(asset_name)
            if existing is not None:
                import hashlib

                if existing.sha256 != (hashes or {}).get("SHA-256",
                                                         hashlib.sha256(data).hexdigest()):
                    raise Conflict(
                        f"Asset {asset_name} of {pkg.name} {version} already exists with "
                        "different content", resourceId=asset_name, resourceType="asset")
                return v, False
            if len(v.assets) >= store.behaviour.assets_per_version:
                raise QuotaExceeded("Assets per package version quota exceeded",
                                    resourceId=version, resourceType="asset")
        else:
            wait = store.behaviour.publish_delay if delay is None else delay
            v = Version(version, new_status, new_revision(), now, origin_type,
                        entry_repository or repo.name if not entry_connection else None,
                        entry_connection, visible_at=now + wait,
                        display_name=display_name or pkg.name)
            pkg.versions[version] = v
            set_first_origin_defaults(pkg, origin_type)
        v.assets[asset_name] = store.store_asset(asset_name, data, hashes)
        v.revision = new_revision()
        return v, True


def package_summary(pkg: Package) -> dict:
    out = {"format": pkg.format, "package": pkg.name,
           "originConfiguration": {"restrictions": pkg.restrictions()}}
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    return out
