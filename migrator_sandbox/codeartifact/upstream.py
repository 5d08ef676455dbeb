"""Upstream repositories and external connections (reference §8).

Search order is depth-first in priority order, at most 25 repositories, first hit wins. A
version found upstream is retained in the most-downstream repository requested; a version
ingested through an external connection is kept in the repository that owns the connection
too, with origin EXTERNAL. External connections are backed by a configurable base URL per
connection name (a real registry on loopback, or the built-in static registry, public.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote, urljoin

import httpx

from .groups import allows
from .publish import set_first_origin_defaults
from .store import DOWNLOADABLE, Repository, Store, Version, new_revision, normalize_name

MAX_SEARCHED = 25
CONNECTION_FORMATS = {"public:npmjs": "npm", "public:pypi": "pypi"}


def connection_format(name: str) -> str:
    return CONNECTION_FORMATS.get(name, "maven" if name.startswith("public:maven") else "")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def pypi_version_of(filename: str) -> str | None:
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) >= 5 else None
    for ext in (".tar.gz", ".zip", ".tar.bz2"):
        if filename.endswith(ext):
            return filename[: -len(ext)].rpartition("-")[2] or None
    return None


class Upstreams:
    def __init__(self, store: Store, connections: dict[str, str]) -> None:
        self.store = store
        self.connections = connections  # "public:npmjs" → base URL ending in "/"

    # -- search order -------------------------------------------------------------------------
    def search_order(self, repo: Repository) -> list[Repository]:
        domain = self.store.domain(repo.domain)
        order: list[Repository] = []
        seen: set[str] = set()

        def visit(r: Repository) -> None:
            if r.name in seen or len(order) >= MAX_SEARCHED:
                return
            seen.add(r.name)
            order.append(r)
            for name in r.upstreams:
                if name in domain.repositories:
                    visit(domain.repositories[name])

        visit(repo)
        return order

    def _upstream_blocked(self, repo: Repository, fmt: str, ns: str, name: str) -> bool:
        pkg = repo.packages.get((fmt, ns, normalize_name(fmt, name)))
        return bool(pkg and pkg.upstream == "BLOCK")

    def _connections(self, repo: Repository, fmt: str, ns: str, name: str):
        domain = self.store.domain(repo.domain)
        for r in self.search_order(repo):
            conn = r.external_connection
            if not conn or connection_format(conn) != fmt or fmt == "generic":
                continue
            if conn not in self.connections:
                continue  # no backing registry configured: behaves as unreachable
            if self._upstream_blocked(r, fmt, ns, name) or not allows(
                    self.store, domain, "EXTERNAL_UPSTREAM", r.name, fmt, ns, name):
                continue
            yield r, conn, self.connections[conn]

    def _stored_upstream(self, repo: Repository, fmt: str, ns: str, name: str):
        domain = self.store.domain(repo.domain)
        for r in self.search_order(repo)[1:]:
            if not allows(self.store, domain, "INTERNAL_UPSTREAM", r.name, fmt, ns, name):
                continue
            pkg = r.packages.get((fmt, ns, normalize_name(fmt, name)))
            if pkg:
                yield r, pkg

    # -- what exists upstream -----------------------------------------------------------------
    async def exists_upstream(self, repo: Repository, fmt: str, ns: str, name: str,
                              version: str) -> bool:
        if fmt == "generic":
            return False  # generic packages never come from upstreams
        for _r, pkg in self._stored_upstream(repo, fmt, ns, name):
            v = pkg.versions.get(version)
            if v and v.status in DOWNLOADABLE:
                return True
        for _r, _conn, base in self._connections(repo, fmt, ns, name):
            if version in await self.external_versions(base, fmt, ns, name):
                return True
        return False

    async def listed_versions(self, repo: Repository, fmt: str, ns: str,
                              name: str) -> dict[str, dict]:
        """Versions a client listing (packument, simple page, maven-metadata) shows.

        version → {"version": Version | None, "external": external metadata or None};
        the requesting repo wins over upstreams, and for npm dist-tags the upstream wins
        (reference §3.2), which callers handle via `tags_with_upstreams`.
        """
        out: dict[str, dict] = {}
        own = repo.packages.get((fmt, ns, normalize_name(fmt, name)))
        if own:
            for v in own.versions.values():
                if v.status == "Published":
                    out[v.version] = {"version": v, "external": None}
        if own is not None and own.upstream == "BLOCK":
            return out
        for _r, pkg in self._stored_upstream(repo, fmt, ns, name):
            for v in pkg.versions.values():
                if v.status == "Published":
                    out.setdefault(v.version, {"version": v, "external": None})
        for _r, _conn, base in self._connections(repo, fmt, ns, name):
            for ver, meta in (await self.external_versions(base, fmt, ns, name)).items():
                if fmt == "maven" and ver.endswith("-SNAPSHOT"):
                    continue  # snapshots are never ingested (§2.5)
                out.setdefault(ver, {"version": None, "external": meta})
        return out

    def tags_with_upstreams(self, repo: Repository, ns: str, name: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for r in self.search_order(repo):
            pkg = r.packages.get(("npm", ns, name))
            if pkg:
                tags.update(pkg.dist_tags)  # later (upstream) repositories win on conflict
        return tags

    # -- resolution with retention ------------------------------------------------------------
    async def resolve(self, repo: Repository, fmt: str, ns: str, name: str, version: str,
                      asset: str | None = None) -> Version | None:
        """The version for a native read: own, else upstream (retained), else ingested."""
        key = (fmt, ns, normalize_name(fmt, name))
        own = repo.packages.get(key)
        v = own.versions.get(version) if own else None
        if v is not None and (asset is None or asset in v.assets):
            return v if v.status in DOWNLOADABLE else None
        if fmt == "generic" or self._upstream_blocked(repo, fmt, ns, name):
            return None
        for _r, pkg in self._stored_upstream(repo, fmt, ns, name):
            up = pkg.versions.get(version)
            if up and up.status in DOWNLOADABLE and (asset is None or asset in up.assets):
                return self._retain(repo, key, up)
        if fmt == "maven" and version.endswith("-SNAPSHOT"):
            return None
        for owner, conn, base in self._connections(repo, fmt, ns, name):
            ingested = await self._ingest(owner, conn, base, fmt, ns, name, version, asset)
            if ingested is not None:
                return ingested if owner is repo else self._retain(repo, key, ingested)
        return None

    def _retain(self, repo: Repository, key: tuple, up: Version) -> Version:
        with self.store.lock:
            pkg = self.store.ensure_package(repo, *key)
            current = pkg.versions.get(up.version)
            if current is None:
                now = self.store.clock()
                current = Version(
                    up.version, up.status, new_revision(), now, up.origin_type,
                    up.entry_repository, up.entry_connection, dict(up.assets),
                    visible_at=now + self.store.behaviour.ingest_delay,
                    display_name=up.display_name, metadata=dict(up.metadata))
                pkg.versions[up.version] = current
                set_first_origin_defaults(pkg, up.origin_type)
            else:
                for n, a in up.assets.items():
                    current.assets.setdefault(n, a)
        return current

    # -- talking to the public registry --------------------------------------------------------
    async def _get(self, url: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
                resp = await client.get(url)
        except httpx.HTTPError:
            return None  # registry down: only versions already stored are served
        return resp if resp.status_code == 200 else None

    async def external_versions(self, base: str, fmt: str, ns: str, name: str) -> dict[str, dict]:
        if fmt == "npm":
            full = f"@{ns}/{name}" if ns else name
            resp = await self._get(urljoin(base, quote(full, safe="@")))
            return (resp.json().get("versions") or {}) if resp else {}
        if fmt == "pypi":
            resp = await self._get(urljoin(base, f"simple/{normalize_name('pypi', name)}/"))
            if resp is None:
                return {}
            parser = _Links()
            parser.feed(resp.text)
            out: dict[str, dict] = {}
            for filename, href in parser.links:
                ver = pypi_version_of(filename)
                if ver:
                    files = out.setdefault(ver, {"files": {}})["files"]
                    files[filename] = urljoin(str(resp.url), href.split("#")[0])
            return out
        if fmt == "maven":
            path = f"{ns.replace('.', '/')}/{name}/maven-metadata.xml"
            resp = await self._get(urljoin(base, path))
            if resp is None:
                return {}
            return {v: {} for v in re.findall(r"<version>([^<]+)</version>", resp.text)}
        return {}

    async def _ingest(self, owner: Repository, conn: str, base: str, fmt: str, ns: str,
                      name: str, version: str, asset: str | None) -> Version | None:
        files: dict[str, bytes] = {}
        metadata: dict = {}
        if fmt == "npm":
            meta = (await self.external_versions(base, fmt, ns, name)).get(version)
            tarball = ((meta or {}).get("dist") or {}).get("tarball")
            resp = await self._get(tarball) if tarball else None
            if resp is None:
                return None
            files["package.tgz"] = resp.content
            metadata = {"npm": meta, "summary": meta.get("description", ""),
                        "licenses": [meta["license"]] if isinstance(meta.get("license"), str)
                        else [], "dependencies": {"regular": meta.get("dependencies") or {}}}
        elif fmt == "pypi":
            meta = (await self.external_versions(base, fmt, ns, name)).get(version)
            for filename, url in ((meta or {}).get("files") or {}).items():
                resp = await self._get(url)
                if resp is not None:
                    files[filename] = resp.content
        elif fmt == "maven":
            # Requesting one asset imports the usual set of the version (§8).
            folder = urljoin(base, f"{ns.replace('.', '/')}/{name}/{version}/")
            names = {f"{name}-{version}.pom", f"{name}-{version}.jar",
                     f"{name}-{version}-sources.jar", f"{name}-{version}-javadoc.jar"}
            if asset:
                names.add(asset)
            for n in sorted(names):
                resp = await self._get(folder + n)
                if resp is not None:
                    files[n] = resp.content
        if not files or (asset and asset not in files):
            return None
        return self._store_external(owner, conn, fmt, ns, name, version, files, metadata)

    def _store_external(self, owner: Repository, conn: str, fmt: str, ns: str, name: str,
                        version: str, files: dict[str, bytes], metadata: dict) -> Version:
        now = self.store.clock()
        with self.store.lock:
            pkg = self.store.ensure_package(owner, fmt, ns, name)
            v = pkg.versions.get(version)
            if v is None:
                v = pkg.versions[version] = Version(
                    version, "Published", new_revision(), now, "EXTERNAL", None, conn,
                    visible_at=now + self.store.behaviour.ingest_delay, display_name=name,
                    metadata=metadata)
                set_first_origin_defaults(pkg, "EXTERNAL")
            for n, data in files.items():
                if n not in v.assets:
                    v.assets[n] = self.store.store_asset(n, data)
            if fmt == "npm" and metadata.get("npm"):
                pkg.dist_tags.setdefault("latest", version)
        return v
