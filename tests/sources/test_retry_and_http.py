"""Retry policy as data, and the HTTP seam's error translation (no real sleeping, no sockets)."""

from __future__ import annotations

import re

import anyio
import httpx
import pytest

from migrator.errors import SourceAuthError, SourceError
from migrator.retry import RetryPolicy, retry_after_seconds
from migrator.sources.http import SourceHTTP, SourceStatusError, make_client, redact

SECRET = "s3cr3t-password"


class Sleeps:
    """An injected sleep that records what the policy asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def seam(handler, sleeps: Sleeps, attempts: int = 4) -> SourceHTTP:
    client = make_client("http://src.test", username="u", password=SECRET,
                         transport=httpx.MockTransport(handler))
    policy = RetryPolicy(name="test", attempts=attempts, initial_wait=1, max_wait=8, jitter=0)
    return SourceHTTP(client, system="Nexus", policy=policy, sleep=sleeps)


def run(coro_fn):
    return anyio.run(coro_fn)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(status: int) -> None:
    answers = iter([httpx.Response(status), httpx.Response(status), httpx.Response(200, json=[1])])
    sleeps = Sleeps()
    http = seam(lambda request: next(answers), sleeps)
    assert run(lambda: http.json("GET", "/x")) == [1]
    assert sleeps.calls == [1, 2]  # exponential, jitter 0


def test_retry_after_is_honoured_and_capped() -> None:
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503, headers={"Retry-After": "120"}),
        httpx.Response(200, json={}),
    ])
    sleeps = Sleeps()
    http = seam(lambda request: next(answers), sleeps)
    run(lambda: http.json("GET", "/x"))
    assert sleeps.calls == [3, 8]


def test_retry_after_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
    assert retry_after_seconds(response, now=1445412480.0) == 10.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None


@pytest.mark.parametrize("status", [400, 404, 406, 422])
def test_other_client_errors_are_not_retried(status: int) -> None:
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, text="nope")

    sleeps = Sleeps()
    with pytest.raises(SourceStatusError) as info:
        run(lambda: seam(handler, sleeps).json("GET", "/x"))
    assert info.value.status == status and len(calls) == 1 and sleeps.calls == []
    assert f"HTTP {status}" in str(info.value) and "nope" in str(info.value)


@pytest.mark.parametrize(("status", "words"), [(401, "rejected the credentials"),
                                               (403, "refused access")])
def test_auth_failures_name_the_system_and_never_the_secret(status: int, words: str) -> None:
    with pytest.raises(SourceAuthError) as info:
        run(lambda: seam(lambda r: httpx.Response(status), Sleeps()).json("GET", "/x"))
    text = str(info.value)
    assert text.startswith(f"Nexus {words} (HTTP {status})")
    assert SECRET not in text and SECRET not in repr(info.value.__cause__)


def test_transport_errors_are_retried_then_reported_cleanly() -> None:
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    sleeps = Sleeps()
    unreachable = re.escape("Nexus is unreachable: GET http://src.test/x: ConnectError")
    with pytest.raises(SourceError, match=unreachable):
        run(lambda: seam(handler, sleeps, attempts=3).json("GET", "/x"))
    assert len(sleeps.calls) == 2


def test_exhausted_retries_say_what_kept_failing() -> None:
    with pytest.raises(SourceError, match="kept failing: GET /x answered HTTP 503"):
        run(lambda: seam(lambda r: httpx.Response(503), Sleeps(), attempts=2).json("GET", "/x"))


def test_garbage_json_is_retried_then_a_source_error() -> None:
    answers = iter([httpx.Response(200, content=b'{"items": [tru'),
                    httpx.Response(200, content=b'{"ok": true}')])
    assert run(lambda: seam(lambda r: next(answers), Sleeps()).json("GET", "/x")) == {"ok": True}
    with pytest.raises(SourceError, match="not valid JSON"):
        run(lambda: seam(lambda r: httpx.Response(200, content=b"<html>"), Sleeps(),
                         attempts=2).json("GET", "/x"))


def test_error_bodies_are_excerpted_from_artifactory_json_and_sanitised() -> None:
    body = {"errors": [{"status": 404, "message": "File not found.\x1b[2J"}]}
    with pytest.raises(SourceStatusError, match=r"File not found\.\?\[2J"):
        run(lambda: seam(lambda r: httpx.Response(404, json=body), Sleeps()).json("GET", "/x"))


def test_client_factory_auth_and_user_agent() -> None:
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(200, json={})

    async def go():
        async with make_client("http://a.test", token="tok", transport=httpx.MockTransport(
                handler)) as c:
            await c.get("/x")
        async with make_client("http://a.test", username="u", password="p",
                               transport=httpx.MockTransport(handler)) as c:
            await c.get("/x")

    run(go)
    assert seen[0]["authorization"] == "Bearer tok"
    assert seen[1]["authorization"].startswith("Basic ")
    assert seen[0]["user-agent"].startswith("migrator/")
    assert redact("http://u:p@h.test/x") == "http://h.test/x"
