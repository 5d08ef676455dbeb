"""Nexus 3 content under `/repository/<repo>/<path>` (reference §1.8, §1.9).

Maven files, maven-metadata.xml and checksum sidecars; npm packuments (tarball URLs from the
Base URL), version documents, dist-tags and tarballs; PyPI simple pages (`#md5=` for hosted
repositories) and files; raw files. Group repositories resolve through their members, and merge
npm packuments and PyPI pages. There is no directory listing, as in Nexus.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from migrator_sandbox import derive
from migrator_sandbox.nexus_view import (
    Asset,
    content_type,
    members_deep,
    newest_mtime,
    npm_names,
    npm_tarballs,
    packument,
    pypi_files,
    pypi_projects,
    simple_page,
)
from migrator_sandbox.seed import Repository, SeedFile

if TYPE_CHECKING:
    from migrator_sandbox.nexus import Nexus

_NPM_NAME = re.compile(r"^(@[^/@]+/)?[^/@]+$")
ABBREVIATED = "application/vnd.npm.install-v1+json"


def _not_found() -> Response:
    return Response("", status_code=404)


def _respond(request: Request, body: bytes, ctype: str, mtime: float, etag_sha1: str) -> Response:
    headers = {
        "Last-Modified": derive.http_date(mtime),
        "ETag": f'"{etag_sha1}"',
        "Content-Length": str(len(body)),
    }
    if request.method == "HEAD":
        return Response(b"", headers=headers, media_type=ctype)
    return Response(body, headers=headers, media_type=ctype)


def _file(nx: Nexus, request: Request, f: SeedFile) -> Response:
    reported = nx.knobs.reported(f.repo, f.path, f.digests)
    etag = reported["sha1"]
    owner = nx.seed().repository(f.repo)
    if owner is not None and owner.type == "proxy":
        # A proxy keeps the upstream's ETag (FluentAssetImpl), which is no checksum: a client
        # that takes ETag for SHA-1 breaks here, as it would on a real Nexus.
        etag = "up-" + hashlib.sha256(f"{f.path}:{f.digests['sha1']}".encode()).hexdigest()[:24]
    return _respond(request, f.read_bytes(), content_type(f.path), f.mtime, etag)


def _find(nx: Nexus, repo: Repository, path: str) -> SeedFile | None:
    for member in members_deep(nx.seed(), repo):
        f = member.file(path)
        if f is not None:
            return f
    return None


def serve(nx: Nexus, request: Request, repo: Repository, path: str) -> Response:
    if not path or (path.endswith("/") and repo.format != "pypi"):
        return _not_found()
    if repo.format == "npm":
        return _npm(nx, request, repo, path)
    if repo.format == "pypi" and path.startswith("simple"):
        return _pypi_simple(nx, request, repo, path)
    f = _find(nx, repo, path)
    if f is not None:
        if f.kind == "sidecar" and repo.format == "maven2":
            return _stored_sidecar(nx, request, repo, f)
        return _file(nx, request, f)
    if repo.format == "maven2" and nx.synthesize_sidecars:
        return _synthesized_sidecar(nx, request, repo, path)
    return _not_found()


def _stored_sidecar(nx: Nexus, request: Request, repo: Repository, f: SeedFile) -> Response:
    """A stored .sha1/.md5 of a file whose reported checksum is corrupted says the lie too."""
    base_path, _, algo = f.path.rpartition(".")
    target = _find(nx, repo, base_path)
    if target is not None and algo in derive.HASHES and nx.knobs.is_corrupt(target.repo,
                                                                            target.path):
        body = nx.knobs.reported(target.repo, target.path, target.digests)[algo].encode()
        return _respond(request, body, "text/plain", f.mtime, hashlib.sha1(body).hexdigest())
    return _file(nx, request, f)


def _synthesized_sidecar(nx: Nexus, request: Request, repo: Repository, path: str) -> Response:
    base_path, _, algo = path.rpartition(".")
    allowed = ("sha1", "md5", "sha256", "sha512") if nx.vt >= (3, 29) else ("sha1", "md5")
    if algo not in allowed:
        return _not_found()
    target = _find(nx, repo, base_path)
    if target is None:
        return _not_found()
    body = nx.knobs.reported(target.repo, target.path, target.digests)[algo].encode()
    return _respond(request, body, "text/plain", target.mtime, hashlib.sha1(body).hexdigest())


# ---- npm ----------------------------------------------------------------------------------------


def _json(request: Request, doc: object, mtime: float) -> Response:
    body = json.dumps(doc, indent=2).encode()
    return _respond(request, body, "application/json", mtime, hashlib.sha1(body).hexdigest())


def _npm(nx: Nexus, request: Request, repo: Repository, path: str) -> Response:
    seed = nx.seed()
    base = nx.base(request)
    if path == "-/v1/search":
        return _npm_search(nx, request, repo)
    if path.startswith("-/package/") and path.endswith("/dist-tags"):
        name = path[len("-/package/") : -len("/dist-tags")]
        if name not in npm_names(seed, repo):
            return _not_found()
        doc = packument(seed, repo, name, base, nx.knobs)
        return _json(request, doc["dist-tags"], newest_mtime(npm_tarballs(seed, repo, name)))
    if "/-/" in path:
        f = _find(nx, repo, path)
        return _file(nx, request, f) if f is not None and f.npm is not None else _not_found()
    if _NPM_NAME.match(path):
        if path not in npm_names(seed, repo):
            return _not_found()
        abbreviated = ABBREVIATED in request.headers.get("accept", "")
        doc = packument(seed, repo, path, base, nx.knobs, abbreviated=abbreviated)
        mtime = max(f.mtime for f in npm_tarballs(seed, repo, path))
        resp = _json(request, doc, mtime)
        if abbreviated:
            resp.headers["Content-Type"] = ABBREVIATED
        return resp
    name, _, version = path.rpartition("/")
    if _NPM_NAME.match(name) and name in npm_names(seed, repo):
        doc = packument(seed, repo, name, base, nx.knobs)
        version = doc["dist-tags"].get(version, version)
        if version in doc["versions"]:
            return _json(request, doc["versions"][version],
                         newest_mtime(npm_tarballs(seed, repo, name)))
    return _not_found()


def _npm_search(nx: Nexus, request: Request, repo: Repository) -> Response:
    """`/-/v1/search` as Nexus 3.30 answers it: `text` (wrapped in `*...*` unless it has a
    wildcard), `size` (default 20, at most 250), `from`. Ranked search, not a complete listing."""
    seed = nx.seed()
    text = request.query_params.get("text", "")
    pattern = text if "*" in text or "?" in text else f"*{text}*"
    try:
        size = min(int(request.query_params.get("size", "20")), 250)
        start = int(request.query_params.get("from", "0"))
    except ValueError:
        return Response("", status_code=400)
    objects = []
    for name in sorted(npm_names(seed, repo)):
        if not fnmatchcase(name.lower(), pattern.lower()):
            continue
        doc = packument(seed, repo, name, nx.base(request), nx.knobs)
        latest = doc["versions"].get(doc["dist-tags"]["latest"], {})
        objects.append({
            "package": {"name": name, "version": latest.get("version"),
                        "description": latest.get("description"),
                        "keywords": latest.get("keywords", []),
                        "date": doc["time"]["modified"], "links": {}},
            "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0,
                                               "maintenance": 1.0}},
            "searchScore": 1.0,
        })
    page = objects[start : start + size]
    return _json(request, {"objects": page, "total": len(objects),
                           "time": derive.http_date(0)}, 0.0)


# ---- PyPI ---------------------------------------------------------------------------------------


def _pypi_simple(nx: Nexus, request: Request, repo: Repository, path: str) -> Response:
    seed = nx.seed()
    projects = sorted(pypi_projects(seed, repo))
    if path in ("simple", "simple/"):
        body = derive.simple_root_html(projects)
        when = newest_mtime(pypi_files(seed, repo))
        return _respond(request, body, "text/html", when, hashlib.sha1(body).hexdigest())
    name = path[len("simple/") :].strip("/")
    norm = derive.pep503(name)
    if "/" in name or norm not in projects:
        return _not_found()
    body = simple_page(seed, repo, norm, nx.knobs)
    when = newest_mtime(pypi_files(seed, repo, norm))
    return _respond(request, body, "text/html", when, hashlib.sha1(body).hexdigest())


# ---- browse -------------------------------------------------------------------------------------


def browse_page(assets: list[Asset], path: str, limit: int | None) -> Response:
    """`/service/rest/repository/browse/<repo>/<path>/`: direct children of a folder, cut at
    `limit` entries with the product's "there may be additional items" note; never a complete
    listing (RepositoryBrowseResource, browseContentHtml.vm)."""
    children: dict[str, bool] = {}
    for a in assets:
        if a.path.startswith(path):
            head, sep, _ = a.path[len(path) :].partition("/")
            if head:
                children[head] = children.get(head, False) or bool(sep)
    if path and not children:
        return Response("Folder not found", status_code=404, media_type="text/plain")
    names = sorted(children)
    note = ""
    if limit is not None and len(names) > limit:
        names = names[:limit]
        note = ("<p>This folder has more items than can be shown; "
                "there may be additional items.</p>")
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(n)}{"/" if children[n] else ""}">'
        f"{html.escape(n)}</a></td></tr>" for n in names)
    body = (f"<!DOCTYPE html><html><head><title>Index of /{html.escape(path)}</title></head>"
            f"<body><h1>Index of /{html.escape(path)}</h1>{note}<table>\n"
            f'<tr><td><a href="../">Parent Directory</a></td></tr>\n{rows}\n'
            "</table></body></html>\n")
    return Response(body, media_type="text/html")
