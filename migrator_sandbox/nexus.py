"""A Sonatype Nexus Repository 3 emulator serving a seed directory (see migrator_sandbox.seed).

It follows reference/sources-nexus-artifactory.md §1 (checklist §1.11), awkward parts included:

- storage `mode="orient"`: 10 items per page, opaque continuation tokens, a token while more
  items remain, asset `path` without a leading `/`, 406 on an unknown token;
  `mode="sql"`: 100 per page, the token is the hex external id of the last item
  (internal id * 1327217885 mod 2**32), a token only on a full page (so an exact multiple of
  100 ends with an empty page), `path` with a leading `/`, a garbage token gives
  `sql_bad_token_status` (500 by default; uncertain in the reference);
- `/service/rest/v1/repositories` filtered by read permission, `/v1/repositorySettings` for
  admins only (a read-only user gets `[]`), `/v1/components`, `/v1/assets` (group repositories
  repeat their members' content), `/v1/search` and `/v1/search/assets` (50 components per
  page, token hex("<from>:<md5 of the query>"), 406 when the token does not match the query,
  500 "Result window is too large" past 10,000 hits);
- content under `/repository/<repo>/<path>`: Maven files and maven-metadata.xml, npm
  packuments whose tarball URLs come from `base_url` (not the host that was called), PyPI
  simple pages with `#md5=` for hosted repositories, raw files; `Last-Modified` and a quoted
  SHA-1 `ETag`;
- `Server: Nexus/<version> (<edition>)` on every response, pretty-printed JSON with nulls,
  Basic auth: 401 without valid credentials, 403 for a repository the user may not read.

Test switches and the request log: see migrator_sandbox.seed_runtime.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from migrator_sandbox import derive, nexus_content
from migrator_sandbox.nexus_search import SEARCH_WINDOW, search_response
from migrator_sandbox.nexus_view import (
    Asset,
    Component,
    IdRegistry,
    NexusJSON,
    NexusViews,
    members_deep,
    nexus_error,
    settings_xo,
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
    "NEXUS_USERNAME": "migrator",
    "NEXUS_PASSWORD": "migrator-secret",
}
ADMIN_CREDENTIALS: dict[str, str] = {"NEXUS_USERNAME": "admin", "NEXUS_PASSWORD": "admin123"}

SQL_MULTIPLIER = 1327217885  # InternalIds.toExternalId (Knuth multiplicative hash)
SQL_INVERSE = 828308341


@dataclass(frozen=True, slots=True)
class User:
    """A Nexus user: `admin` administers every repository; `repos` None = may read every one."""

    password: str
    admin: bool = False
    repos: frozenset[str] | None = None

    def can_read(self, repo: str) -> bool:
        return self.admin or self.repos is None or repo in self.repos


DEFAULT_USERS: dict[str, User] = {
    "admin": User("admin123", admin=True),
    "migrator": User("migrator-secret"),
    # May read only raw-files: for the 403 and "filtered by permission" paths.
    "limited": User("limited-secret", repos=frozenset({"raw-files"})),
}


def _epoch(text: str) -> float:
    from datetime import UTC, datetime

    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("-")[0].split(".") if p.isdigit())


def to_external(internal_id: int) -> str:
    return f"{(internal_id * SQL_MULTIPLIER) & 0xFFFFFFFF:x}"


def to_internal(external: str) -> int:
    return (int(external, 16) * SQL_INVERSE) & 0xFFFFFFFF


def item_id(repo: str, external: str) -> str:
    return base64.urlsafe_b64encode(f"{repo}:{external}".encode()).decode().rstrip("=")


class Nexus:
    """State of one emulated Nexus: seed watcher, ids, tokens, knobs, users."""

    def __init__(
        self,
        seed_dir: str | os.PathLike[str],
        *,
        mode: str,
        base_url: str | None,
        version: str,
        edition: str,
        knobs: Knobs,
        users: dict[str, User],
        anonymous: bool,
        synthesize_sidecars: bool,
        sql_bad_token_status: int,
        search_window: int,
        browse_limit: int | None = None,
    ) -> None:
        if mode not in ("orient", "sql"):
            raise ValueError(f"mode must be 'orient' or 'sql', not {mode!r}")
        self.watcher = SeedWatcher(seed_dir)
        self.mode = mode
        self.base_url = base_url.rstrip("/") if base_url else None
        self.version = version
        self.vt = version_tuple(version)
        self.edition = edition
        self.knobs = knobs
        self.users = users
        self.anonymous = anonymous
        self.synthesize_sidecars = synthesize_sidecars
        self.sql_bad_token_status = sql_bad_token_status
        self.search_window = search_window
        self.browse_limit = browse_limit
        self.registry = IdRegistry()
        self.views = NexusViews(self.registry, knobs)
        self.page_size = 10 if mode == "orient" else 100
        self._orient_tokens: dict[str, int] = {}
        self._secret = os.urandom(8).hex()
        #: (repository, path) → when a GET of the file was last answered (`lastDownloaded`).
        self.downloads: dict[tuple[str, str], float] = {}

    # -- helpers ----------------------------------------------------------------------------------

    def seed(self) -> Seed:
        return self.watcher.current()

    def repos(self) -> list[Repository]:
        return self.seed().for_server("nexus")

    def repo(self, name: str) -> Repository | None:
        r = self.seed().repository(name)
        return r if r is not None and r.served_by("nexus") else None

    def base(self, request: Request) -> str:
        if self.base_url:
            return self.base_url
        return str(request.base_url).rstrip("/")

    def orient_token(self, internal_id: int) -> str:
        token = hashlib.md5(f"{self._secret}:{internal_id}".encode()).hexdigest()
        self._orient_tokens[token] = internal_id
        return token

    def external(self, internal_id: int) -> str:
        if self.mode == "sql":
            return to_external(internal_id)
        return hashlib.sha1(f"rid:{internal_id}".encode()).hexdigest()[:32]

    def authenticate(self, request: Request) -> tuple[str, User] | Response:
        creds = basic_credentials(request)
        if creds is None and self.anonymous and "authorization" not in request.headers:
            return "anonymous", User("", repos=None)
        if creds is not None:
            user = self.users.get(creds[0])
            if user is not None and user.password == creds[1]:
                return creds[0], user
        return Response(
            "", status_code=401,
            headers={"WWW-Authenticate": 'BASIC realm="Sonatype Nexus Repository Manager"'},
        )

    # -- DTOs -------------------------------------------------------------------------------------

    def hash_names(self, fmt: str) -> tuple[str, ...]:
        if fmt == "maven2":
            return ("sha1", "md5", "sha256", "sha512") if self.vt >= (3, 29) else ("sha1", "md5")
        if fmt == "raw":
            return ("md5", "sha1", "sha256", "sha512") if self.vt >= (3, 31) else ("md5", "sha1")
        if fmt == "npm":
            return ("sha1",) if self.mode == "orient" else ("sha1", "md5")
        if fmt == "pypi":
            return ("sha1", "sha256", "md5") if self.mode == "orient" else ("md5", "sha1")
        return ("sha1", "md5")

    def asset_xo(self, asset: Asset, fmt: str, base: str) -> dict[str, Any]:
        path = asset.path if self.mode == "orient" else "/" + asset.path
        reported = self.knobs.listed_checksums(asset.repo, asset.path, asset.digests)
        ts = derive.iso_millis(asset.mtime)
        xo: dict[str, Any] = {
            "downloadUrl": f"{base}/repository/{asset.repo}/{asset.path}",
            "path": path,
            "id": item_id(asset.repo, self.external(asset.internal_id)),
            "repository": asset.repo,
            "format": fmt,
            "checksum": {k: reported[k] for k in self.hash_names(fmt)},
        }
        if self.vt >= (3, 29):
            xo["contentType"] = asset.content_type
            xo["lastModified"] = ts
        if self.vt >= (3, 39):
            xo["lastDownloaded"] = self.last_downloaded(asset)
        if self.vt >= (3, 38):
            xo["uploader"] = "deployer"
            xo["uploaderIp"] = "127.0.0.1"
            xo["fileSize"] = self.knobs.listed_size(asset.repo, asset.path, asset.size)
        if self.vt >= (3, 59):
            xo["blobCreated"] = ts
        if self.vt >= (3, 71):
            xo["blobStoreName"] = None
        if self.vt >= (3, 29):
            # The format block; maven2 carries baseVersion too, which tells a timestamped
            # SNAPSHOT build (version 1.0-20240101.123456-1) from its 1.0-SNAPSHOT.
            attrs = {k: v for k, v in asset.attributes.items()
                     if not (k == "classifier" and v is None)}
            if attrs or self.mode == "sql":
                xo[fmt] = attrs
        return xo

    def last_downloaded(self, asset: Asset) -> str | None:
        """When the file was last served (`GET /repository/...` here, else the seed's
        `downloaded`), as Nexus writes it; None when never."""
        at = self.downloads.get((asset.repo, asset.path))
        if at is not None:
            return derive.iso_millis(at)
        repo = self.seed().repository(asset.repo)
        seeded = repo.downloaded.get(asset.path) if repo is not None else None
        return derive.iso_millis(_epoch(seeded)) if seeded else None

    def component_xo(self, comp: Component, base: str) -> dict[str, Any]:
        group = comp.group
        name = comp.name
        if comp.format == "raw" and self.mode == "sql":
            name = "/" + name
        return {
            "id": item_id(comp.repo, self.external(comp.internal_id)),
            "repository": comp.repo,
            "format": comp.format,
            "group": group,
            "name": name,
            "version": comp.version,
            "assets": [self.asset_xo(a, comp.format, base) for a in comp.assets],
        }

    def repository_xo(self, repo: Repository, base: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if repo.type == "proxy":
            attrs["proxy"] = {"remoteUrl": repo.remote_url}
        xo: dict[str, Any] = {
            "name": repo.name,
            "format": repo.format,
            "type": repo.type,
            "url": f"{base}/repository/{repo.name}",
            "attributes": attrs,
        }
        if self.vt >= (3, 65):
            xo["size"] = None
        return xo

    # -- paging -----------------------------------------------------------------------------------

    def page(self, items: list[Any], token: str | None) -> tuple[list[Any], str | None] | Response:
        """Keyset paging over items sorted by internal id, with the mode's token rules."""
        after = 0
        if token:
            if self.mode == "orient":
                if token not in self._orient_tokens:
                    return nexus_error(406, "Continuation token is not valid")
                after = self._orient_tokens[token]
            else:
                try:
                    after = to_internal(token)
                except ValueError:
                    return nexus_error(self.sql_bad_token_status,
                                       f"Invalid continuation token: {token}")
        rest = [i for i in items if i.internal_id > after]
        page = rest[: self.page_size]
        if self.mode == "sql":
            nxt = to_external(page[-1].internal_id) if len(page) == self.page_size else None
        else:
            nxt = self.orient_token(page[-1].internal_id) if len(rest) > len(page) else None
        return page, nxt


