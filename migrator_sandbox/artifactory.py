"""A JFrog Artifactory emulator serving a seed directory (see migrator_sandbox.seed).

Follows reference/sources-nexus-artifactory.md §2 (checklist §2.9). Everything is under
`/artifactory` (the URL a manifest names is `http://host:port/artifactory`):

- `api/system/version`; `api/repositories[?type=&packageType=]` (LOCAL/REMOTE/VIRTUAL, enum
  `packageType` such as `Npm`, the upstream URL for REMOTE entries); `api/repositories/<key>`
  (config, lower-case `rclass`);
- `api/storage/<repo>/<path>?list&deep=1&listFolders=0` File List (Pro; flags parsed as
  integers; `edition="oss"` answers 400 text/plain), Folder Info and File Info (`size` a string);
- `POST api/search/aql` (text/plain body; see migrator_sandbox.artifactory_items), refused to
  anonymous users, 400 over 6,000 characters, 429 when more than `max_concurrent_aql` run at once;
- content `/<repo>/<path>` with `X-Checksum-Sha1/-Sha256/-Md5`, virtual `.sha1/.md5/.sha256`
  sidecars, HTML folder listings; remote caches under `<repo>-cache`; virtual repositories
  resolve through their members; the npm and PyPI client APIs under `api/npm/<repo>/` and
  `api/pypi/<repo>/simple/`;
- Basic (password or access token as password) and Bearer auth; errors as
  `{"errors":[{"status":..,"message":..}]}`.

Test switches and the request log: see migrator_sandbox.seed_runtime.
"""

from __future__ import annotations

import fnmatch
import html
import os
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from migrator_sandbox import derive
from migrator_sandbox.artifactory_items import (
    CACHE_SUFFIX,
    Item,
    repo_items,
    resolve_key,
    storage_key,
    stored_path,
)
from migrator_sandbox.nexus_view import (
    members_deep,
    npm_names,
    npm_tarballs,
    pypi_files,
    pypi_projects,
)
from migrator_sandbox.seed import Repository, Seed, SeedWatcher
from migrator_sandbox.seed_runtime import (
    Knobs,
    RequestLog,
    SandboxMiddleware,
    as_set,
    basic_credentials,
    sandbox_routes,
)

DEFAULT_CREDENTIALS: dict[str, str] = {
    "ARTIFACTORY_USERNAME": "migrator",
    "ARTIFACTORY_PASSWORD": "migrator-secret",
    "ARTIFACTORY_TOKEN": "sandbox-access-token-migrator",
}
PACKAGE_TYPES = {"maven2": "Maven", "npm": "Npm", "pypi": "Pypi", "raw": "Generic"}
RCLASS = {"hosted": "local", "proxy": "remote", "group": "virtual"}
PRO_ONLY = ("This REST API is available only in Artifactory Pro. For more details, "
            "please visit https://jfrog.com/artifactory/features")
AQL_MAX_CHARS = 6000


@dataclass(frozen=True, slots=True)
class User:
    password: str
    admin: bool = False
    repos: frozenset[str] | None = None  # None: may read every repository
    # "<key>/<pattern>" (fnmatch, `*` crosses folders) of files this user may not read, as a
    # permission target's exclude pattern does: AQL drops them *after* the limit.
    hidden: tuple[str, ...] = ()

    def can_read(self, key: str) -> bool:
        if self.admin or self.repos is None:
            return True
        return key in self.repos or key.removesuffix(CACHE_SUFFIX) in self.repos

    def can_read_path(self, key: str, path: str) -> bool:
        """Read permission on one file of `key` (a repository or a remote cache)."""
        if not self.can_read(key):
            return False
        if self.admin or not self.hidden:
            return True
        return not any(fnmatch.fnmatchcase(f"{key}/{path}", p) for p in self.hidden)


DEFAULT_USERS: dict[str, User] = {
    "admin": User("password", admin=True),
    "migrator": User("migrator-secret"),
    "limited": User("limited-secret", repos=frozenset({"raw-files"})),
    # Reads every repository but one version folder of maven-releases: its AQL pages come back
    # short, as a real server's do for a user without Read on the whole repository.
    "partial": User("partial-secret", hidden=("maven-releases/com/acme/greeter/1.0.0/*",)),
}
DEFAULT_TOKENS: dict[str, str] = {"sandbox-access-token-migrator": "migrator",
                                  "sandbox-access-token-admin": "admin"}


def error(status: int, message: str) -> Response:
    return JSONResponse({"errors": [{"status": status, "message": message}]}, status_code=status)


