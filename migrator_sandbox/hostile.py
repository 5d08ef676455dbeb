"""A hostile Nexus 3: the REST API of the real one, serving the catalogue of hostile data
(`migrator_sandbox.hostile_catalogue`) beside normal package files, plus a canary server on
another origin that records whatever is sent to it.

    python -m migrator_sandbox.hostile [--bomb-bytes N] [--password P]

binds both to 127.0.0.1 on ephemeral ports, prints one JSON line
`{"url", "canary_url", "username", "password"}` when they answer, and serves until SIGTERM.

What it speaks: `GET /service/rest/v1/status`, `/v1/repositories`, `/v1/repositorySettings`
(403: the user administers nothing), `/v1/assets` (OrientDB style: 10 items a page, opaque
continuation tokens, paths without a leading slash), `/repository/<repo>/<path>` (files and
npm packuments), Basic auth checked against the one user. Test-only endpoints:
`GET /_hostile/catalogue` (every entry: repository, path, kind, sha256, whether it is
hostile) and `GET /_hostile/requests` (what it was asked; credentials seen as booleans only).
The canary answers everything with 200 and lists what reached it at `GET /_canary/log`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from migrator_sandbox.hostile_catalogue import (
    BROKEN,
    HUGE_PACKUMENT,
    HUGE_PACKUMENT_BYTES,
    LOOPING,
    REPOSITORIES,
    Entry,
    catalogue,
    packuments,
)
from migrator_sandbox.serve import _bind, _Server

__all__ = ["build_apps", "main"]

PAGE = 10  # OrientDB Nexus


def _digests(body: bytes) -> dict[str, str]:
    return {a: hashlib.new(a, body).hexdigest() for a in ("sha1", "md5", "sha256", "sha512")}


def _item(e: Entry, index: int, canary: str) -> dict[str, Any]:
    checksum = _digests(e.body)
    checksum.update({k: v for k, v in e.listed.items() if k != "size"})
    fmt = REPOSITORIES[e.repo]
    return {
        "id": base64.b64encode(f"{e.repo}:{index}".encode()).decode(),
        "path": e.path,
        # Another origin: a tool that follows it sends its credentials somewhere else.
        "downloadUrl": f"{canary}/repository/{e.repo}/{index}",
        "repository": e.repo,
        "format": fmt,
        "checksum": checksum,
        "contentType": "application/octet-stream",
        "lastModified": "2026-11-25T18:52:52.000+00:00",
        "fileSize": e.listed.get("size", len(e.body)),
    }


async def _huge_packument():
    """A packument of `HUGE_PACKUMENT_BYTES` (a string of spaces), one MiB at a time."""
    chunk = b" " * (1 << 20)
    yield f'{{"name": "{HUGE_PACKUMENT}", "versions": {{}}, "x": "'.encode()
    for _ in range(HUGE_PACKUMENT_BYTES >> 20):
        yield chunk
    yield b'"}'


def build_apps(*, canary_url: str, username: str, password: str,
               bomb_bytes: int = 1 << 30) -> tuple[Starlette, Starlette]:
    """(hostile Nexus, canary) as ASGI apps; `canary_url` is where the canary is served."""
    entries = catalogue(canary_url, bomb_bytes=bomb_bytes)
    by_repo: dict[str, list[Entry]] = {name: [] for name in REPOSITORIES}
    for e in entries:
        by_repo[e.repo].append(e)
    files = {(e.repo, e.path): e.body for e in entries}
    docs = packuments(entries)
    seen: list[dict[str, Any]] = []
    canary_log: list[dict[str, Any]] = []

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{username}:{password}".encode()).decode()
        seen.append({"method": request.method, "path": request.url.path,
                     "query": request.url.query, "authorised": header == f"Basic {expected}"})
        return header == f"Basic {expected}"

    def denied() -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": 'BASIC realm="Sonatype '
                                                                      'Nexus Repository Manager"'})

    async def status(request: Request) -> Response:
        return Response(status_code=200)

    async def repositories(request: Request) -> Response:
        if not authorised(request):
            return denied()
        base = str(request.base_url).rstrip("/")
        return JSONResponse([{"name": name, "format": fmt, "type": "hosted",
                              "url": f"{base}/repository/{name}", "attributes": {}}
                             for name, fmt in REPOSITORIES.items()])

    async def settings(request: Request) -> Response:
        if not authorised(request):
            return denied()
        return JSONResponse({"message": "forbidden"}, status_code=403)

    async def assets(request: Request) -> Response:
        if not authorised(request):
            return denied()
        repo = request.query_params.get("repository", "")
        if repo not in by_repo:
            return JSONResponse({"message": "not found"}, status_code=404)
        if repo == BROKEN:
            return Response("Internal Server Error", status_code=500)
        token = request.query_params.get("continuationToken")
        start = int(token, 16) if token and token != "loop" else 0
        if repo == LOOPING:
            # Page 1 hands out "loop"; the page it fetches hands out "loop" again.
            index = 1 if token == "loop" else 0
            item = _item(by_repo[repo][index], index, canary_url)
            return JSONResponse({"items": [item], "continuationToken": "loop"})
        rows = by_repo[repo][start:start + PAGE]
        more = start + PAGE < len(by_repo[repo])
        return JSONResponse({
            "items": [_item(e, start + i, canary_url) for i, e in enumerate(rows)],
            "continuationToken": f"{start + PAGE:x}" if more else None})

    async def content(request: Request) -> Response:
        if not authorised(request):
            return denied()
        repo, path = request.path_params["repo"], request.path_params["path"]
        body = files.get((repo, path))
        if body is None and REPOSITORIES.get(repo) == "npm" and "/-/" not in path:
            doc = docs.get(path.replace("%2f", "/").replace("%2F", "/"))
            if doc is not None:
                return Response(doc, media_type="application/json")
            if path == HUGE_PACKUMENT:
                # Streamed without a length: the reader has to count what it takes.
                return StreamingResponse(_huge_packument(), media_type="application/json")
        if body is None:
            return Response(status_code=404)
        return Response(body, media_type="application/octet-stream")

    async def catalogue_route(request: Request) -> Response:
        return JSONResponse([{"repository": e.repo, "path": e.path, "kind": e.kind,
                              "hostile": e.hostile, "sha256": hashlib.sha256(e.body).hexdigest()}
                             for e in entries])

    async def requests_route(request: Request) -> Response:
        return JSONResponse(seen)

    nexus = Starlette(routes=[
        Route("/service/rest/v1/status", status),
        Route("/service/rest/v1/status/writable", status),
        Route("/service/rest/v1/repositories", repositories),
        Route("/service/rest/v1/repositorySettings", settings),
        Route("/service/rest/v1/assets", assets),
        Route("/repository/{repo}/{path:path}", content, methods=["GET", "HEAD"]),
        Route("/_hostile/catalogue", catalogue_route),
        Route("/_hostile/requests", requests_route),
    ])

    async def canary(request: Request) -> Response:
        if request.url.path == "/_canary/log":
            return JSONResponse(canary_log)
        canary_log.append({"method": request.method, "path": request.url.path,
                           "authorization": "authorization" in request.headers})
        return Response("canary", status_code=200)

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE"]
    canary_app = Starlette(routes=[Route("/{path:path}", canary, methods=methods)])
    return nexus, canary_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m migrator_sandbox.hostile",
                                     description="Serve the hostile Nexus and its canary.")
    parser.add_argument("--bomb-bytes", type=int, default=1 << 30,
                        help="inflated size of the gzip-bomb npm tarball")
    parser.add_argument("--username", default="hostile-user")
    parser.add_argument("--password", default="hostile-Source-Pass-0xC0FFEE")
    args = parser.parse_args(argv)
    sockets = {"nexus": _bind("127.0.0.1", 0), "canary": _bind("127.0.0.1", 0)}
    urls = {k: f"http://127.0.0.1:{s.getsockname()[1]}" for k, s in sockets.items()}
    nexus, canary_app = build_apps(canary_url=urls["canary"], username=args.username,
                                   password=args.password, bomb_bytes=args.bomb_bytes)
    servers = [_Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
               for app in (nexus, canary_app)]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: [setattr(s, "should_exit", True)
                                                  for s in servers])
        tasks = [asyncio.create_task(s.serve(sockets=[sock]))
                 for s, sock in zip(servers, sockets.values(), strict=True)]
        while not all(s.started for s in servers):
            await asyncio.sleep(0.01)
        print(json.dumps({"url": urls["nexus"], "canary_url": urls["canary"],
                          "username": args.username, "password": args.password}), flush=True)
        await asyncio.gather(*tasks)

    asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
