"""`migrator sandbox serve`: the CodeArtifact emulator and the source emulators in one process.

Each app gets its own port on one event loop (several `uvicorn.Server`s under
`asyncio.gather`). When every server answers, one JSON line goes to stdout:

    {"codeartifact": {"endpoint_url", "domain", "domain_owner", "region", ...},
     "nexus": {"url"}, "artifactory": {"url"}, "env": {NAME: VALUE}}

Library use: `serve(options)` blocks until SIGTERM/SIGINT; `start_in_thread(options)` is a
context manager that runs the same thing in a background thread (tests, ephemeral ports);
`running(options)` is the async context manager for the current event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from migrator_sandbox import DEMO_SEED
from migrator_sandbox.codeartifact import Behaviour, Emulator, FaultConfig, QuotaConfig
from migrator_sandbox.errors import SandboxError

# Seed format (Nexus naming) → CodeArtifact format, external connection, store repository.
FORMATS = {"maven2": "maven", "npm": "npm", "pypi": "pypi", "raw": "generic"}
CONNECTIONS = {
    "maven2": ("public:maven-central", "maven-central-store"),
    "npm": ("public:npmjs", "npm-store"),
    "pypi": ("public:pypi", "pypi-store"),
}
PUBLIC_PREFIX = "/_public"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIASANDBOXEXAMPLE", "AWS_SECRET_ACCESS_KEY": "sandbox-secret"}


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    nexus_port: int = 0
    artifactory_port: int = 0
    seed: Path | None = DEMO_SEED  # packaged: works from any directory and a wheel
    data_dir: Path | None = None
    write_manifest: Path | None = None
    manifest_source: str = "nexus"
    domain: str = "demo"
    domain_owner: str = "111122223333"
    region: str = "us-east-1"
    quotas: QuotaConfig = field(default_factory=QuotaConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    behaviour: Behaviour = field(default_factory=Behaviour)
    # Connection name → base URL of a real registry; unset ones use the built-in public
    # registry (the seed's proxy repositories served anonymously under /_public).
    external_connections: dict[str, str] = field(default_factory=dict)
    sources: bool = True  # also run the Nexus and Artifactory emulators
    nexus_mode: str = "sql"  # Nexus storage: sql (100 per page) or orient (10 per page)
    artifactory_edition: str = "pro"  # pro (File List API) or oss (AQL only)
    source_latency: float = 0.0  # seconds added to every source request
    seed_check_interval: float = 0.0  # seconds between checks of the seed folder for changes
    clock: Callable[[], float] = time.time  # wall clock of the emulator (injectable in tests)
    monotonic: Callable[[], float] = time.monotonic  # the quotas' clock (injectable in tests)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the sandbox (one handler, N servers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _source_module(name: str):
    try:
        return importlib.import_module(f"migrator_sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"migrator_sandbox.{name}":
            raise
        return None  # that emulator is not written yet


class Sandbox:
    """The servers of one sandbox; `run()` serves until `stop()`."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.seed = None
        if options.seed is not None:
            from migrator_sandbox.seed import load_seed

            self.seed = load_seed(options.seed)
        self.sockets = {"codeartifact": _bind(options.host, options.port)}
        self.ports = {"codeartifact": self.sockets["codeartifact"].getsockname()[1]}
        self.modules = {}
        if options.sources and options.seed is not None:
            for name, port in (("nexus", options.nexus_port),
                               ("artifactory", options.artifactory_port)):
                module = _source_module(name)
                if module is not None:
                    self.modules[name] = module
                    self.sockets[name] = _bind(options.host, port)
                    self.ports[name] = self.sockets[name].getsockname()[1]
        self.base_url = f"http://{options.host}:{self.ports['codeartifact']}"
        mounts, connections = self._public_registry()
        self.emulator = Emulator(
            account=options.domain_owner, region=options.region, data_dir=options.data_dir,
            behaviour=options.behaviour, quotas=options.quotas, faults=options.faults,
            clock=options.clock, monotonic=options.monotonic,
            external_connections={**connections, **options.external_connections},
            mounts=mounts)
        self.apps: dict[str, Any] = {"codeartifact": self.emulator}
        source_options = {
            "nexus": {"mode": options.nexus_mode, "latency": options.source_latency},
            "artifactory": {"edition": options.artifactory_edition,
                            "latency": options.source_latency},
        }
        for name, module in self.modules.items():
            self.apps[name] = module.build_app(options.seed, **source_options[name])
            getattr(self.apps[name].state, name).watcher.min_interval = (
                options.seed_check_interval)
        self._prepare_target()
        self._servers: list[_Server] = []
        self._stopping: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- seed → target -------------------------------------------------------------------------
    def _public_registry(self) -> tuple[dict, dict[str, str]]:
        nexus = _source_module("nexus")
        if self.seed is None or nexus is None:
            return {}, {}
        public_base = self.base_url + PUBLIC_PREFIX
        app = nexus.build_app(self.options.seed, anonymous=True, base_url=public_base)
        connections = {}
        for repo in self.seed.repositories:
            if repo.type == "proxy" and repo.format in CONNECTIONS:
                conn = CONNECTIONS[repo.format][0]
                connections.setdefault(conn, f"{public_base}/repository/{repo.name}/")
        return {PUBLIC_PREFIX: app}, connections

    def manifest_repositories(self) -> list[tuple[str, str, str]]:
        """(name, mode, seed format) of every hosted/proxy seed repository; groups are left out."""
        if self.seed is None:
            return []
        out = []
        for repo in self.seed.repositories:
            if not repo.served_by(self.options.manifest_source):
                continue  # a repository only the other source server has
            if repo.type == "hosted":
                out.append((repo.name, "copy", repo.format))
            elif repo.type == "proxy":
                out.append((repo.name, "prewarm", repo.format))
        return out

    def _prepare_target(self) -> None:
        em, domain = self.emulator, self.options.domain
        em.ensure_domain(domain)
        for name, mode, fmt in self.manifest_repositories():
            if mode == "prewarm" and fmt in CONNECTIONS:
                conn, store_name = CONNECTIONS[fmt]
                em.ensure_repository(domain, store_name, external_connection=conn)
                em.ensure_repository(domain, name, upstreams=[store_name])
            else:
                em.ensure_repository(domain, name)

    # -- what clients need ---------------------------------------------------------------------
    def url(self, name: str) -> str | None:
        if name not in self.ports:
            return None
        base = f"http://{self.options.host}:{self.ports[name]}"
        return base + "/artifactory" if name == "artifactory" else base

    def env(self) -> dict[str, str]:
        env = {**AWS_ENV, "AWS_DEFAULT_REGION": self.options.region}
        for module in self.modules.values():
            env.update(getattr(module, "DEFAULT_CREDENTIALS", {}))
        return env

    def info(self) -> dict:
        o = self.options
        return {
            "codeartifact": {
                "endpoint_url": self.base_url, "domain": o.domain, "domain_owner": o.domain_owner,
                "region": o.region, "requests_url": self.base_url + "/_sandbox/requests",
                "faults_url": self.base_url + "/_sandbox/faults",
            },
            "nexus": {"url": self.url("nexus")},
            "artifactory": {"url": self.url("artifactory")},
            "env": self.env(),
        }

    def write_manifest(self, path: Path) -> None:
        o = self.options
        source = o.manifest_source
        module = self.modules.get(source)
        creds = list(getattr(module, "DEFAULT_CREDENTIALS", {}) if module else {})
        lines = ["# Written by `migrator sandbox serve --write-manifest`.", "[source]",
                 f'kind = "{source}"', f'url = "{self.url(source) or ""}"']
        users = [c for c in creds if c.endswith("_USERNAME")]
        passwords = [c for c in creds if c.endswith("_PASSWORD")]
        tokens = [c for c in creds if c.endswith("_TOKEN")]
        if users and passwords:
            lines += [f'username_env = "{users[0]}"', f'password_env = "{passwords[0]}"']
        elif tokens:
            lines.append(f'token_env = "{tokens[0]}"')
        lines += ["", "[target]", f'domain = "{o.domain}"', f'domain_owner = "{o.domain_owner}"',
                  f'region = "{o.region}"', f'endpoint_url = "{self.base_url}"']
        for name, mode, fmt in self.manifest_repositories():
            lines += ["", "[[repositories]]", f'source = "{name}"', f'target = "{name}"',
                      f'mode = "{mode}"', f'format = "{FORMATS.get(fmt, fmt)}"']
        lines += ["", "[options]", "concurrency = 8", "rate_budget = 90", ""]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines))

    # -- running -------------------------------------------------------------------------------
    async def run(self, on_ready=None) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        for name, app in self.apps.items():
            # server_header=False: each emulator sends its product's own Server header
            # (Nexus/<version> (<edition>), Artifactory/...), never "uvicorn".
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=2, server_header=False)
            server = _Server(config)
            server._sandbox_socket = self.sockets[name]  # type: ignore[attr-defined]
            self._servers.append(server)
        tasks = [asyncio.create_task(s.serve(sockets=[s._sandbox_socket]))  # type: ignore[attr-defined]
                 for s in self._servers]
        for _ in range(1000):  # bounded wait for every server to accept connections
            if all(s.started for s in self._servers) or any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        if not all(s.started for s in self._servers):
            for s in self._servers:
                s.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            raise RuntimeError("sandbox servers did not start")
        if self.options.write_manifest:
            self.write_manifest(self.options.write_manifest)
        if on_ready:
            on_ready(self)
        store = self.emulator.store
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=0.5)
            store.save_if_dirty()  # writes are batched; see Store.save
        for s in self._servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        self.emulator.close()

    def stop(self) -> None:
        if self.loop and self._stopping:
            self.loop.call_soon_threadsafe(self._stopping.set)


