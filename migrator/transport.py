"""The HTTP transport of every client the tool makes: httpx over an asyncio-native network
backend.

httpx's default backend runs each socket operation through anyio: a cancel scope with a
deadline around every read and write (the task looked up, a timer armed), and for each
pooled connection, before every request it is offered, an `is_readable` probe that builds
anyio's whole table of socket attributes, a `getpeername` system call included. At the
quota ceiling a run makes a few hundred requests a second from one event loop, and that
bookkeeping was a quarter of the loop's time. This backend keeps httpx and httpcore (the
HTTP/1.1 state machine, pooling, TLS through `ssl`) and replaces only the stream under
them: an `asyncio.Protocol` with a receive buffer, a timer only when a read or a write has
to wait, and readability known from the buffer and the end-of-stream flag the protocol
already holds (the socket is probed only when neither says).

Behaviour kept from the default backend: connect, read, write and TLS handshake timeouts
raise httpcore's timeout errors; a refused connection or an unknown host raises
`ConnectError` with the OS error in its cause chain (`migrator.errors.root_cause` names it);
each address of a host name is tried in turn; TCP_NODELAY is set. Flow control both ways:
writes wait while the kernel's buffer is full, and reading pauses while more than
`_HIGH_WATER` bytes are waiting for the consumer, so a 5 GB body never sits in memory.

It only runs under asyncio (the tool's event loop); `lean_transport` falls back to httpx's
own backend if a future httpx no longer lets the backend be chosen.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable

__all__ = ["AsyncioBackend", "lean_transport", "trust"]

# Reading from the socket pauses above this many unread bytes and resumes below the low mark.
_HIGH_WATER = 4 << 20
_LOW_WATER = 1 << 20


class _Protocol(asyncio.Protocol):
    """The receive buffer and the flow-control state of one connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.drain: asyncio.Future[None] | None = None
        self.write_paused = False
        self.read_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self.read_paused and self.transport:
            self.read_paused = True
            self.transport.pause_reading()
        _wake(self.reader)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self.reader)
        return False  # close our side too: HTTP/1.1 never half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _wake(self.reader)
        _wake(self.drain)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        _wake(self.drain)

    def take(self, max_bytes: int) -> bytes:
        buffer = self.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self.read_paused and len(buffer) < _LOW_WATER and self.transport \
                and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()
        return data


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def _wait(future: asyncio.Future[None], timeout: float | None,
                error: type[Exception], what: str) -> None:
    """Await `future`; after `timeout` seconds raise `error` (cancellation from outside
    stays a cancellation)."""
    if timeout is None:
        await future
        return
    expired = False

    def expire() -> None:
        nonlocal expired
        if not future.done():
            expired = True
            future.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        await future
    except asyncio.CancelledError:
        if expired:
            raise error(f"{what} timed out after {timeout:g} s") from None
        raise
    finally:
        timer.cancel()


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        while not p.buffer:
            if p.eof:
                if p.error is not None:
                    raise httpcore.ReadError(str(p.error) or type(p.error).__name__) \
                        from p.error
                return b""
            p.reader = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.reader, timeout, httpcore.ReadTimeout, "read")
            finally:
                p.reader = None
        return p.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        if p.eof or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed") from p.error
        self._transport.write(buffer)
        if p.write_paused:
            p.drain = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.drain, timeout, httpcore.WriteTimeout, "write")
            finally:
                p.drain = None
            if p.error is not None:
                raise httpcore.WriteError(str(p.error)) from p.error

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self._transport, self._protocol, ssl_context,
                                             server_hostname=server_hostname,
                                             ssl_handshake_timeout=timeout)
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # pragma: no cover - the loop closed the connection
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport  # type: ignore[assignment]
        return _Stream(transport, self._protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle connection is readable when the server closed it (or sent something
            # unasked): known from the buffer and the end-of-stream flag, else probed.
            p = self._protocol
            if p.buffer or p.eof:
                return True
            sock = self._transport.get_extra_info("socket")
            return sock is not None and is_socket_readable(sock)
        key = {"ssl_object": "ssl_object", "client_addr": "sockname",
               "server_addr": "peername", "socket": "socket"}.get(info)
        return self._transport.get_extra_info(key) if key else None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio transports and protocols."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                sock = await _connect(loop, host, port, local_address)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
            transport, protocol = await loop.create_connection(_Protocol, sock=sock)
        except BaseException:
            sock.close()
            raise
        return _Stream(transport, protocol)  # type: ignore[arg-type]

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {path} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(transport, protocol)  # type: ignore[arg-type]

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(loop: asyncio.AbstractEventLoop, host: str, port: int,
                   local_address: str | None) -> socket.socket:
    """A connected non-blocking socket: each address of `host` in the resolver's order; the
    first address's error when none answers (its errno is what the message names)."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   proto=socket.IPPROTO_TCP)
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if local_address:
                sock.bind((local_address, 0))
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if errors:
        raise errors[0]
    raise OSError(f"{host} resolved to no address")


def trust(verify: ssl.SSLContext | str | bool = True) -> ssl.SSLContext:
    """The TLS context for `verify` (True: the CA bundle, False: none, a path: that bundle),
    one per process and setting: each new context loads the whole CA bundle (about 35 ms),
    and a run makes a dozen clients and pools. A context is shared safely by any number of
    connections; it is made again when SSL_CERT_FILE or SSL_CERT_DIR name other files."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    return _trust(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)
def _trust(verify: str | bool, _cert_file: str | None, _cert_dir: str | None
           ) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)


def lean_transport(**kwargs: Any) -> httpx.AsyncHTTPTransport:
    """`httpx.AsyncHTTPTransport(**kwargs)` on `AsyncioBackend`, with the shared `trust`."""
    kwargs["verify"] = trust(kwargs.get("verify", True))
    transport = httpx.AsyncHTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if hasattr(pool, "_network_backend"):
        pool._network_backend = AsyncioBackend()  # type: ignore[union-attr]
    return transport
