"""What both source emulators share at run time: the knobs, the request log, fault injection.

Not part of either product's API. Tests reach it in-process as `app.state.knobs` and
`app.state.request_log`, and over HTTP under `/_sandbox/`:

    GET    /_sandbox/requests      every request so far: [{"method","path","query","status",...}]
    DELETE /_sandbox/requests      forget them
    GET    /_sandbox/knobs         the current knobs
    POST   /_sandbox/knobs         change knobs: {"latency": 0.05, "error_rate": 0.1, ...}

Requests to `/_sandbox/` are neither logged, delayed nor failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migrator_sandbox.seed import SeedWatcher

# Listing entries a hostile or broken server could send. A crawler must refuse every one of them
# before it builds a local path or a URL from it (traversal, encoded traversal, absolute paths,
# control characters, Windows separators).
HOSTILE_PATHS = (
    "../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "com/acme/evil/1.0/evil-1.0.jar\x00.txt",
    "docs/line\nbreak.txt",
    "..\\..\\windows\\win.ini",
)


ENCODED_SLASH = ("decode", "reject")


@dataclass
class Knobs:
    """Test switches of a running emulator; every field may be changed while it runs.

    latency           seconds added to every product request
    error_rate        share of product requests answered with a 5xx (0.0-1.0), drawn from a
                      random.Random(seed), so a run is reproducible
    seed              seed of that generator
    corrupt_checksum  "<repo>/<path>" entries whose *reported* checksums (API listings, checksum
                      headers and sidecars, packument shasum, simple-page fragments) are wrong,
                      while the bytes stay right: the crawler must refuse the download
    hostile_paths     add HOSTILE_PATHS entries to every listing of hosted repositories
    unknown_size      "<repo>/<path>" entries Nexus lists with `fileSize: 0` (as real Nexus does
                      for some files it does not know the size of), bytes unchanged
    redacted_checksum "<repo>/<path>" entries whose listed checksums are `"......"`
    encoded_slash     a `%2F` in a content path: "decode" (taken as `/`: `@scope%2fname` is
                      `@scope/name`) or "reject" (400 "Ambiguous URI path separator", as
                      Jetty 10 and later answer by default); which one a Nexus release does
                      is not documented
    """

    latency: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    corrupt_checksum: set[str] = field(default_factory=set)
    hostile_paths: bool = False
    unknown_size: set[str] = field(default_factory=set)
    redacted_checksum: set[str] = field(default_factory=set)
    encoded_slash: str = "decode"

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def roll_error(self) -> bool:
        if self.error_rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.error_rate

    def pick(self, choices: tuple[int, ...]) -> int:
        with self._lock:
            return self._rng.choice(choices)

    def is_corrupt(self, repo: str, path: str) -> bool:
        return f"{repo}/{path.lstrip('/')}" in self.corrupt_checksum

    def reported(self, repo: str, path: str, digests: dict[str, str]) -> dict[str, str]:
        """The checksums the server claims for a file: the true ones unless corrupted."""
        if not self.is_corrupt(repo, path):
            return digests
        # Wrong but well-formed: same lengths, valid hex, different value.
        return {
            k: hashlib.new(k, f"corrupt:{v}".encode()).hexdigest() for k, v in digests.items()
        }

    def listed_size(self, repo: str, path: str, size: int) -> int:
        """The size a listing claims for a file: 0 for `unknown_size` entries."""
        return 0 if f"{repo}/{path.lstrip('/')}" in self.unknown_size else size

    def listed_checksums(self, repo: str, path: str, digests: dict[str, str]) -> dict[str, str]:
        """What a listing claims: `reported`, or `"......"` for `redacted_checksum` entries."""
        if f"{repo}/{path.lstrip('/')}" in self.redacted_checksum:
            return {k: "......" for k in digests}
        return self.reported(repo, path, digests)

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("corrupt_checksum", "unknown_size", "redacted_checksum"):
            d[key] = sorted(getattr(self, key))
        return d

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key == "seed":
                self.reseed(int(value))
            elif key in ("corrupt_checksum", "unknown_size", "redacted_checksum"):
                setattr(self, key, set(as_set(value)))
            elif key in ("latency", "error_rate"):
                setattr(self, key, float(value))
            elif key == "hostile_paths":
                self.hostile_paths = bool(value)
            elif key == "encoded_slash":
                if value not in ENCODED_SLASH:
                    raise ValueError(f"encoded_slash must be one of {ENCODED_SLASH}")
                self.encoded_slash = value
            else:
                raise KeyError(key)


def as_set(value: str | Iterable[str] | None) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return set(value)


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    user: str | None
    at: float


class RequestLog:
    """Every product request the emulator answered, in order, thread-safe."""

    def __init__(self) -> None:
        self._items: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def add(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def find(self, *, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        return [e for e in self.entries()
                if (method is None or e.method == method) and (path is None or e.path == path)]

    def duplicates(self) -> list[tuple[str, str, str]]:
        """(method, path, query) requested more than once: a crawler that resumes correctly
        fetches no page twice."""
        seen: dict[tuple[str, str, str], int] = {}
        for e in self.entries():
            key = (e.method, e.path, e.query)
            seen[key] = seen.get(key, 0) + 1
        return [k for k, n in seen.items() if n > 1]


class SandboxMiddleware:
    """Latency, injected 5xx and the request log around every product request.

    `error_statuses` are the codes an injected failure picks from; `error_body` renders the
    body in the product's own error style; `extra_headers` go on every product response
    (Nexus' `Server` header).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        knobs: Knobs,
        log: RequestLog,
        error_body: Any,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        error_statuses: tuple[int, ...] = (500, 502, 503),
        watcher: SeedWatcher | None = None,
    ) -> None:
        self.app = app
        self.watcher = watcher
        self.knobs = knobs
        self.log = log
        self.error_body = error_body
        self.extra_headers = extra_headers or []
        self.error_statuses = error_statuses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        status_box = [0]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                headers = list(message.get("headers", []))
                headers += self.extra_headers
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self.knobs.latency > 0:
                await anyio.sleep(self.knobs.latency)
            if self.knobs.roll_error():
                status = self.knobs.pick(self.error_statuses)
                response = self.error_body(status, "injected failure (sandbox error_rate)")
                await response(scope, receive, send_wrapper)
            elif self.watcher is not None:
                with self.watcher.pinned():  # one stat walk per request, one seed per response
                    await self.app(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            self.log.add(
                LoggedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=status_box[0],
                    user=_user_of(scope),
                    at=time.time(),
                )
            )


def _user_of(scope: Scope) -> str | None:
    """Who made a request, for the log: the Basic user name, or "bearer" for a token."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return "bearer"
            try:
                return base64.b64decode(rest.strip()).decode().partition(":")[0] or None
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def sandbox_routes(knobs: Knobs, log: RequestLog) -> list[Route]:
    """The `/_sandbox/` control routes (documented in this module's docstring)."""

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            log.clear()
            return Response(status_code=204)
        return JSONResponse([asdict(e) for e in log.entries()])

    async def knob_route(request: Request) -> Response:
        if request.method == "POST":
            try:
                knobs.update(await request.json())
            except (KeyError, ValueError, TypeError) as exc:
                return JSONResponse({"error": f"bad knob: {exc}"}, status_code=400)
        return JSONResponse(knobs.as_json())

    return [
        Route("/_sandbox/requests", requests, methods=["GET", "DELETE"]),
        Route("/_sandbox/knobs", knob_route, methods=["GET", "POST"]),
    ]


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
