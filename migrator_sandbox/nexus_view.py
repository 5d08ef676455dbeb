"""Nexus 3's view of a seed: components and assets with stable ids, per repository.

A real Nexus keeps internal integer ids in per-format tables (`maven2_asset`, `npm_component`,
...), shared by every repository of that format, and hands them out in upload order. The
emulator does the same with an `IdRegistry` that survives seed re-reads: a file seen before keeps
its id (a replaced file is an updated asset, as a re-upload to the same path is), a new file gets
the next id. Generated content (npm packuments, PyPI index pages, derived maven-metadata.xml)
are component-less assets, as in Nexus.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

from migrator_sandbox import derive
from migrator_sandbox.seed import Repository, Seed, SeedFile
from migrator_sandbox.seed_runtime import HOSTILE_PATHS, Knobs


def nexus_error(status: int, message: str) -> Response:
    return Response(message, status_code=status, media_type="text/plain")


class NexusJSON(JSONResponse):
    """Jackson with INDENT_OUTPUT: pretty-printed, nulls written out."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, indent=2, ensure_ascii=False).encode("utf-8")


def settings_xo(repo: Repository, base: str) -> dict[str, Any]:
    """One `/v1/repositorySettings` element (storage, group members, proxy, maven policy)."""
    xo: dict[str, Any] = {
        "name": repo.name,
        "format": repo.format,
        "type": repo.type,
        "url": f"{base}/repository/{repo.name}",
        "online": True,
        "storage": {"blobStoreName": "default", "strictContentTypeValidation": True},
    }
    if repo.type == "hosted":
        xo["storage"]["writePolicy"] = "ALLOW_ONCE"
        xo["cleanup"] = None
        xo["component"] = {"proprietaryComponents": False}
    if repo.type == "group":
        xo["group"] = {"memberNames": list(repo.members)}
    if repo.type == "proxy":
        xo["proxy"] = {"remoteUrl": repo.remote_url, "contentMaxAge": 1440,
                       "metadataMaxAge": 1440}
        xo["negativeCache"] = {"enabled": True, "timeToLive": 1440}
        xo["httpClient"] = {"blocked": False, "autoBlock": True, "connection": None,
                            "authentication": None}
        xo["routingRuleName"] = None
        xo["cleanup"] = None
    if repo.format == "maven2":
        xo["maven"] = {"versionPolicy": repo.version_policy or "MIXED",
                       "layoutPolicy": "STRICT", "contentDisposition": "INLINE"}
    return xo