class Artifactory:
    def __init__(self, seed_dir: str | os.PathLike[str], *, edition: str, version: str,
                 knobs: Knobs, users: dict[str, User], tokens: dict[str, str], anonymous: bool,
                 max_concurrent_aql: int, aql_queue_timeout: float, aql_include_replaces: bool,
                 aql_hard_limit: int | None, aql_remote_key_is_cache: bool,
                 base_url: str | None, download_redirect: bool,
                 redirect_base: str | None, npm_scoped_layout: str,
                 npm_metadata_folder: bool, storageinfo_admin_only: bool = False,
                 aql_row_cost: float = 0.0) -> None:
        if edition not in ("pro", "oss"):
            raise ValueError(f"edition must be 'pro' or 'oss', not {edition!r}")
        self.watcher = SeedWatcher(seed_dir)
        self.edition = edition
        self.version = version
        self.knobs = knobs
        self.users = users
        self.tokens = tokens
        self.anonymous = anonymous
        self.max_concurrent_aql = max_concurrent_aql
        self.aql_queue_timeout = aql_queue_timeout
        self.aql_include_replaces = aql_include_replaces
        self.aql_hard_limit = aql_hard_limit
        self.aql_remote_key_is_cache = aql_remote_key_is_cache
        self.aql_row_cost = aql_row_cost
        self.base_url = base_url.rstrip("/") if base_url else None
        self.download_redirect = download_redirect
        if npm_scoped_layout not in ("seed", "artifactory"):
            raise ValueError("npm_scoped_layout must be 'seed' or 'artifactory'")
        self.npm_scoped_layout = npm_scoped_layout
        self.npm_metadata_folder = npm_metadata_folder
        self.storageinfo_admin_only = storageinfo_admin_only
        self.redirect_base = redirect_base.rstrip("/") if redirect_base else None
        self.signing_key = os.urandom(16)
        self.aql_active = 0
        self._aql_lock = threading.Lock()
        # Tests set this to an anyio.Event: AQL queries then hold their slot until it is set,
        # which makes "N running at once" observable without sleeping.
        self.aql_hold: anyio.Event | None = None
        self._items_cache: dict[tuple[Any, ...], tuple[Seed, list[Item], dict[str, Item]]] = {}

    def seed(self) -> Seed:
        return self.watcher.current()

    def base(self, request: Request) -> str:
        """`http://host:port/artifactory` (or the configured base URL)."""
        return self.base_url or str(request.base_url).rstrip("/") + "/artifactory"

    def repos(self) -> list[Repository]:
        return self.seed().for_server("artifactory")

    def items(self, repo: Repository) -> list[Item]:
        return self._indexed(repo)[0]

    def file_at(self, repo: Repository, path: str) -> Item | None:
        """The file item at `path` in a LOCAL repository or remote cache."""
        return self._indexed(repo)[1].get(path)

    def _indexed(self, repo: Repository) -> tuple[list[Item], dict[str, Item]]:
        seed = self.seed()
        # The seed is compared by identity: a re-read seed never hits a stale item list.
        key = (repo.name, self.knobs.hostile_paths, frozenset(self.knobs.corrupt_checksum))
        cached = self._items_cache.get(key)
        if cached is not None and cached[0] is seed:
            return cached[1], cached[2]
        if len(self._items_cache) > 256:
            self._items_cache.clear()
        items = repo_items(repo, self.knobs, npm_scoped_layout=self.npm_scoped_layout,
                           npm_metadata_folder=self.npm_metadata_folder)
        files = {i.full_path: i for i in items if i.type == "file"}
        self._items_cache[key] = (seed, items, files)
        return items, files

    def authenticate(self, request: Request) -> tuple[str, User] | Response:
        header = request.headers.get("authorization")
        if header is None:
            if self.anonymous:
                return "anonymous", User("")
            return error(401, "Authentication is required")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            name = self.tokens.get(value.strip())
            if name is not None and name in self.users:
                return name, self.users[name]
            return error(401, "Bad credentials")
        creds = basic_credentials(request)
        if creds is not None:
            user = self.users.get(creds[0])
            if user is not None and (user.password == creds[1]
                                     or self.tokens.get(creds[1]) == creds[0]):
                return creds[0], user
        return error(401, "Bad credentials")