def _view_items(nx: Nexus, repo: Repository, base: str, kind: str) -> list[Any]:
    """Assets or components of a repository; a group answers with its members' content."""
    seed = nx.seed()
    items: list[Any] = []
    for member in members_deep(seed, repo):
        view = nx.views.view(seed, member, base)
        items += view.assets if kind == "assets" else view.components
    items.sort(key=lambda i: i.internal_id)
    return items


def build_app(
    seed_dir: str | os.PathLike[str],
    *,
    mode: str = "sql",
    base_url: str | None = None,
    latency: float = 0.0,
    error_rate: float = 0.0,
    seed: int = 0,
    corrupt_checksum: str | list[str] | None = None,
    hostile_paths: bool = False,
    version: str = "3.70.1-02",
    edition: str = "PRO",
    users: dict[str, User] | None = None,
    anonymous: bool = False,
    synthesize_sidecars: bool = True,
    sql_bad_token_status: int = 500,
    search_window: int = SEARCH_WINDOW,
    browse_limit: int | None = 10_000,
) -> Starlette:
    """The Nexus 3 emulator as an ASGI app serving `seed_dir`.

    mode                  "sql" (100 per page, hex tokens, leading "/") or "orient" (10 per
                          page, opaque tokens, no leading "/", 406 on a bad token)
    base_url              the configured Base URL used in downloadUrl, repository URLs and npm
                          tarball URLs; None = the host that was called
    latency, error_rate, seed, corrupt_checksum ("<repo>/<path>" or a list), hostile_paths
                          test switches (migrator_sandbox.seed_runtime.Knobs)
    version, edition      the `Server: Nexus/<version> (<edition>)` header and which AssetXO
                          fields exist (contentType 3.29, fileSize 3.38, blobCreated 3.59, ...)
    users                 username -> User; default DEFAULT_USERS (admin, migrator, limited)
    anonymous             let requests without credentials in as a read-all anonymous user
    synthesize_sidecars   answer GET <maven file>.sha1/.md5 (and .sha256/.sha512 from 3.29)
                          for files without a stored sidecar (uncertain in the reference)
    sql_bad_token_status  what SQL mode answers to a garbage token (uncertain: 500)
    search_window         Elasticsearch's max_result_window (10,000)
    browse_limit          entries shown on a /service/rest/repository/browse/ page before it is
                          cut with "there may be additional items" (None = never cut)

    In-process: `app.state.request_log`, `app.state.knobs`, `app.state.nexus`.
    """
    knobs = Knobs(latency=latency, error_rate=error_rate, seed=seed,
                  corrupt_checksum=as_set(corrupt_checksum), hostile_paths=hostile_paths)
    log = RequestLog()
    nx = Nexus(seed_dir, mode=mode, base_url=base_url, version=version, edition=edition,
               knobs=knobs, users=users or DEFAULT_USERS, anonymous=anonymous,
               synthesize_sidecars=synthesize_sidecars,
               sql_bad_token_status=sql_bad_token_status, search_window=search_window,
               browse_limit=browse_limit)

    async def status(request: Request) -> Response:
        return Response(status_code=200)

    async def repositories(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        _, user = auth
        base = nx.base(request)
        return NexusJSON([nx.repository_xo(r, base) for r in nx.repos() if user.can_read(r.name)])

    async def repository_one(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        repo = nx.repo(request.path_params["name"])
        if repo is None or not auth[1].can_read(repo.name):
            name = request.path_params["name"]
            return nexus_error(404, f"Unable to locate repository with id {name}")
        xo = nx.repository_xo(repo, nx.base(request))
        if "size" in xo and repo.type != "group":
            # Only the single-repository call fills `size` (3.65+): the blob bytes it holds.
            xo["size"] = sum(f.size for f in repo.files if not f.derived)
        return NexusJSON(xo)

    async def repository_settings(request: Request) -> Response:
        if "authorization" not in request.headers:
            return Response("", status_code=401)
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        _, user = auth
        base = nx.base(request)
        return NexusJSON([settings_xo(r, base) for r in nx.repos() if user.admin])

    async def listing(request: Request, kind: str) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        _, user = auth
        name = request.query_params.get("repository")
        if not name:
            return nexus_error(422, "repositoryId is required.")
        repo = nx.repo(name)
        if repo is None:
            return nexus_error(404, f"Unable to locate repository with id {name}")
        if not user.can_read(repo.name):
            return nexus_error(403, "")
        base = nx.base(request)
        items = _view_items(nx, repo, base, kind)
        paged = nx.page(items, request.query_params.get("continuationToken"))
        if isinstance(paged, Response):
            return paged
        page, token = paged
        if kind == "assets":
            formats = {r.name: r.format for r in nx.repos()}
            out = [nx.asset_xo(a, formats[a.repo], base) for a in page]
        else:
            out = [nx.component_xo(c, base) for c in page]
        return NexusJSON({"items": out, "continuationToken": token})

    async def assets(request: Request) -> Response:
        return await listing(request, "assets")

    async def components(request: Request) -> Response:
        return await listing(request, "components")

    async def single(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        kind = "assets" if request.url.path.startswith("/service/rest/v1/assets") else "components"
        raw = request.path_params["id"]
        try:
            decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return nexus_error(422, "Unable to parse id")
        parts = decoded.split(":")
        if len(parts) != 2:
            return nexus_error(422, f"Unable to parse id {raw}")
        repo = nx.repo(parts[0])
        if repo is None or not auth[1].can_read(repo.name):
            return nexus_error(404, f"Unable to locate repository with id {parts[0]}")
        base = nx.base(request)
        for item in _view_items(nx, repo, base, kind):
            if nx.external(item.internal_id) == parts[1]:
                if kind == "assets":
                    return NexusJSON(nx.asset_xo(item, repo.format, base))
                return NexusJSON(nx.component_xo(item, base))
        return nexus_error(404, f"Unable to locate {kind[:-1]} with id {raw}")

    async def search(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        return search_response(nx, request, auth[1],
                               assets_only=request.url.path.endswith("/assets"))

    async def content(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        name = request.path_params["repo"]
        repo = nx.repo(name)
        if repo is None:
            return nexus_error(404, "Repository not found")
        if not auth[1].can_read(repo.name):
            return nexus_error(403, "")
        path = request.path_params.get("path", "")
        if nx.knobs.encoded_slash == "reject" and b"%2f" in request.scope.get(
                "raw_path", b"").lower():
            return Response("Ambiguous URI path separator", status_code=400,
                            media_type="text/plain")
        response = nexus_content.serve(nx, request, repo, path)
        if request.method == "GET" and response.status_code in (200, 206):
            nx.downloads[(repo.name, path.lstrip("/"))] = time.time()
        return response

    async def repository_by_format(request: Request) -> Response:
        """`/v1/repositories/{format}/{type}/{name}` (about 3.2x+): the configuration, for users
        with repository-admin rights only."""
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        p = request.path_params
        repo = nx.repo(p["name"])
        fmt = {"maven": "maven2"}.get(p["format"], p["format"])
        if repo is None or repo.format != fmt or repo.type != p["type"]:
            return nexus_error(404, f"Unable to locate repository with id {p['name']}")
        if not auth[1].admin:
            return nexus_error(403, "")
        return NexusJSON(settings_xo(repo, nx.base(request)))

    async def add_slash(request: Request) -> Response:
        return RedirectResponse(str(request.url.replace(path=request.url.path + "/")),
                                status_code=303)

    async def browse_html(request: Request) -> Response:
        auth = nx.authenticate(request)
        if isinstance(auth, Response):
            return auth
        path = request.path_params.get("path", "")
        if path and not path.endswith("/"):
            return await add_slash(request)
        repo = nx.repo(request.path_params["repo"])
        if repo is None or not auth[1].can_read(repo.name):
            return nexus_error(404, "Repository not found")
        items = _view_items(nx, repo, nx.base(request), "assets")
        return nexus_content.browse_page(items, path, nx.browse_limit)

    routes = [
        *sandbox_routes(knobs, log),
        Route("/service/rest/v1/status", status),
        Route("/service/rest/v1/repositories", repositories),
        Route("/service/rest/v1/repositories/{name}", repository_one),
        Route("/service/rest/v1/repositories/{format}/{type}/{name}", repository_by_format),
        Route("/service/rest/v1/repositorySettings", repository_settings),
        Route("/service/rest/v1/assets", assets),
        Route("/service/rest/v1/assets/{id}", single),
        Route("/service/rest/v1/components", components),
        Route("/service/rest/v1/components/{id}", single),
        Route("/service/rest/v1/search", search),
        Route("/service/rest/v1/search/assets", search),
        Route("/repository/{repo}/{path:path}", content, methods=["GET", "HEAD"]),
        Route("/repository/{repo}", add_slash, methods=["GET", "HEAD"]),
        Route("/service/rest/repository/browse/{repo}", add_slash),
        Route("/service/rest/repository/browse/{repo}/{path:path}", browse_html),
    ]
    server = f"Nexus/{version} ({edition})".encode()
    app = Starlette(routes=routes)
    app.add_middleware(SandboxMiddleware, knobs=knobs, log=log, error_body=nexus_error,
                       extra_headers=[(b"server", server)], watcher=nx.watcher)
    app.state.request_log = log
    app.state.knobs = knobs
    app.state.nexus = nx
    return app