def serve(options: ServeOptions) -> None:
    """Serve until SIGTERM/SIGINT; print the JSON line once every server answers."""
    sandbox = Sandbox(options)

    def ready(sb: Sandbox) -> None:
        # What the servers loaded (seed indexes, routes, modules) lives as long as the
        # process: out of the collector's sight, so its full collections stay short. The
        # quotas stamp requests when the loop reaches them; a long pause would stamp the
        # requests that came in meanwhile together, a burst no client sent.
        gc.freeze()
        sys.stdout.write(json.dumps(sb.info()) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sandbox.stop)
        await sandbox.run(ready)

    asyncio.run(main())


@contextlib.contextmanager
def start_in_thread(options: ServeOptions | None = None, timeout: float = 30.0
                    ) -> Iterator[Sandbox]:
    """Run a whole sandbox in a background thread (ephemeral ports by default)."""
    sandbox = Sandbox(options or ServeOptions())
    ready = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(sandbox.run(lambda _sb: ready.set()))
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=target, name="migrator-sandbox", daemon=True)
    thread.start()
    if not ready.wait(timeout) or failure:
        sandbox.stop()
        raise RuntimeError(f"sandbox did not start: {failure[:1]}")
    try:
        yield sandbox
    finally:
        sandbox.stop()
        thread.join(timeout)


