"""One seed, two products: both emulators yield the same inventory; and one real socket."""

from __future__ import annotations

import hashlib
import socket
import threading

import httpx
import pytest
import uvicorn

from migrator_sandbox import artifactory, nexus
from migrator_sandbox.seed import load_seed

from .conftest import ART_AUTH, NEXUS_AUTH, SEED, client

SIDECARS = (".sha1", ".md5", ".sha256", ".sha512")


def _is_package_file(repo_format: str, path: str) -> bool:
    """Files a crawler migrates: not checksum sidecars, not generated metadata."""
    name = path.rsplit("/", 1)[-1]
    if name.endswith(SIDECARS) or name == "maven-metadata.xml":
        return False
    if repo_format == "npm":
        return name.endswith(".tgz")
    if repo_format == "pypi":
        return not path.startswith("simple/")
    return True


@pytest.mark.anyio
async def test_both_emulators_yield_the_same_inventory() -> None:
    seed = load_seed(SEED)
    repos = [r for r in seed.repositories if r.server is None and r.type != "group"]
    nexus_inv: set[tuple[str, str, str, int]] = set()
    async with client(nexus.build_app(SEED, mode="orient"), auth=NEXUS_AUTH) as c:
        for repo in repos:
            token = None
            while True:
                params = {"repository": repo.name}
                if token:
                    params["continuationToken"] = token
                page = (await c.get("/service/rest/v1/assets", params=params)).json()
                for a in page["items"]:
                    if _is_package_file(repo.format, a["path"]):
                        nexus_inv.add((repo.name, a["path"], a["checksum"]["sha1"],
                                       a["fileSize"]))
                token = page["continuationToken"]
                if not token:
                    break
    art_inv: set[tuple[str, str, str, int]] = set()
    async with client(artifactory.build_app(SEED), auth=ART_AUTH) as c:
        for repo in repos:
            key = f"{repo.name}-cache" if repo.type == "proxy" else repo.name
            rows = (await c.post("/artifactory/api/search/aql", content=(
                f'items.find({{"repo":"{key}"}}).include("actual_sha1")'
                '.sort({"$asc":["path","name"]}).offset(0).limit(1000)'))).json()["results"]
            for r in rows:
                path = r["name"] if r["path"] == "." else f"{r['path']}/{r['name']}"
                if _is_package_file(repo.format, path):
                    art_inv.add((repo.name, path, r["actual_sha1"], r["size"]))
    assert nexus_inv == art_inv
    expected = sum(1 for r in repos for f in r.files if f.kind == "artifact"
                   and _is_package_file(r.format, f.path))
    assert len(nexus_inv) == expected > 30


def test_nexus_over_a_real_loopback_socket() -> None:
    """uvicorn on 127.0.0.1 with an ephemeral port. The socket listens before the server
    thread starts, so the first request simply waits in the backlog: no readiness polling."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    app = nexus.build_app(SEED, mode="sql", base_url="https://nexus.public.example")
    # server_header=False: the app sends Nexus' own `Server` header.
    config = uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=NEXUS_AUTH,
                          timeout=10) as c:
            r = c.get("/service/rest/v1/assets", params={"repository": "npm-internal"})
            assert r.status_code == 200 and r.headers["server"].startswith("Nexus/3.")
            doc = c.get("/repository/npm-internal/left-pad").json()
            dist = doc["versions"]["1.3.0"]["dist"]
            assert dist["tarball"].startswith("https://nexus.public.example/repository/")
            body = c.get(dist["tarball"].replace("https://nexus.public.example", "")).content
            assert hashlib.sha1(body).hexdigest() == dist["shasum"]
            assert len(c.get("/_sandbox/requests").json()) == 3
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


@pytest.mark.anyio
async def test_server_key_limits_a_repository_to_one_product(tmp_path) -> None:
    (tmp_path / "repos.toml").write_text(
        '[[repository]]\nname = "only-nexus"\nformat = "raw"\ntype = "hosted"\n'
        'server = "nexus"\n\n'
        '[[repository]]\nname = "only-art"\nformat = "generic"\ntype = "local"\n'
        'server = "artifactory"\n')
    for name in ("only-nexus", "only-art"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_text(name)
    async with client(nexus.build_app(tmp_path), auth=NEXUS_AUTH) as c:
        names = [r["name"] for r in (await c.get("/service/rest/v1/repositories")).json()]
        assert names == ["only-nexus"]
        r = await c.get("/service/rest/v1/assets", params={"repository": "only-art"})
        assert r.status_code == 404
    async with client(artifactory.build_app(tmp_path), auth=ART_AUTH) as c:
        repos = (await c.get("/artifactory/api/repositories")).json()
        assert repos == [{"key": "only-art", "type": "LOCAL", "description": "",
                          "url": "http://emulator.test/artifactory/only-art",
                          "packageType": "Generic"}]
        assert (await c.get("/artifactory/only-nexus/a.txt")).status_code == 404
