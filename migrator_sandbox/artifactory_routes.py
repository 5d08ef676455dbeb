"""The HTTP routes of the Artifactory emulator (mounted under `/artifactory`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from migrator_sandbox import derive
from migrator_sandbox.artifactory import (
    AQL_MAX_CHARS,
    PACKAGE_TYPES,
    PRO_ONLY,
    RCLASS,
    error,
    find_file,
    folder_children,
    folder_listing_html,
    npm_packument_for,
    pypi_simple_page,
    repository_config,
    repository_entry,
)
from migrator_sandbox.artifactory_items import (
    AqlError,
    Item,
    parse_aql,
    resolve_key,
    run_aql,
    storage_key,
)
from migrator_sandbox.nexus_view import content_type, npm_names, pypi_projects
from migrator_sandbox.seed import Repository

if TYPE_CHECKING:
    from migrator_sandbox.artifactory import Artifactory, User

ABBREVIATED = "application/vnd.npm.install-v1+json"


def routes(art: Artifactory) -> list[Route]:
    def auth(request: Request) -> tuple[str, User] | Response:
        return art.authenticate(request)

    def lookup(request: Request, key: str) -> tuple[Repository, bool] | Response:
        found = resolve_key(art.seed(), key)
        if found is None:
            return error(404, f"Repository {key} not found")
        who = auth(request)
        if isinstance(who, Response):
            return who
        if not who[1].can_read(key):
            return error(403, f"You do not have read permission on {key}")
        return found

    async def version(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        addons = [] if art.edition == "oss" else ["aql", "build", "docker", "npm", "pypi",
                                                   "filestore", "rest", "properties"]
        return JSONResponse({"version": art.version, "revision": "77705900", "addons": addons,
                             "license": "OSS" if art.edition == "oss" else "Enterprise"})

    async def repositories(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        want_type = request.query_params.get("type")
        want_pkg = request.query_params.get("packageType")
        base = art.base(request)
        out = []
        for repo in art.repos():
            if not who[1].can_read(repo.name):
                continue
            if want_type and RCLASS[repo.type] != want_type.lower():
                continue
            if want_pkg and PACKAGE_TYPES[repo.format].lower() != want_pkg.lower():
                continue
            out.append(repository_entry(art, repo, base))
        return JSONResponse(out)

    async def configurations(request: Request) -> Response:
        """`api/repositories/configurations` (7.61.3+, admin): configs grouped by class."""
        who = auth(request)
        if isinstance(who, Response):
            return who
        if not who[1].admin:
            return error(403, "Only an admin user can perform this operation")
        grouped: dict[str, list[dict[str, Any]]] = {"LOCAL": [], "REMOTE": [], "VIRTUAL": []}
        for repo in art.repos():
            grouped[RCLASS[repo.type].upper()].append(repository_config(art, repo))
        return JSONResponse(grouped)

    async def ping(request: Request) -> Response:
        """`api/system/ping`: "OK" for health checks."""
        return Response("OK", media_type="text/plain")

    async def storageinfo(request: Request) -> Response:
        """`api/storageinfo`: per-repository counts for sizing a crawl (remote repositories
        are summarised under their `-cache` key, as Artifactory does). Server-wide: the counts
        do not depend on what the caller may read."""
        who = auth(request)
        if isinstance(who, Response):
            return who
        if art.storageinfo_admin_only and not who[1].admin:
            return error(403, "Only an admin user can perform this operation")
        summary = []
        for repo in art.repos():
            if repo.type == "group":
                continue
            items = art.items(repo)
            files = [i for i in items if i.type == "file"]
            used = sum(i.size for i in files)
            summary.append({
                "repoKey": storage_key(repo), "repoType": "CACHE" if repo.type == "proxy"
                else "LOCAL", "foldersCount": len(items) - len(files),
                "filesCount": len(files), "usedSpace": f"{used} bytes",
                "usedSpaceInBytes": used, "itemsCount": len(items),
                "packageType": PACKAGE_TYPES[repo.format], "projectKey": "",
                "percentage": "N/A"})
        return JSONResponse({"repositoriesSummaryList": summary})

    async def repository_one(request: Request) -> Response:
        found = lookup(request, request.path_params["key"])
        if isinstance(found, Response):
            return found
        repo, is_cache = found
        if is_cache:
            return error(400, "Repository key is a remote cache")
        return JSONResponse(repository_config(art, repo))

    async def storage(request: Request) -> Response:
        key = request.path_params["key"]
        path = request.path_params.get("path", "").strip("/")
        params = request.query_params
        if "list" in params:
            return file_list(request, key, path)
        found = lookup(request, key)
        if isinstance(found, Response):
            return found
        repo, _ = found
        base = art.base(request)
        uri = f"{base}/api/storage/{key}/{path}".rstrip("/")
        file_item = find_file(art, repo, path) if path else None
        if file_item is not None:
            ts = derive.iso_z(file_item.mtime)
            info: dict[str, Any] = {
                "repo": key, "path": "/" + path, "created": ts, "createdBy": "deployer",
                "lastModified": ts, "modifiedBy": "deployer", "lastUpdated": ts,
                "downloadUri": f"{base}/{key}/{path}",
                "mimeType": content_type(path), "size": str(file_item.size),
                "checksums": {k: file_item.actual[k] for k in ("sha1", "md5", "sha256")},
                "originalChecksums": {k: file_item.original[k]
                                      for k in ("sha1", "md5", "sha256")},
                "uri": uri,
            }
            if repo.type == "proxy":
                info["remoteUrl"] = f"{(repo.remote_url or '').rstrip('/')}/{path}"
            return JSONResponse(info)
        children = folder_children(art, repo, path)
        if children is None:
            return error(404, "Unable to find item")
        return JSONResponse({
            "repo": key, "path": "/" + path, "created": derive.iso_z(0), "createdBy": "system",
            "lastModified": derive.iso_z(0), "modifiedBy": "system",
            "lastUpdated": derive.iso_z(0),
            "children": [{"uri": "/" + c.name, "folder": c.type == "folder"} for c in children],
            "uri": uri,
        })

    def file_list(request: Request, key: str, path: str) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        if who[0] == "anonymous":
            return error(401, "Anonymous users are not allowed to list files")
        if art.edition == "oss":
            return Response(PRO_ONLY, status_code=400, media_type="text/plain")
        flags: dict[str, int] = {}
        for name in ("deep", "depth", "listFolders", "mdTimestamps", "includeRootPath"):
            raw = request.query_params.get(name)
            if raw is None or raw == "":
                continue
            try:
                flags[name] = int(raw)  # Integer.parseInt: "true" is an error
            except ValueError:
                return Response(f'For input string: "{raw}"', status_code=400,
                                media_type="text/plain")
        found = lookup(request, key)
        if isinstance(found, Response):
            return found
        repo, _ = found
        if path and find_file(art, repo, path) is not None:
            return error(400, f"Expected folder but found file: {key}/{path}")
        if folder_children(art, repo, path) is None:
            return error(404, "Unable to find item")
        deep = flags.get("deep", 0) == 1
        depth = flags.get("depth")
        prefix = path + "/" if path else ""
        files = []
        user = who[1]
        for item in _all_items(art, repo):
            full = item.full_path
            if prefix and not full.startswith(prefix):
                continue
            if item.type == "file" and not user.can_read_path(item.repo, full):
                continue  # left out without notice, as for a permission target's exclude
            rel = full[len(prefix) :]
            level = rel.count("/") + 1
            if (not deep and level > 1) or (depth is not None and level > depth):
                continue
            if item.type == "folder" and not flags.get("listFolders", 0):
                continue
            entry: dict[str, Any] = {
                "uri": "/" + rel, "size": item.size if item.type == "file" else -1,
                "lastModified": derive.iso_z(item.mtime), "folder": item.type == "folder",
            }
            if item.type == "file":
                entry["sha1"] = item.actual["sha1"]
                entry["sha2"] = item.actual["sha256"]
            if flags.get("mdTimestamps"):
                entry["mdTimestamps"] = {"properties": derive.iso_z(item.mtime)}
            files.append(entry)
        base = art.base(request)
        return JSONResponse({"uri": f"{base}/api/storage/{key}/{path}".rstrip("/"),
                             "created": derive.iso_z(0), "files": files})

    async def aql(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        if who[0] == "anonymous":
            return error(401, "Anonymous users are not allowed to run AQL")
        text = (await request.body()).decode("utf-8", "replace")
        if len(text) > AQL_MAX_CHARS:
            return error(400, f"AQL query exceeds the limit of {AQL_MAX_CHARS} characters")
        try:
            query = parse_aql(text)
        except AqlError as exc:
            return error(400, str(exc))
        if not await _acquire_aql(art):
            return error(429, "Too many concurrent AQL queries, try again later")
        try:
            if art.aql_hold is not None:
                await art.aql_hold.wait()
            items = _aql_items(art, query.criteria)
            user = who[1]
            stats: dict[str, int] = {}
            result = run_aql(query, items, include_replaces=art.aql_include_replaces,
                             hard_limit=art.aql_hard_limit,
                             visible=lambda i: user.can_read_path(i.repo, i.full_path),
                             stats=stats)
            if art.aql_row_cost:  # what the query costs the database (the slot stays held)
                await anyio.sleep(art.aql_row_cost * stats["rows_read"])
        except AqlError as exc:
            return error(400, str(exc))
        finally:
            with art._aql_lock:
                art.aql_active -= 1
        return Response(json.dumps(result, indent=2), media_type="application/json")

    async def content(request: Request) -> Response:
        key = request.path_params["key"]
        path = request.path_params.get("path", "")
        found = lookup(request, key)
        if isinstance(found, Response):
            return found
        repo, _ = found
        if path == "" or path.endswith("/"):
            children = folder_children(art, repo, path)
            if children is None:
                return error(404, "Unable to find item")
            body = folder_listing_html(key, path, children)
            return Response(body, media_type="text/html")
        item = find_file(art, repo, path)
        if item is not None:
            who = auth(request)
            if not isinstance(who, Response) and not who[1].can_read_path(item.repo, path):
                return error(403, f"You do not have read permission on {key}/{path}")
            if art.download_redirect and request.headers.get(
                "x-jfrog-download-redirect-to", ""
            ).lower() != "none":
                return _redirect_to_blobstore(art, request, key, path)
            if request.method == "GET":  # download statistics (AQL `stat.downloaded`)
                item.downloaded = derive.iso_z(time.time())
            return _file_response(request, item, path)
        stem, _, algo = path.rpartition(".")
        if algo in ("sha1", "md5", "sha256"):
            target = find_file(art, repo, stem)
            if target is not None:
                body = target.actual[algo].encode()
                return _bytes_response(request, body, "application/x-checksum", target.mtime)
        if folder_children(art, repo, path) is not None:
            return Response("", status_code=302, headers={"Location": f"{request.url.path}/"})
        return error(404, "Could not find resource")

    async def npm_api(request: Request) -> Response:
        key = request.path_params["key"]
        path = request.path_params.get("path", "")
        found = lookup(request, key)
        if isinstance(found, Response):
            return found
        repo, _ = found
        seed = art.seed()
        if "/-/" in path:
            item = find_file(art, repo, path)
            return _file_response(request, item, path) if item else error(404, "Not found")
        if path in npm_names(seed, repo):
            abbreviated = ABBREVIATED in request.headers.get("accept", "")
            doc = npm_packument_for(art, seed, repo, path, art.base(request), abbreviated)
            return Response(json.dumps(doc, indent=2), media_type="application/json")
        return error(404, f"Package {path} not found")

    async def pypi_api(request: Request) -> Response:
        key = request.path_params["key"]
        path = request.path_params.get("path", "")
        found = lookup(request, key)
        if isinstance(found, Response):
            return found
        repo, _ = found
        seed = art.seed()
        if path.startswith("simple"):
            projects = sorted(pypi_projects(seed, repo))
            name = path[len("simple") :].strip("/")
            if not name:
                return Response(derive.simple_root_html(projects), media_type="text/html")
            norm = derive.pep503(name)
            if norm not in projects:
                return error(404, f"Package {name} not found")
            return Response(pypi_simple_page(art, seed, repo, norm), media_type="text/html")
        item = find_file(art, repo, path)
        return _file_response(request, item, path) if item else error(404, "Not found")

    return [
        Route("/api/system/ping", ping),
        Route("/api/system/version", version),
        Route("/api/repositories", repositories),
        Route("/api/repositories/configurations", configurations),
        Route("/api/repositories/{key}", repository_one),
        Route("/api/storageinfo", storageinfo),
        Route("/api/storage/{key}", storage),
        Route("/api/storage/{key}/{path:path}", storage),
        Route("/api/search/aql", aql, methods=["POST"]),
        Route("/api/npm/{key}/{path:path}", npm_api, methods=["GET", "HEAD"]),
        Route("/api/pypi/{key}/{path:path}", pypi_api, methods=["GET", "HEAD"]),
        Route("/{key}/{path:path}", content, methods=["GET", "HEAD"]),
        Route("/{key}", content, methods=["GET", "HEAD"]),
    ]


def _signature(art: Artifactory, key: str, path: str) -> str:
    return hmac.new(art.signing_key, f"{key}/{path}".encode(), hashlib.sha256).hexdigest()


def _redirect_to_blobstore(art: Artifactory, request: Request, key: str, path: str) -> Response:
    if art.redirect_base:
        base = art.redirect_base
    else:
        host = "127.0.0.1" if request.url.hostname == "localhost" else "localhost"
        port = f":{request.url.port}" if request.url.port else ""
        base = f"{request.url.scheme}://{host}{port}"
    location = (f"{base}/_blobstore/{key}/{path}?X-Amz-Expires=30"
                f"&X-Amz-Signature={_signature(art, key, path)}")
    return Response("", status_code=302, headers={"Location": location})


def blobstore_route(art: Artifactory) -> Route:
    """The pre-signed "cloud storage" side of direct downloads. Like S3, it refuses a request
    that carries an Authorization header besides the signature, so a client that forwards the
    Artifactory credentials across hosts fails here."""

    async def blob(request: Request) -> Response:
        key = request.path_params["key"]
        path = request.path_params["path"]
        if "authorization" in request.headers:
            return Response(
                "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; "
                "only the X-Amz-Algorithm query parameter, Signature query string parameter or "
                "the Authorization header should be specified</Message></Error>",
                status_code=400, media_type="application/xml")
        sig = request.query_params.get("X-Amz-Signature", "")
        if not hmac.compare_digest(sig, _signature(art, key, path)):
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403,
                            media_type="application/xml")
        found = resolve_key(art.seed(), key)
        item = find_file(art, found[0], path) if found else None
        if item is None or item.body is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        body = item.body()
        return Response(b"" if request.method == "HEAD" else body, media_type=content_type(path),
                        headers={"ETag": f'"{item.actual["md5"]}"',
                                 "Content-Length": str(len(body))})

    return Route("/_blobstore/{key}/{path:path}", blob, methods=["GET", "HEAD"])


async def _acquire_aql(art: Artifactory) -> bool:
    """Take an AQL slot, waiting up to `aql_queue_timeout` seconds; False means 429."""
    with anyio.move_on_after(art.aql_queue_timeout):
        while True:
            with art._aql_lock:
                if art.aql_active < art.max_concurrent_aql:
                    art.aql_active += 1
                    return True
            if art.aql_queue_timeout <= 0:
                break
            await anyio.sleep(0.05)  # polling a queue slot, not test synchronisation
    return False


def _all_items(art: Artifactory, repo: Repository) -> list[Item]:
    from migrator_sandbox.nexus_view import members_deep

    out: list[Item] = []
    for member in members_deep(art.seed(), repo):
        out += art.items(member)
    return out


def _aql_items(art: Artifactory, criteria: dict[str, Any]) -> list[Item]:
    """Items of every real storage key (LOCAL keys and remote caches); VIRTUAL keys hold none."""
    out: list[Item] = []
    for repo in art.repos():
        if repo.type == "group":
            continue
        items = art.items(repo)
        out += items
        if repo.type == "proxy" and art.aql_remote_key_is_cache:
            # 7.17.4+ may let the REMOTE key itself find its cache (uncertain): alias rows.
            out += [Item(repo.name, i.path, i.name, i.type, i.size, i.mtime, i.actual,
                         i.original, i.properties, i.body) for i in items]
    return out


def _bytes_response(request: Request, body: bytes, ctype: str, mtime: float) -> Response:
    headers = {"Last-Modified": derive.http_date(mtime), "Content-Length": str(len(body))}
    return Response(b"" if request.method == "HEAD" else body, headers=headers, media_type=ctype)


def _file_response(request: Request, item: Item, path: str) -> Response:
    assert item.body is not None
    body = item.body()
    headers = {
        "X-Checksum-Sha1": item.actual["sha1"],
        "X-Checksum-Sha256": item.actual["sha256"],
        "X-Checksum-Md5": item.actual["md5"],
        "ETag": item.actual["sha1"],
        "Last-Modified": derive.http_date(item.mtime),
        "Content-Length": str(len(body)),
    }
    return Response(b"" if request.method == "HEAD" else body, headers=headers,
                    media_type=content_type(path))
