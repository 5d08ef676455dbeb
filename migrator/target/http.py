"""The native-endpoint HTTP helper every publisher shares: auth, rate buckets, retries, errors.

One `httpx.AsyncClient`; every request first takes a token from its bucket (writes or reads),
then goes out with the credential the `Auth` gives (CodeArtifact: Basic `aws:<token>` or
Bearer). Transport errors, 408, 429 and 5xx are retried with `migrator.retry` policies,
honouring `Retry-After`; a 429 also shrinks the bucket (CUBIC). A 401 asks the `Auth` for a
fresh credential once (an expired CodeArtifact token) before it is reported, as
`CredentialsRefused`: a token refused is the whole run's problem. A 403 is not: the token was
accepted and a policy refuses this one request (origin controls, a package group, npm's "cannot
publish over an existing version"), so it comes back as `PublishRefused` for that package. 409
and 404 come back as `AlreadyExists` / `NotFound` for the caller to interpret; other 4xx are
permanent.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
import httpx

from migrator.errors import root_cause
from migrator.retry import (
    TARGET_READ,
    TARGET_WRITE,
    RetryPolicy,
    is_configuration_failure,
    is_connect_failure,
    is_retryable,
    retry_after_seconds,
)
from migrator.target.errors import (
    AlreadyExists,
    CredentialsRefused,
    NotFound,
    PublishError,
    PublishRefused,
    Throttled,
    redact,
)
from migrator.target.ratelimit import AdaptiveBucket
from migrator.transport import lean_transport

__all__ = ["Auth", "NativeHttp", "ShardedTransport", "StaticAuth", "file_body"]

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class Auth(Protocol):
    """Credentials for native endpoints."""

    async def header(self, scheme: str) -> str | None:
        """The Authorization header value for `scheme` ("basic" or "bearer")."""
        ...

    async def refused(self, header: str | None) -> bool:
        """`header` got a 401: True when a fresh credential is worth one more try."""
        ...

    def secrets(self) -> Iterable[str]:
        """Everything that must never appear in a message or a log line."""
        ...


class StaticAuth:
    """Fixed credentials: Basic user/password, or a bearer token (real registries in tests)."""

    def __init__(self, username: str | None = None, password: str | None = None,
                 token: str | None = None) -> None:
        self.username, self.password, self.token = username, password, token

    async def header(self, scheme: str) -> str | None:
        if self.token and (scheme == "bearer" or self.username is None):
            return f"Bearer {self.token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    async def refused(self, header: str | None) -> bool:
        return False

    def secrets(self) -> Iterable[str]:
        return [s for s in (self.password, self.token) if s]


def file_body(path: Path, chunk: int = 1 << 20) -> Callable[[], AsyncIterator[bytes]]:
    """A fresh streamed body of `path` per attempt (memory stays flat for a 5 GB asset); pass
    `Content-Length` with it so no chunked encoding is used."""

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as handle:
            while True:
                data = await anyio.to_thread.run_sync(handle.read, chunk)
                if not data:
                    return
                yield data

    return chunks


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small connection pools behind one client, taken in turn.

    httpcore's pool does work proportional to the square of its connections on every
    request it assigns (each connection's idle and expiry checks, an `is_readable` probe of
    every idle socket, an idle count inside that loop). With the hundred-odd connections a
    run keeps open at 100 ms of latency, that bookkeeping became the event loop's largest
    cost. Pools of `per_pool` connections keep it small; the total stays the same.
    """

    def __init__(self, total: int, per_pool: int = 16) -> None:
        per_pool = max(1, min(per_pool, total))
        count = max(1, -(-total // per_pool))
        self.pools = [lean_transport(limits=httpx.Limits(
            max_connections=per_pool, max_keepalive_connections=per_pool))
            for _ in range(count)]
        self._next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self.pools[self._next]
        self._next = (self._next + 1) % len(self.pools)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class NativeHttp:
    """Requests to package-manager endpoints, rate limited and retried."""

    def __init__(self, auth: Auth, *, writes: AdaptiveBucket | None = None,
                 reads: AdaptiveBucket | None = None, target_name: str = "CodeArtifact",
                 write_policy: RetryPolicy = TARGET_WRITE,
                 read_policy: RetryPolicy = TARGET_READ, sleep=None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 300.0, max_connections: int = 64) -> None:
        self.auth = auth
        self.writes, self.reads = writes, reads
        self.target_name = target_name
        self.write_policy, self.read_policy = write_policy, read_policy
        self.sleep = sleep
        if transport is None:
            transport = ShardedTransport(max_connections) if max_connections > 32 else \
                lean_transport(limits=httpx.Limits(max_connections=max_connections,
                                                   max_keepalive_connections=max_connections))
        self.client = httpx.AsyncClient(
            transport=transport, follow_redirects=True,
            timeout=httpx.Timeout(timeout, connect=30.0))

    async def aclose(self) -> None:
        await self.client.aclose()

    def _redact(self, text: str) -> str:
        return redact(text, self.auth.secrets())

    async def request(self, method: str, url: str, *, write: bool | None = None,
                      scheme: str = "basic", content: bytes | Callable[[], Any] | None = None,
                      json: Any = None, data: Any = None,
                      files: Callable[[], Any] | None = None,
                      headers: dict[str, str] | None = None,
                      ok: Iterable[int] = (200, 201, 202, 204)) -> httpx.Response:
        """One logical request with retries; returns the response when its status is in `ok`.

        `content`/`files` may be callables so every attempt gets a fresh body (an open file
        is consumed by the first attempt).

        :raises AlreadyExists: 409. :raises NotFound: 404. :raises CredentialsRefused: 401.
        :raises PublishRefused: 403 (a policy refuses this request; not fatal).
        :raises PublishError: anything else, with `retryable` set.
        """
        is_write = method not in ("GET", "HEAD") if write is None else write
        policy = self.write_policy if is_write else self.read_policy
        bucket = self.writes if is_write else self.reads
        ok = frozenset(ok)
        retried_auth = False
        async for attempt in policy.retrying(sleep=self.sleep, what=f"{method} {url}"):
            with attempt:
                while True:
                    sent_at = await bucket.acquire() if bucket is not None else None
                    response = await self._send(method, url, scheme, content, json, data,
                                                files, headers)
                    if response.status_code == 401 and not retried_auth:
                        retried_auth = True
                        if await self.auth.refused(response.request.headers.get(
                                "authorization")):
                            continue  # a fresh token, same attempt
                    break
                return self._check(response, bucket, ok, method, url, sent_at)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method, url, scheme, content, json, data, files, headers
                    ) -> httpx.Response:
        all_headers = dict(headers or {})
        auth = await self.auth.header(scheme)
        if auth:
            all_headers["Authorization"] = auth
        body = content() if callable(content) else content
        upload = files() if files is not None else None
        try:
            return await self.client.request(method, url, content=body, json=json, data=data,
                                             files=upload, headers=all_headers)
        except httpx.TransportError as exc:
            cause = self._redact(root_cause(exc))
            error = PublishError(f"{self.target_name}: {method} {url} failed: {cause}",
                                 retryable=is_retryable(exc))
            if is_connect_failure(exc) or is_configuration_failure(exc):
                origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
                error.systemic = f"{self.target_name} at {origin} is unreachable: {cause}"
            raise error from None
        finally:
            if upload:
                for value in (upload.values() if isinstance(upload, dict) else []):
                    handle = value[1] if isinstance(value, tuple) else value
                    if hasattr(handle, "close"):
                        handle.close()

    def _check(self, response: httpx.Response, bucket: AdaptiveBucket | None,
               ok: frozenset[int], method: str, url: str,
               sent_at: float | None = None) -> httpx.Response:
        status = response.status_code
        if status == 429 and bucket is not None:
            bucket.on_throttle(retry_after_seconds(response), sent_at=sent_at)
        elif bucket is not None and status < 500:
            bucket.on_success()
        if status in ok:
            return response
        text = self._redact(response.text[:300].strip())
        where = f"{self.target_name}: {method} {url}"
        if status == 409:
            raise AlreadyExists(f"{where} answered 409 Conflict: {text}")
        if status == 404:
            raise NotFound(f"{where} answered 404 Not Found: {text}")
        if status == 401:
            raise CredentialsRefused(
                f"{where} answered 401: the credentials or the token were refused",
                status=status,
                hint="check the AWS credentials/profile and codeartifact:GetAuthorizationToken "
                     "and sts:GetServiceBearerToken permissions")
        if status == 403:
            raise PublishRefused(f"{where} answered 403 Forbidden: {text or 'refused'}")
        if status == 429:
            raise Throttled(f"{where} answered 429 Too Many Requests",
                            retry_after=retry_after_seconds(response))
        retryable = status in RETRYABLE
        raise PublishError(f"{where} answered HTTP {status}: {text}", retryable=retryable,
                           status=status, retry_after=retry_after_seconds(response)
                           if retryable else None)
