"""The asyncio network backend under httpx (`migrator.transport`), against loopback servers:
the answers, the failures (each as the error the retry decision and the messages expect),
TLS, flow control and cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import subprocess
from pathlib import Path

import anyio
import httpx
import pytest

from migrator.errors import root_cause
from migrator.retry import is_configuration_failure, is_connect_failure, is_retryable
from migrator.transport import _HIGH_WATER, AsyncioBackend, _Protocol, lean_transport


def run(fn, *args):
    return anyio.run(fn, *args, backend="asyncio")


class Server:
    """An HTTP/1.1 server on 127.0.0.1 inside the test's own event loop; `handler(method,
    path, body)` returns (status, body) or None to close the connection without answering."""

    def __init__(self, handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.closed = 0
        self._closing: asyncio.Event | None = None
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                length = int(headers.get("content-length", headers.get("Content-Length", 0)))
                body = await reader.readexactly(length) if length else b""
                answer = await self.handler(method, path, body)
                if answer is None:
                    break
                status, payload = answer
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n\r\n"
                             .encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed += 1
            if self._closing is not None:
                self._closing.set()

    async def close_every_connection(self) -> None:
        """Close the connections it holds (an idle timeout on its side), and return once
        each is closed: its FIN is then in the client's socket on loopback."""
        for task in asyncio.all_tasks():
            if task.get_coro().__qualname__.startswith("Server._serve"):
                task.cancel()
        while self.closed < self.connections:
            self._closing = asyncio.Event()
            await self._closing.wait()


def client(**kwargs) -> httpx.AsyncClient:
    limits = kwargs.pop("limits", httpx.Limits(max_connections=4))
    verify = kwargs.pop("verify", True)
    return httpx.AsyncClient(transport=lean_transport(limits=limits, verify=verify), **kwargs)


def test_the_transport_runs_on_the_asyncio_backend():
    """If an httpx upgrade stops letting the backend be chosen, this says so."""
    transport = lean_transport()
    assert isinstance(transport._pool._network_backend, AsyncioBackend)


def test_every_client_the_tool_makes_uses_it():
    from migrator.sources.http import make_client
    from migrator.target.http import NativeHttp, ShardedTransport

    source = make_client("http://127.0.0.1:1")
    assert isinstance(source._transport._pool._network_backend, AsyncioBackend)
    small = NativeHttp(auth=None, max_connections=8)  # type: ignore[arg-type]
    assert isinstance(small.client._transport._pool._network_backend, AsyncioBackend)
    big = NativeHttp(auth=None, max_connections=64)  # type: ignore[arg-type]
    assert isinstance(big.client._transport, ShardedTransport)
    assert all(isinstance(p._pool._network_backend, AsyncioBackend)
               for p in big.client._transport.pools)


def test_concurrent_requests_share_kept_alive_connections():
    async def echo(method, path, body):
        return 200, method.encode() + b" " + path.encode() + b" " + hashlib.sha256(
            body).hexdigest().encode()

    async def scenario():
        async with Server(echo) as server, client() as c:
            answers = {}

            async def one(i: int) -> None:
                body = bytes([i % 251]) * (i * 997)
                r = await c.put(f"{server.url}/f{i}", content=body)
                answers[i] = (r.status_code, r.text, hashlib.sha256(body).hexdigest())

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(one, i)
            return answers, server.connections

    answers, connections = run(scenario)
    for i, (status, text, digest) in answers.items():
        assert status == 200 and text == f"PUT /f{i} {digest}"
    assert connections <= 4


def test_large_bodies_both_ways_arrive_whole():
    payload = hashlib.sha256(b"seed").digest() * ((24 << 20) // 32)  # 24 MiB

    async def handler(method, path, body):
        return 200, body if method == "PUT" else payload

    async def scenario():
        async with Server(handler) as server, client() as c:
            digest = hashlib.sha256()
            async with c.stream("GET", server.url + "/big") as r:
                async for chunk in r.aiter_bytes():
                    digest.update(chunk)
                    await anyio.sleep(0)  # a consumer slower than loopback
            back = await c.put(server.url + "/up", content=payload)
            return digest.hexdigest(), hashlib.sha256(back.content).hexdigest()

    got, echoed = run(scenario)
    assert got == echoed == hashlib.sha256(payload).hexdigest()


class _FakeTransport:
    def __init__(self) -> None:
        self.paused = False
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.paused = True
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.paused = False
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False


def test_reading_pauses_while_the_consumer_lags_and_resumes_when_it_catches_up():
    proto = _Protocol()
    fake = _FakeTransport()
    proto.connection_made(fake)  # type: ignore[arg-type]
    chunk = b"x" * (1 << 20)
    while not fake.paused:
        proto.data_received(chunk)
    assert len(proto.buffer) <= _HIGH_WATER + len(chunk)
    while fake.paused:
        assert proto.take(64 << 10)
    assert fake.calls == ["pause", "resume"]


def test_a_refused_connection_is_a_connect_failure_naming_the_errno():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def scenario():
        async with client() as c:
            with pytest.raises(httpx.ConnectError) as info:
                await c.get(f"http://127.0.0.1:{port}/")
            return info.value

    exc = run(scenario)
    assert is_connect_failure(exc) and is_retryable(exc)
    assert root_cause(exc) == "ConnectError: [Errno 111] Connection refused"


def test_a_host_that_does_not_resolve_is_a_configuration_failure(monkeypatch):
    async def no_such_host(self, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", no_such_host)

    async def scenario():
        async with client() as c:
            with pytest.raises(httpx.ConnectError) as info:
                await c.get("http://nexus.example.invalid/")
            return info.value

    exc = run(scenario)
    assert is_configuration_failure(exc) and not is_retryable(exc)


def test_an_answer_that_never_comes_is_a_read_timeout():
    never = anyio.Event()

    async def handler(method, path, body):
        await never.wait()

    async def scenario():
        async with Server(handler) as server, client(timeout=httpx.Timeout(0.2)) as c:
            with pytest.raises(httpx.ReadTimeout) as info:
                await c.get(server.url + "/")
            never.set()
            return info.value

    assert is_retryable(run(scenario))


def test_a_body_cut_short_is_a_retryable_transport_error():
    async def scenario():
        async def cut(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(cut, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with client() as c:
                with pytest.raises(httpx.TransportError) as info:
                    await c.get(f"http://127.0.0.1:{port}/")
                return info.value
        finally:
            server.close()
            await server.wait_closed()

    assert is_retryable(run(scenario))


def test_a_kept_alive_connection_the_server_closed_is_not_reused():
    async def handler(method, path, body):
        return 200, path.encode()

    async def scenario():
        async with Server(handler) as server, client() as c:
            first = await c.get(server.url + "/one")
            await server.close_every_connection()
            second = await c.get(server.url + "/two")
            return first.text, second.text, server.connections

    assert run(scenario) == ("/one", "/two", 2)


def test_a_cancelled_request_leaves_the_client_usable():
    release, arrived = anyio.Event(), anyio.Event()

    async def handler(method, path, body):
        if path == "/slow":
            arrived.set()
            await release.wait()
        return 200, b"ok"

    async def scenario():
        async with Server(handler) as server, client(
                limits=httpx.Limits(max_connections=1)) as c:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(c.get, server.url + "/slow")
                    await arrived.wait()  # the request is out, its answer awaited
                    scope.cancel()
            release.set()
            after = await c.get(server.url + "/fast")
            return scope.cancelled_caught, after.text

    assert run(scenario) == (True, "ok")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    return cert, key


def test_tls_with_a_trusted_certificate(certificate):
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))

    async def handler(method, path, body):
        return 200, b"over tls"

    async def scenario():
        async with Server(handler, tls=served) as server, client(verify=trust) as c:
            r = await c.get(server.url + "/")
            again = await c.get(server.url + "/")  # the same TLS connection, kept alive
            return r.text, again.text, server.connections

    assert run(scenario) == ("over tls", "over tls", 1)


def test_tls_with_an_untrusted_certificate_is_a_configuration_failure(certificate):
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def handler(method, path, body):
        return 200, b"never"

    async def scenario():
        async with Server(handler, tls=served) as server, client() as c:
            with pytest.raises(httpx.ConnectError) as info:
                await c.get(server.url + "/")
            return info.value

    exc = run(scenario)
    assert is_configuration_failure(exc) and not is_retryable(exc)
    assert "CERTIFICATE_VERIFY_FAILED" in str(exc)


def test_one_tls_context_per_setting_is_shared_by_every_client(monkeypatch):
    import certifi

    from migrator.transport import lean_transport, trust

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert trust() is trust(True)
    assert trust(False) is trust(False) and trust(False) is not trust(True)
    assert trust(False).verify_mode == ssl.CERT_NONE and trust().verify_mode == ssl.CERT_REQUIRED
    mine = ssl.create_default_context()
    assert trust(mine) is mine
    # lean_transport takes the shared one instead of loading the CA bundle again
    assert lean_transport()._pool._ssl_context is trust()
    before = trust()
    # a CA bundle named by the environment: a context of its own
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert trust() is not before and trust() is trust()
