"""The CodeArtifact emulator as one Starlette app: control plane, native endpoints, knobs.

Routes:
  /v1/...                                     control plane (botocore model, control.py)
  /<format>/d/<domain>-<owner>/<repo>/...     native Maven/npm/PyPI endpoints (path-style)
  /_sandbox/health                            readiness
  /_sandbox/requests   GET (?since=N&entries=0) / DELETE   the request log
  /_sandbox/faults     GET / POST {field: value}            fault knobs at run time (faults.py:
                                                            5xx, 429, resets, truncation, lost
                                                            answers of stored writes)
  /_sandbox/quotas     GET / POST {enabled, scale, overrides}
  /_sandbox/behaviour  GET / POST {field: value}            [UNCERTAIN] switches (store.Behaviour)
  /_sandbox/clock      GET / POST {"advance": seconds}      move the emulator's clock forward
                                                            (expire tokens, pass delays)
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import maven, npm, pypi
from . import ops_domains as _ops_domains  # noqa: F401  (registers handlers)
from . import ops_packages as _ops_packages  # noqa: F401
from .auth import mint_token, require_token, token_from_header
from .control import Ctx, handle, operation_name
from .errors import ApiError, NativeError, Throttling
from .faults import FaultConfig, Faults, RequestLog
from .groups import ensure_root_group
from .quotas import QuotaConfig, Quotas, is_read_operation
from .store import Behaviour, Domain, Repository, Store
from .upstream import Upstreams

NATIVE = {"maven": maven.handle, "npm": npm.handle, "pypi": pypi.handle}


class Emulator:
    """One emulated AWS account/region: state, quotas, faults, request log and the ASGI app."""

    def __init__(
        self,
        *,
        account: str = "111122223333",
        region: str = "us-east-1",
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        behaviour: Behaviour | None = None,
        quotas: QuotaConfig | None = None,
        faults: FaultConfig | None = None,
        external_connections: dict[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        mounts: dict[str, object] | None = None,
    ) -> None:
        self.clock_offset = 0.0  # moved by POST /_sandbox/clock (token expiry, delays)
        self._base_clock = clock
        self.store = Store(account=account, region=region, data_dir=data_dir, clock=self.now,
                           behaviour=behaviour)
        self.quotas = Quotas(quotas, clock=monotonic)
        self.faults = Faults(faults)
        self.log = RequestLog()
        self.upstream = Upstreams(self.store, external_connections or {})
        self.mounts = mounts or {}  # path prefix → ASGI app served beside the emulator
        self.app = self._build()

    # -- helpers for tests and `serve` ---------------------------------------------------------
    def ensure_domain(self, name: str) -> Domain:
        with self.store.lock:
            d = self.store.domains.get(name)
            if d is None:
                d = self.store.domains[name] = Domain(name, self.store.account, self.store.clock())
            ensure_root_group(self.store, d)
        return d

    def ensure_repository(self, domain: str, name: str, upstreams: list[str] | None = None,
                          external_connection: str | None = None) -> Repository:
        d = self.ensure_domain(domain)
        with self.store.lock:
            r = d.repositories.get(name)
            if r is None:
                r = d.repositories[name] = Repository(name, domain, created=self.store.clock())
            if upstreams is not None:
                r.upstreams = list(upstreams)
            if external_connection:
                r.external_connection = external_connection
        self.store.save()
        return r

    def now(self) -> float:
        return self._base_clock() + self.clock_offset

    def close(self) -> None:
        """Flush batched state writes (see Store.save); `serve` calls it on stop."""
        self.store.save(force=True)

    def token(self, duration: int | None = None) -> str:
        return mint_token(self.store, duration)[0]

    def endpoint(self, base_url: str, fmt: str, domain: str, repo: str) -> str:
        return f"{base_url.rstrip('/')}/{fmt}/d/{domain}-{self.store.account}/{repo}/"

    # -- routes --------------------------------------------------------------------------------
    async def _control(self, request: Request) -> Response:
        return await handle(request, Ctx(self.store, str(request.base_url), self.upstream))

    async def _native(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        as_json = fmt == "npm"
        try:
            domain, _, owner = request.path_params["domain_owner"].rpartition("-")
            repo_name = request.path_params["repo"]
            if fmt not in NATIVE:
                raise NativeError(404, f"Unsupported format {fmt}")
            try:
                repo = self.store.repository(domain, repo_name, owner)
            except ApiError as exc:
                raise NativeError(404, exc.message) from None
            require_token(self.store, request.headers.get("authorization"),
                          f"{domain}/{repo_name}")
            response = await NATIVE[fmt](self, request, repo, request.path_params["rest"])
            self.store.save()
            return response
        except NativeError as exc:
            return exc.to_response(as_json)
        except ApiError as exc:
            return NativeError(exc.status, exc.message).to_response(as_json)

    async def _requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.log.clear()
            return JSONResponse({"ok": True})
        since = int(request.query_params.get("since", 0))
        entries = request.query_params.get("entries", "1") != "0"
        return JSONResponse(self.log.summary(since, entries))

    async def _faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.faults.reconfigure(await request.json())
            except (KeyError, ValueError, TypeError) as exc:
                return JSONResponse({"error": f"bad fault setting: {exc}"}, 400)
        return JSONResponse(self.faults.snapshot())

    async def _quotas(self, request: Request) -> Response:
        cfg = self.quotas.config
        if request.method == "POST":
            body = await request.json()
            cfg.enabled = bool(body.get("enabled", cfg.enabled))
            cfg.scale = float(body.get("scale", cfg.scale))
            cfg.overrides.update(body.get("overrides", {}))
        return JSONResponse(asdict(cfg))

    async def _clock(self, request: Request) -> Response:
        if request.method == "POST":
            advance = float((await request.json()).get("advance", 0))
            if advance < 0:
                return JSONResponse({"error": "the clock only moves forward"}, 400)
            self.clock_offset += advance
        return JSONResponse({"now": self.now(), "offset": self.clock_offset})

    async def _behaviour(self, request: Request) -> Response:
        b = self.store.behaviour
        if request.method == "POST":
            for key, value in (await request.json()).items():
                if key not in b.__dataclass_fields__:
                    return JSONResponse({"error": f"unknown switch {key}"}, 400)
                setattr(b, key, type(getattr(b, key))(value))
        return JSONResponse(asdict(b))

    def _build(self) -> Starlette:
        async def health(_request: Request) -> Response:
            return JSONResponse({"ok": True})

        routes = [
            Route("/_sandbox/health", health),
            Route("/_sandbox/requests", self._requests, methods=["GET", "DELETE"]),
            Route("/_sandbox/faults", self._faults, methods=["GET", "POST"]),
            Route("/_sandbox/quotas", self._quotas, methods=["GET", "POST"]),
            Route("/_sandbox/behaviour", self._behaviour, methods=["GET", "POST"]),
            Route("/_sandbox/clock", self._clock, methods=["GET", "POST"]),
            Route("/{fmt}/d/{domain_owner}/{repo}/{rest:path}", self._native,
                  methods=["GET", "HEAD", "PUT", "POST", "DELETE"]),
            Route("/v1/{rest:path}", self._control,
                  methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]
        return Starlette(routes=routes)

    # -- the outer ASGI layer: faults, quotas, request log --------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        for prefix, mounted in self.mounts.items():
            # e.g. the built-in "public registry" behind external connections: no faults,
            # quotas or logging, it stands for the internet, not for CodeArtifact.
            if scope["path"].startswith(prefix + "/"):
                # Starlette strips root_path from path itself when routing.
                sub = dict(scope, root_path=scope.get("root_path", "") + prefix)
                await mounted(sub, receive, send)
                return
        path, method = scope["path"], scope["method"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        control = path.startswith("/v1/")
        op = operation_name(method, path) if control else None
        is_write = (not is_read_operation(op)) if op else method in ("PUT", "POST", "DELETE")
        state = scope.setdefault("state", {})
        entry = {"time": time.time(), "method": method, "path": path, "write": is_write,
                 "operation": op or f"{path.split('/')[1]}:{method}", "status": 0}
        logged = False

        def record() -> None:
            # Logged before the last body byte leaves, so a client that has its answer
            # always finds the request in the log (tests count "published exactly once").
            nonlocal logged
            if not logged:
                logged = True
                entry.update({k: state[k] for k in ("operation", "asset", "repository")
                              if k in state})
                self.log.add(entry)

        async def answer(response: Response, status: int) -> None:
            entry["status"] = status
            record()
            await _send(send, response)

        try:
            fault = self.faults.draw(path)
            if fault["delay"]:
                await anyio.sleep(fault["delay"])
            if fault["reset"]:
                entry.update(status=-1, fault="reset")
                record()
                _reset_connection(send)
                return
            if fault["error"]:
                entry["fault"] = "error"
                status = 503 if method == "GET" else 500
                await answer(_error_response(control, status), status)
                return
            token = None if control else token_from_header(headers.get("authorization"))
            client = (scope.get("client") or ("?", 0))[0]
            keys = self.quotas.keys_for(op, is_write, token, client, native=not control)
            ok, retry_after, quota = self.quotas.admit(keys)
            if fault["throttle"] and ok:
                ok, retry_after, quota = False, 1.0, "injected"
                entry["fault"] = "throttle"
            if not ok:
                exc = Throttling(f"Rate exceeded ({quota} quota)", retry_after)
                if not control:
                    exc = NativeError(429, "Too Many Requests",
                                      {"Retry-After": str(exc.retry_after)})
                await answer(exc.to_response(), 429)
                return

            # Only writes that store something can lose their answer: native writes and the
            # one control-plane publish.
            may_lose = is_write and (not control or op == "PublishPackageVersion")

            async def send_wrapper(message) -> None:
                if message["type"] == "http.response.start":
                    entry["status"] = message["status"]
                    if may_lose and 200 <= message["status"] < 300 and (
                            fault["lose_answer"] or self.faults.take("lost_answers")):
                        # The write is stored; the client gets a reset, not the answer.
                        entry["fault"] = "lost-answer"
                        record()
                        raise _AnswerLost
                elif message["type"] == "http.response.body":
                    if fault["truncate"] and method == "GET" and entry["status"] == 200:
                        body = message.get("body", b"")
                        entry["fault"] = "truncate"
                        record()
                        # Half the body, then stop: the client sees a short read.
                        await send({"type": "http.response.body",
                                    "body": body[: len(body) // 2], "more_body": True})
                        raise _Truncated
                    if not message.get("more_body"):
                        record()
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            except (_Truncated, _AnswerLost):
                _reset_connection(send)
        finally:
            record()


class _Truncated(Exception):
    pass


class _AnswerLost(Exception):
    pass


def _error_response(control: bool, status: int) -> Response:
    if control:
        return ApiError("Injected fault: internal error").to_response()
    return Response("Service Unavailable\n" if status == 503 else "Internal Server Error\n",
                    status)


async def _send(send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _reset_connection(send) -> None:
    """Abort the TCP connection with an RST (uvicorn's cycle object owns the transport)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionResetError("injected connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