def build_app(
    seed_dir: str | os.PathLike[str],
    *,
    edition: str = "pro",
    version: str = "7.77.5",
    max_concurrent_aql: int = 3,
    aql_queue_timeout: float = 0.0,
    aql_include_replaces: bool = False,
    aql_hard_limit: int | None = None,
    aql_remote_key_is_cache: bool = False,
    aql_row_cost: float = 0.0,
    base_url: str | None = None,
    download_redirect: bool = False,
    redirect_base: str | None = None,
    npm_scoped_layout: str = "seed",
    npm_metadata_folder: bool = False,
    storageinfo_admin_only: bool = False,
    latency: float = 0.0,
    error_rate: float = 0.0,
    seed: int = 0,
    corrupt_checksum: str | list[str] | None = None,
    hostile_paths: bool = False,
    users: dict[str, User] | None = None,
    tokens: dict[str, str] | None = None,
    anonymous: bool = False,
) -> Starlette:
    """The Artifactory emulator as an ASGI app serving `seed_dir` under `/artifactory`.

    edition                 "pro" (File List works) or "oss" (File List answers 400 text/plain)
    version                 what api/system/version reports
    max_concurrent_aql      AQL queries allowed at once; one more gets 429 after waiting
                            `aql_queue_timeout` seconds for a slot (real servers wait ~10 s)
    aql_include_replaces    `.include(...)` replaces the default fields instead of adding to
                            them (the reference says it adds; uncertain, so a switch)
    aql_hard_limit          trim results past N rows with a `notification` (SaaS 500k cap)
    aql_remote_key_is_cache an AQL query on a REMOTE key also finds its cache (7.17.4+,
                            uncertain); by default only `<key>-cache` does
    aql_row_cost            seconds each AQL query takes per row the database reads
                            (`run_aql`'s `rows_read`: `.offset(N)` sorts and skips N rows,
                            keyset criteria on path/name seek the index), on top of `latency`;
                            0 = free. Makes offset paging as slow as it is on a real database
    base_url                the external URL, e.g. "https://art.example/artifactory"; None =
                            the called host + "/artifactory"
    download_redirect       file downloads answer 302 to a pre-signed "blob store" URL on
                            another host (S3/CloudFront direct download), which refuses requests
                            that still carry the Authorization header (400); a request with
                            `X-JFrog-Download-Redirect-To: None` is served directly
    redirect_base           that other host, e.g. "http://localhost:8082"; None = the called
                            port on "localhost" (or on "127.0.0.1" when "localhost" was called)
    npm_scoped_layout       "seed": files where the seed has them; "artifactory": scoped
                            tarballs of LOCAL npm repositories at
                            `@scope/name/-/@scope/name-<v>.tgz`, as `npm publish` stores them
                            there (remote caches keep the short name)
    npm_metadata_folder     LOCAL npm repositories also hold Artifactory's generated
                            `.npm/<name>/package.json` items, which a crawler must skip
    storageinfo_admin_only  `api/storageinfo` answers 403 to non-admins, as JFrog documents
                            ("Requires a privileged user (Admin only)"); by default any
                            authenticated user may read it
    latency, error_rate, seed, corrupt_checksum, hostile_paths
                            test switches (migrator_sandbox.seed_runtime.Knobs)
    users, tokens, anonymous
                            username -> User; access token -> username; let requests without
                            credentials in (AQL and File List still refuse them). A User's
                            `hidden` patterns take files away from it the way a permission
                            target's exclude pattern does (AQL filters them after the limit;
                            File List and downloads leave them out); the default user
                            "partial" (password "partial-secret") cannot read one version
                            folder of maven-releases

    In-process: `app.state.request_log`, `app.state.knobs`, `app.state.artifactory`
    (`.aql_active`, `.aql_hold`).
    """
    knobs = Knobs(latency=latency, error_rate=error_rate, seed=seed,
                  corrupt_checksum=as_set(corrupt_checksum), hostile_paths=hostile_paths)
    log = RequestLog()
    art = Artifactory(seed_dir, edition=edition, version=version, knobs=knobs,
                      users=users or DEFAULT_USERS, tokens=tokens or DEFAULT_TOKENS,
                      anonymous=anonymous, max_concurrent_aql=max_concurrent_aql,
                      aql_queue_timeout=aql_queue_timeout,
                      aql_include_replaces=aql_include_replaces, aql_hard_limit=aql_hard_limit,
                      aql_remote_key_is_cache=aql_remote_key_is_cache, base_url=base_url,
                      download_redirect=download_redirect, redirect_base=redirect_base,
                      npm_scoped_layout=npm_scoped_layout,
                      npm_metadata_folder=npm_metadata_folder,
                      storageinfo_admin_only=storageinfo_admin_only,
                      aql_row_cost=aql_row_cost)
    from migrator_sandbox import artifactory_routes

    inner = artifactory_routes.routes(art)
    app = Starlette(routes=[*sandbox_routes(knobs, log), artifactory_routes.blobstore_route(art),
                            Mount("/artifactory", routes=inner)])
    app.add_middleware(SandboxMiddleware, knobs=knobs, log=log, error_body=error,
                       watcher=art.watcher)
    app.state.request_log = log
    app.state.knobs = knobs
    app.state.artifactory = art
    return app


