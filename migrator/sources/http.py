"""The HTTP seam to a source server: client factory, retries, and error translation.

Everything a crawler sends goes through `SourceHTTP.request`, which

- retries what `migrator.retry` says is transient,
- turns 401/403 into `SourceAuthError` and other failures into `SourceError`, naming the system
  ("Nexus", "Artifactory") and the request, never the credentials,
- parses JSON bodies and reports garbage as a `SourceError` (after retrying: a cut-off stream is
  transient), never as a traceback.

Tests inject `transport=` (`httpx.MockTransport`, `httpx.ASGITransport`) or a whole client.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from migrator.errors import SourceAuthError, SourceError, root_cause
from migrator.retry import RETRYABLE_STATUSES as _RETRYABLE
from migrator.retry import (
    SOURCE_LISTING,
    RetryableResponse,
    RetryPolicy,
    Sleep,
    TruncatedBody,
    is_configuration_failure,
    is_connect_failure,
    is_retryable,
)
from migrator.transport import lean_transport, trust

__all__ = [
    "PROBE_TIMEOUT",
    "USER_AGENT",
    "SourceHTTP",
    "SourceStatusError",
    "make_client",
    "redact",
    "unreachable",
]

try:
    _VERSION = version("migrator")
except PackageNotFoundError:  # running from a source tree that was never installed
    _VERSION = "0"
USER_AGENT = f"migrator/{_VERSION} (package migration to AWS CodeArtifact)"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=60.0, pool=60.0)
# Preflight probes: an answer within seconds, or the server counts as unreachable.
PROBE_TIMEOUT = httpx.Timeout(5.0)


def make_client(
    base_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 8,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    verify: bool = True,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for one source server.

    A token is sent as `Authorization: Bearer` (Artifactory access tokens); otherwise username
    and password as Basic auth (Nexus users and Pro user tokens). Redirects are not followed
    here: listings never redirect, and downloads must drop credentials across hosts.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    auth: httpx.Auth | None = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif username is not None:
        auth = httpx.BasicAuth(username, password or "")
    if transport is None:
        transport = lean_transport(verify=verify,
                                   limits=httpx.Limits(max_connections=max_connections))
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        auth=auth,
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        verify=trust(verify),  # for a proxy's transport, if the environment names one
    )


def unreachable(system: str, what: str, exc: httpx.TransportError) -> SourceError:
    """The SourceError for a request whose transport failed (after any retries), with the
    root cause; a refused or unresolved connection is marked as a whole-system condition."""
    cause = root_cause(exc)
    error = SourceError(f"{system} is unreachable: {what}: {cause}",
                        hint="check the source url in the manifest and the network; the "
                        "command resumes where it stopped")
    error.retryable = is_retryable(exc)
    if is_connect_failure(exc) or is_configuration_failure(exc):
        error.systemic = f"{system} is unreachable: {cause}"
    return error


def redact(url: httpx.URL | str) -> str:
    """The URL without user info, for messages."""
    parsed = httpx.URL(str(url))
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    text = " ".join(text.split())
    if not text:
        return ""
    # Artifactory errors: {"errors":[{"status":..,"message":..}]}; Nexus: plain text or JSON.
    try:
        body = json.loads(text)
        messages = [e.get("message") for e in body.get("errors", []) if isinstance(e, dict)]
        if messages:
            text = "; ".join(str(m) for m in messages if m)
    except (ValueError, AttributeError):
        pass
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return f": {text[:limit]}" if text else ""


class SourceStatusError(SourceError):
    """The source answered a non-2xx status that is an answer, not an accident (404, 400, 406)."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retryable = status in _RETRYABLE  # 404, 400, 406: answers, not accidents


class SourceHTTP:
    """Requests to one source system with retries and error translation."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        system: str,
        policy: RetryPolicy = SOURCE_LISTING,
        sleep: Sleep | None = None,
    ) -> None:
        self.client = client
        self.system = system
        self.policy = policy
        self.sleep = sleep

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx response, the body read.

        :raises SourceAuthError: 401 or 403.
        :raises SourceError: any other non-2xx, or transient failures that outlived the policy.
        """
        return await self._retried(method, url, None, **kwargs)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request` and parse the JSON body; a body that does not parse is retried (in the
        same attempts: a cut-off stream is transient), then raised.

        :raises SourceError: the body is not JSON even after retries.
        """
        return await self._retried(method, url, _parse_json, **kwargs)

    async def _retried(self, method: str, url: str, parse: Any, **kwargs: Any) -> Any:
        what = f"{method} {url}"
        try:
            async for attempt in self.policy.retrying(sleep=self.sleep, what=what):
                with attempt:
                    response = await self.client.request(method, url, **kwargs)
                    if response.status_code in _RETRYABLE:
                        raise RetryableResponse(response)
                    response = self._check(response, what)
                    return response if parse is None else parse(response)
        except RetryableResponse as exc:
            raise SourceError(
                f"{self.system} kept failing: {what} answered HTTP "
                f"{exc.response.status_code}{_excerpt(exc.response)}",
                hint="the server is overloaded or down; run the same command again later "
                "to resume where it stopped",
            ) from None
        except httpx.TransportError as exc:
            raise unreachable(self.system, f"{method} {self.url_of(exc, url)}", exc) from None
        except TruncatedBody as exc:
            raise SourceError(
                f"{self.system} returned a body that is not valid JSON for {what} ({exc})",
                hint="a proxy in between may be rewriting responses, or the server is failing "
                "mid-response; run again to resume",
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def url_of(self, exc: httpx.TransportError, url: str) -> str:
        """The absolute URL a failed request went to (without query or user info)."""
        try:
            target = exc.request.url
        except RuntimeError:  # an exception raised without its request
            base = str(self.client.base_url).rstrip("/")
            target = httpx.URL(url if "://" in url else f"{base}/{url.lstrip('/')}")
        return redact(target.copy_with(query=None))

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        status = response.status_code
        if status in (401, 403):
            refused = "rejected the credentials" if status == 401 else "refused access"
            raise SourceAuthError(
                f"{self.system} {refused} (HTTP {status}) for {what}{_excerpt(response)}",
                hint=f"check the {self.system} user in the environment variables the manifest "
                "names, and that it may browse/read the repository",
            )
        if not 200 <= status < 300:
            raise SourceStatusError(
                f"{self.system} answered HTTP {status} for {what}{_excerpt(response)}",
                status=status,
            )
        return response


def _parse_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise TruncatedBody(str(exc)) from None