class IdRegistry:
    """Stable internal ids per (table, key); tables are per format, as Nexus' SQL schema."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, Any], int] = {}
        self._next: dict[str, int] = defaultdict(lambda: 1)
        self._lock = threading.Lock()

    def get(self, table: str, key: Any) -> int:
        with self._lock:
            full = (table, key)
            if full not in self._ids:
                self._ids[full] = self._next[table]
                self._next[table] += 1
            return self._ids[full]


@dataclass(slots=True)
class Asset:
    repo: str
    path: str  # no leading slash
    internal_id: int
    size: int
    mtime: float
    digests: dict[str, str]  # true digests of the bytes
    content_type: str
    component: Component | None
    attributes: dict[str, Any]  # the format block (maven2/npm/pypi keys)
    body: Callable[[], bytes]


@dataclass(slots=True)
class Component:
    repo: str
    format: str
    internal_id: int
    group: str | None
    name: str
    version: str | None
    assets: list[Asset] = field(default_factory=list)


@dataclass(slots=True)
class RepoView:
    repo: Repository
    assets: list[Asset]
    components: list[Component]
    by_path: dict[str, Asset]


def content_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.endswith((".sha1", ".md5", ".sha256", ".sha512", ".asc")):
        return "text/plain"
    if name.endswith(".jar"):
        return "application/java-archive"
    if name.endswith((".pom", ".xml")):
        return "application/xml"
    if name.endswith(".tgz"):
        return "application/x-tgz"
    if name.endswith(".whl"):
        return "application/zip"
    if name.endswith(".tar.gz"):
        return "application/x-gzip"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class NexusViews:
    """Builds and caches `RepoView`s for the current seed and base URL."""

    def __init__(self, registry: IdRegistry, knobs: Knobs) -> None:
        self.registry = registry
        self.knobs = knobs
        self._cache: dict[tuple[Any, ...], tuple[Seed, RepoView]] = {}
        self._lock = threading.Lock()

    def view(self, seed: Seed, repo: Repository, base_url: str) -> RepoView:
        # Knobs change what is listed (hostile entries) and generated (packument shasums). The
        # seed object itself is compared by identity, so a re-read seed never hits a stale view.
        key = (repo.name, base_url, self.knobs.hostile_paths,
               frozenset(self.knobs.corrupt_checksum))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] is seed:
            return cached[1]
        built = self._build(seed, repo, base_url)
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = (seed, built)
        return built

    # -- building ---------------------------------------------------------------------------------

    def _build(self, seed: Seed, repo: Repository, base_url: str) -> RepoView:
        fmt = repo.format
        assets: list[Asset] = []
        components: dict[Any, Component] = {}

        def component_for(key: Any, group: str | None, name: str, version: str | None) -> Component:
            if key not in components:
                cid = self.registry.get(f"{fmt}_component", (repo.name, key))
                components[key] = Component(repo.name, fmt, cid, group, name, version)
            return components[key]

        def add(f: SeedFile, comp: Component | None, attrs: dict[str, Any]) -> None:
            aid = self.registry.get(f"{fmt}_asset", (repo.name, f.path))
            asset = Asset(repo.name, f.path, aid, f.size, f.mtime, f.digests,
                          content_type(f.path), comp, attrs, f.read_bytes)
            assets.append(asset)
            if comp is not None:
                comp.assets.append(asset)

        for f in repo.files:
            if fmt == "maven2" and f.maven is not None:
                c = f.maven
                comp = component_for((c.group_id, c.artifact_id, c.version), c.group_id,
                                     c.artifact_id, c.version)
                attrs = {"groupId": c.group_id, "artifactId": c.artifact_id,
                         "version": c.version, "baseVersion": c.base_version,
                         "classifier": c.classifier, "extension": c.extension}
                add(f, comp, attrs)
            elif fmt == "npm" and f.npm is not None:
                scope, bare = derive.npm_split(f.npm["name"])
                comp = component_for((f.npm["name"], f.npm["version"]), scope, bare,
                                     f.npm["version"])
                add(f, comp, {"name": f.npm["name"], "version": f.npm["version"]})
            elif fmt == "pypi" and f.pypi is not None:
                d = f.pypi
                comp = component_for((d.normalized, d.version), None, d.normalized, d.version)
                add(f, comp, {"name": d.normalized, "version": d.version, "platform": None})
            elif fmt == "raw":
                parent = "/" + f.path.rsplit("/", 1)[0] if "/" in f.path else "/"
                comp = component_for(f.path, parent, f.path, None)
                add(f, comp, {})
            else:
                add(f, None, {})

        if fmt == "npm":
            assets += self._packument_assets(seed, repo, base_url)
        if fmt == "pypi":
            assets += self._simple_assets(seed, repo)
        if self.knobs.hostile_paths and repo.type == "hosted":
            for p in HOSTILE_PATHS:
                body = b"hostile listing entry\n"
                aid = self.registry.get(f"{fmt}_asset", (repo.name, "hostile:" + p))
                cid = self.registry.get(f"{fmt}_component", (repo.name, "hostile:" + p))
                comp = Component(repo.name, fmt, cid, "hostile", p, "1.0")
                a = Asset(repo.name, p, aid, len(body), 0.0, derive.digests(body),
                          "application/octet-stream", comp, {}, lambda body=body: body)
                comp.assets.append(a)
                components[("hostile", p)] = comp
                assets.append(a)
        assets.sort(key=lambda a: a.internal_id)
        comps = sorted(components.values(), key=lambda c: c.internal_id)
        return RepoView(repo, assets, comps, {a.path: a for a in assets})

    def _packument_assets(self, seed: Seed, repo: Repository, base_url: str) -> list[Asset]:
        out = []
        for name in sorted(npm_names(seed, repo)):
            doc = packument(seed, repo, name, base_url, self.knobs)
            body = json.dumps(doc, indent=2).encode()
            aid = self.registry.get("npm_asset", (repo.name, name))
            out.append(Asset(repo.name, name, aid, len(body),
                             max(f.mtime for f in npm_tarballs(seed, repo, name)),
                             derive.digests(body), "application/json", None, {},
                             lambda body=body: body))
        return out

    def _simple_assets(self, seed: Seed, repo: Repository) -> list[Asset]:
        out = []
        for norm in sorted(pypi_projects(seed, repo)):
            body = simple_page(seed, repo, norm, self.knobs)
            path = f"simple/{norm}/"
            aid = self.registry.get("pypi_asset", (repo.name, path))
            when = max((f.mtime for f in pypi_files(seed, repo, norm)), default=0.0)
            out.append(Asset(repo.name, path, aid, len(body), when, derive.digests(body),
                             "text/html", None, {}, lambda body=body: body))
        return out


# ---- format content shared by the listing and the content endpoints ----------------------------


def members_deep(seed: Seed, repo: Repository, _seen: frozenset[str] = frozenset()) -> list[
    Repository
]:
    """The repositories whose content `repo` serves: itself, or its members' (recursively)."""
    if repo.type != "group":
        return [repo]
    out: list[Repository] = []
    for name in repo.members:
        member = seed.repository(name)
        if member is None or name in _seen:
            continue
        for r in members_deep(seed, member, _seen | {repo.name}):
            if r not in out:
                out.append(r)
    return out