# ---- helpers used by the routes -----------------------------------------------------------------


def repository_entry(art: Artifactory, repo: Repository, base: str) -> dict[str, Any]:
    kind = RCLASS[repo.type].upper()
    url = repo.remote_url if repo.type == "proxy" else f"{base}/{repo.name}"
    return {"key": repo.name, "type": kind, "description": repo.description, "url": url,
            "packageType": PACKAGE_TYPES[repo.format]}


def repository_config(art: Artifactory, repo: Repository) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "key": repo.name, "rclass": RCLASS[repo.type],
        "packageType": PACKAGE_TYPES[repo.format].lower(), "description": repo.description,
        "repoLayoutRef": {"maven2": "maven-2-default", "npm": "npm-default",
                          "pypi": "simple-default", "raw": "simple-default"}[repo.format],
        "includesPattern": "**/*", "excludesPattern": "",
    }
    if repo.type == "proxy":
        conf.update(url=repo.remote_url, storeArtifactsLocally=True)
    if repo.type == "group":
        conf.update(repositories=list(repo.members),
                    defaultDeploymentRepo=repo.members[0] if repo.members else None)
    return conf


def find_file(art: Artifactory, repo: Repository, path: str) -> Item | None:
    """A stored file of a LOCAL repository / remote cache, or through a VIRTUAL's members."""
    path = path.strip("/")
    for member in members_deep(art.seed(), repo):
        item = art.file_at(member, path)
        if item is not None:
            return item
    return None


def folder_children(art: Artifactory, repo: Repository, path: str) -> list[Item] | None:
    """Direct children of a folder ("" = root); None when the folder does not exist."""
    seed = art.seed()
    path = path.strip("/")
    folder = path or "."
    out: dict[str, Item] = {}
    exists = not path
    for member in members_deep(seed, repo):
        for item in art.items(member):
            if item.path == folder:
                out.setdefault(item.name, item)
            if item.type == "folder" and item.full_path == path:
                exists = True
    return sorted(out.values(), key=lambda i: i.name) if exists else None


def folder_listing_html(repo_key: str, path: str, children: list[Item]) -> bytes:
    title = f"Index of {repo_key}/{path}"
    rows = ['<a href="../">../</a>']
    for c in children:
        name = c.name + ("/" if c.type == "folder" else "")
        size = "-" if c.type == "folder" else str(c.size)
        rows.append(f'<a href="{html.escape(name)}">{html.escape(name)}</a>'
                    f"    {derive.http_date(c.mtime)}  {size}")
    body = "\n".join(rows)
    return (f"<!DOCTYPE html>\n<html>\n<head><title>{html.escape(title)}</title></head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n<pre>{body}\n</pre>\n<hr/>\n"
            "<address style=\"font-size:small;\">Artifactory</address></body></html>\n").encode()


def npm_packument_for(art: Artifactory, seed: Seed, repo: Repository, name: str, base: str,
                      abbreviated: bool) -> dict[str, Any]:
    versions = []
    dist_tags: dict[str, str] = {}
    deprecated: dict[str, str] = {}
    for member in reversed(members_deep(seed, repo)):
        dist_tags.update(member.dist_tags.get(name, {}))
        deprecated.update(member.deprecated.get(name, {}))
    for f in npm_tarballs(seed, repo, name):
        assert f.npm is not None
        digests = art.knobs.reported(f.repo, f.path, f.digests)
        owner = seed.repository(f.repo)
        where = stored_path(owner, f, art.npm_scoped_layout) if owner else f.path
        url = f"{base}/api/npm/{repo.name}/{where}"
        versions.append(derive.NpmVersion(f.npm, url, digests["sha1"], digests["sha512"],
                                          f.mtime))
    return derive.npm_packument(name, versions, dist_tags=dist_tags, deprecated=deprecated,
                                abbreviated=abbreviated)


def pypi_simple_page(art: Artifactory, seed: Seed, repo: Repository, norm: str) -> bytes:
    """Artifactory's PEP 503 page: sha256 fragments, links relative to the page."""
    links = []
    for f in pypi_files(seed, repo, norm):
        assert f.pypi is not None
        digests = art.knobs.reported(f.repo, f.path, f.digests)
        href = f"../../{f.path}#sha256={digests['sha256']}"
        links.append(derive.SimpleLink(href, f.name, f.pypi.requires_python))
    return derive.simple_project_html(norm, links)


__all__ = ["DEFAULT_CREDENTIALS", "Artifactory", "User", "build_app", "npm_names",
           "pypi_projects", "resolve_key", "storage_key"]
