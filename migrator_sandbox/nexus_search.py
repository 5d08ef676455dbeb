"""Nexus 3 search: `/v1/search` and `/v1/search/assets` (reference §1.6).

Elasticsearch semantics in both storage modes (SQL-mode search is not public, so uncertain):
50 components per page, the token is hex("<from>:<md5 of the query>") and is refused with 406
when reused with other filters, and a page past the 10,000-hit window fails with 500 "Result
window is too large". Without `sort` the order is the index order.
"""

from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from migrator_sandbox.nexus_view import Asset, Component, NexusJSON, nexus_error

if TYPE_CHECKING:
    from migrator_sandbox.nexus import Nexus, User

SEARCH_PAGE = 50
SEARCH_WINDOW = 10_000

_SEARCH_FILTERS = ("q", "repository", "format", "group", "name", "version", "md5", "sha1",
                   "sha256", "sha512", "maven.groupId", "maven.artifactId", "maven.baseVersion",
                   "maven.extension", "maven.classifier", "npm.scope")


def _matches(pattern: str, value: str | None) -> bool:
    return value is not None and fnmatchcase(value.lower(), pattern.lower())


def search_response(nx: Nexus, request: Request, user: User, *, assets_only: bool) -> Response:
    params = request.query_params
    filters = {k: params[k] for k in _SEARCH_FILTERS if k in params}
    sort = params.get("sort")
    direction = params.get("direction") or ("desc" if sort == "version" else "asc")
    query_key = hashlib.md5(
        urlencode(sorted({**filters, "sort": sort or "", "direction": direction}.items())).encode()
    ).hexdigest()
    start = 0
    token = params.get("continuationToken")
    if token:
        try:
            start_s, digest = bytes.fromhex(token).decode().split(":")
            start = int(start_s)
        except ValueError:
            return nexus_error(406, "Continuation token is not valid")
        if digest != query_key:
            return nexus_error(406, "Continuation token does not match this query")
    if start + SEARCH_PAGE > nx.search_window:
        return NexusJSON(
            {"message": "Result window is too large, from + size must be less than or equal "
                        f"to: [{nx.search_window}] but was [{start + SEARCH_PAGE}]."},
            status_code=500,
        )
    base = nx.base(request)
    seed = nx.seed()
    hits: list[tuple[Component, list[Asset]]] = []
    for repo in nx.repos():
        if repo.type == "group" or not user.can_read(repo.name):
            continue
        if "repository" in filters and not _matches(filters["repository"], repo.name):
            continue
        if "format" in filters and not _matches(filters["format"], repo.format):
            continue
        for comp in nx.views.view(seed, repo, base).components:
            ok = all(_matches(filters[k], getattr(comp, k)) for k in ("group", "name", "version")
                     if k in filters)
            if "q" in filters:
                q = filters["q"].strip("*")
                ok = ok and any(q.lower() in (v or "").lower()
                                for v in (comp.group, comp.name, comp.version))
            if "npm.scope" in filters:
                ok = ok and comp.format == "npm" and _matches(filters["npm.scope"], comp.group)
            for key, attr in (("maven.groupId", "group"), ("maven.artifactId", "name")):
                if key in filters:
                    ok = ok and comp.format == "maven2" and _matches(filters[key],
                                                                     getattr(comp, attr))
            if not ok:
                continue
            assets = [a for a in comp.assets if _asset_matches(nx, a, filters)]
            if any(k in filters for k in ("md5", "sha1", "sha256", "sha512", "maven.extension",
                                          "maven.classifier", "maven.baseVersion")) and not assets:
                continue
            hits.append((comp, assets))
    key_of = {"group": lambda c: c.group or "", "name": lambda c: c.name,
              "version": lambda c: c.version or "", "repository": lambda c: c.repo}
    if sort in key_of:
        hits.sort(key=lambda h: key_of[sort](h[0]), reverse=direction == "desc")
    page = hits[start : start + SEARCH_PAGE]
    nxt = (f"{start + SEARCH_PAGE}:{query_key}".encode().hex()
           if len(page) == SEARCH_PAGE else None)
    if assets_only:
        items = [nx.asset_xo(a, c.format, base) for c, assets in page for a in assets]
    else:
        items = [nx.component_xo(c, base) for c, _ in page]
    return NexusJSON({"items": items, "continuationToken": nxt})


def _asset_matches(nx: Nexus, asset: Asset, filters: dict[str, str]) -> bool:
    reported = nx.knobs.reported(asset.repo, asset.path, asset.digests)
    for algo in ("md5", "sha1", "sha256", "sha512"):
        if algo in filters and reported[algo] != filters[algo].lower():
            return False
    for key, attr in (("maven.extension", "extension"), ("maven.classifier", "classifier"),
                      ("maven.baseVersion", "baseVersion")):
        if key in filters and not _matches(filters[key], asset.attributes.get(attr)):
            return False
    return True