def npm_tarballs(seed: Seed, repo: Repository, name: str) -> list[SeedFile]:
    """Tarballs of `name`, first member wins per version (group semantics)."""
    seen: dict[str, SeedFile] = {}
    for member in members_deep(seed, repo):
        for f in member.files:
            if f.npm is not None and f.npm["name"] == name:
                seen.setdefault(f.npm["version"], f)
    return list(seen.values())


def npm_names(seed: Seed, repo: Repository) -> set[str]:
    return {f.npm["name"] for m in members_deep(seed, repo) for f in m.files if f.npm}


def npm_tarball_path(name: str, version: str) -> str:
    """Nexus' tarball asset path: `<name>/-/<unscoped-name>-<version>.tgz`."""
    return f"{name}/-/{derive.npm_split(name)[1]}-{version}.tgz"


def packument(
    seed: Seed, repo: Repository, name: str, base_url: str, knobs: Knobs, *,
    abbreviated: bool = False,
) -> dict[str, Any]:
    """The packument Nexus serves: tarball URLs rewritten to the Base URL and this repository."""
    versions = []
    dist_tags: dict[str, str] = {}
    deprecated: dict[str, str] = {}
    for member in reversed(members_deep(seed, repo)):
        dist_tags.update(member.dist_tags.get(name, {}))
        deprecated.update(member.deprecated.get(name, {}))
    for f in npm_tarballs(seed, repo, name):
        assert f.npm is not None
        digests = knobs.reported(f.repo, f.path, f.digests)
        url = f"{base_url}/repository/{repo.name}/{npm_tarball_path(name, f.npm['version'])}"
        versions.append(derive.NpmVersion(f.npm, url, digests["sha1"], digests["sha512"],
                                          f.mtime))
    return derive.npm_packument(name, versions, dist_tags=dist_tags, deprecated=deprecated,
                                abbreviated=abbreviated)


def pypi_files(seed: Seed, repo: Repository, norm: str | None = None) -> list[SeedFile]:
    out: dict[str, SeedFile] = {}
    for member in members_deep(seed, repo):
        for f in member.files:
            if f.pypi is not None and (norm is None or f.pypi.normalized == norm):
                out.setdefault(f.name, f)
    return sorted(out.values(), key=lambda f: f.name)


def newest_mtime(files: list[SeedFile]) -> float:
    """Last-Modified of generated content: its newest source file."""
    return max((f.mtime for f in files), default=0.0)


def pypi_projects(seed: Seed, repo: Repository) -> set[str]:
    return {f.pypi.normalized for f in pypi_files(seed, repo) if f.pypi}


def simple_page(seed: Seed, repo: Repository, norm: str, knobs: Knobs) -> bytes:
    """Project page as Nexus 3.30's pypi-index.vm: relative `../../packages/...` links, `#md5=`
    for files of hosted repositories, the upstream's `#sha256=` for proxied ones."""
    links = []
    for f in pypi_files(seed, repo, norm):
        assert f.pypi is not None
        owner = seed.repository(f.repo)
        digests = knobs.reported(f.repo, f.path, f.digests)
        frag = (f"md5={digests['md5']}" if owner is not None and owner.type == "hosted"
                else f"sha256={digests['sha256']}")
        href = f"../../{f.path}#{frag}"  # where the file really is in this repo
        links.append(derive.SimpleLink(href, f.name, f.pypi.requires_python))
    return derive.simple_project_html(norm, links)