@contextlib.asynccontextmanager
async def running(options: ServeOptions | None = None) -> AsyncIterator[Sandbox]:
    """Run a whole sandbox on the current event loop (for async tests).

    Only async clients may talk to it from the same loop; blocking ones (boto3, subprocesses
    waited on synchronously) would stall the servers: use `start_in_thread` for those.
    """
    sandbox = Sandbox(options or ServeOptions())
    ready = asyncio.Event()
    task = asyncio.create_task(sandbox.run(lambda _sb: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises why it did not start
    try:
        yield sandbox
    finally:
        sandbox.stop()
        await task


# -- the command ----------------------------------------------------------------------------------
sandbox_app = typer.Typer(help="Local stand-ins for CodeArtifact, Nexus and Artifactory.",
                          rich_markup_mode=None)  # plain help, as the core's


@sandbox_app.callback()
def _group() -> None:
    """Local stand-ins for CodeArtifact, Nexus and Artifactory."""


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} must look like NAME=VALUE, got {item!r}")
        out[key] = value
    return out


@sandbox_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="CodeArtifact port; 0 = ephemeral.")] = 0,
    nexus_port: Annotated[int, typer.Option(help="Nexus emulator port; 0 = ephemeral.")] = 0,
    artifactory_port: Annotated[int, typer.Option(help="Artifactory port; 0 = ephemeral.")] = 0,
    seed: Annotated[Path, typer.Option(
        help="Seed corpus folder (repos.toml); default: the packaged demo seed.")] = DEMO_SEED,
    data_dir: Annotated[Path | None, typer.Option(help="Keep CodeArtifact state here.")] = None,
    write_manifest: Annotated[Path | None, typer.Option(help="Write a manifest here.")] = None,
    manifest_source: Annotated[str, typer.Option(help="nexus or artifactory.")] = "nexus",
    domain: str = "demo",
    domain_owner: str = "111122223333",
    region: str = "us-east-1",
    no_quotas: Annotated[bool, typer.Option("--no-quotas",
                                            help="Switch every quota off.")] = False,
    quota_scale: Annotated[float, typer.Option(help="Multiply every quota.")] = 1.0,
    quota: Annotated[list[str] | None,
                     typer.Option(help="NAME=LIMIT per second (0 = off).")] = None,
    latency: Annotated[float, typer.Option(help="Seconds added per request.")] = 0.0,
    latency_jitter: float = 0.0,
    error_rate: Annotated[float, typer.Option(help="Fraction answered 5xx.")] = 0.0,
    reset_rate: Annotated[float, typer.Option(help="Fraction of connections reset.")] = 0.0,
    truncate_rate: Annotated[float, typer.Option(help="Fraction of GET bodies cut.")] = 0.0,
    throttle_rate: Annotated[float, typer.Option(
        help="Fraction answered 429 ThrottlingException (beside the quotas).")] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault RNG (replay).")] = 0,
    publish_delay: Annotated[float, typer.Option(help="Seconds until a publish is "
                                                      "visible to list/describe APIs.")] = 0.0,
    ingest_delay: Annotated[float, typer.Option(help="Seconds until ingested versions show "
                                                     "in list APIs (AWS: about 180).")] = 0.0,
    external_connection: Annotated[list[str] | None, typer.Option(
        help="public:npmjs=URL of a registry backing that connection.")] = None,
    behaviour: Annotated[list[str] | None, typer.Option(
        help="SWITCH=VALUE of [UNCERTAIN] behaviours (store.Behaviour).")] = None,
    nexus_mode: Annotated[str, typer.Option(
        help="Nexus storage mode: sql (100 per page) or orient (10 per page).")] = "sql",
    artifactory_edition: Annotated[str, typer.Option(
        help="pro (File List API) or oss (AQL only).")] = "pro",
    source_latency: Annotated[float, typer.Option(
        help="Seconds added to every Nexus/Artifactory request.")] = 0.0,
    seed_check_interval: Annotated[float, typer.Option(
        help="Seconds between checks of the seed folder for changes (0 = every request).")
    ] = 0.0,
) -> None:
    """Serve the sandbox; print one JSON line when ready; stop on SIGTERM/SIGINT."""
    overrides = {k: float(v) for k, v in _pairs(quota or [], "--quota").items()}
    b = Behaviour(publish_delay=publish_delay, ingest_delay=ingest_delay)
    for key, value in _pairs(behaviour or [], "--behaviour").items():
        if key not in b.__dataclass_fields__:
            raise typer.BadParameter(f"unknown behaviour switch {key}")
        current = getattr(b, key)
        setattr(b, key, value.lower() in ("1", "true", "yes") if isinstance(current, bool)
                else type(current)(value))
    options = ServeOptions(
        host=host, port=port, nexus_port=nexus_port, artifactory_port=artifactory_port,
        seed=seed, data_dir=data_dir, write_manifest=write_manifest,
        manifest_source=manifest_source, domain=domain, domain_owner=domain_owner,
        region=region,
        quotas=QuotaConfig(enabled=not no_quotas, scale=quota_scale, overrides=overrides),
        faults=FaultConfig(seed=fault_seed, latency=latency, latency_jitter=latency_jitter,
                           error_rate=error_rate, reset_rate=reset_rate,
                           truncate_rate=truncate_rate, throttle_rate=throttle_rate),
        behaviour=b,
        external_connections=_pairs(external_connection or [], "--external-connection"),
        nexus_mode=nexus_mode, artifactory_edition=artifactory_edition,
        source_latency=source_latency, seed_check_interval=seed_check_interval,
    )
    if nexus_mode not in ("sql", "orient"):
        raise typer.BadParameter("--nexus-mode must be sql or orient")
    if artifactory_edition not in ("pro", "oss"):
        raise typer.BadParameter("--artifactory-edition must be pro or oss")
    try:
        serve(options)
    except SandboxError as exc:
        # The core CLI catches only its own error root: say what is wrong here, no traceback.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


if __name__ == "__main__":
    sandbox_app(prog_name="migrator sandbox")
