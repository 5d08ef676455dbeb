"""One seed, two products: each emulator lists exactly the seed's files, with the sizes and
hashes computed here from the bytes on disk (not by the emulators' shared derive code); and
one real socket."""

from __future__ import annotations

import hashlib
import socket
import threading
import tomllib

import httpx
import pytest
import uvicorn

from migrator_sandbox import artifactory, nexus

from .conftest import ART_AUTH, NEXUS_AUTH, SEED, client

SIDECARS = (".sha1", ".md5", ".sha256", ".sha512")

Inventory = dict[tuple[str, str], dict[str, object]]  # (repository, path) -> facts


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


def _content_repos() -> list[tuple[str, str, str]]:
    """(name, format, type) of the hosted and proxy repositories both products serve, read
    from repos.toml directly (not through the emulators' seed loader)."""
    doc = tomllib.loads((SEED / "repos.toml").read_text())
    return [(r["name"], r["format"], r["type"]) for r in doc["repository"]
            if r.get("server") is None and r["type"] != "group"]


def seed_files_on_disk() -> Inventory:
    """The independent expectation: every package file under the seed folders, with the size,
    md5, sha1 and sha256 computed here from its bytes (hashlib), not by the emulators."""
    out: Inventory = {}
    for name, fmt, _type in _content_repos():
        root = SEED / name
        for file in sorted(root.rglob("*")):
            rel = file.relative_to(root).as_posix()
            if file.is_file() and _is_package_file(fmt, rel):
                data = file.read_bytes()
                out[(name, rel)] = {"size": len(data), **{
                    a: hashlib.new(a, data).hexdigest() for a in ("md5", "sha1", "sha256")}}
    return out


async def nexus_inventory() -> Inventory:
    found: Inventory = {}
    async with client(nexus.build_app(SEED, mode="orient"), auth=NEXUS_AUTH) as c:
        for name, fmt, _type in _content_repos():
            token = None
            while True:
                params = {"repository": name}
                if token:
                    params["continuationToken"] = token
                page = (await c.get("/service/rest/v1/assets", params=params)).json()
                for a in page["items"]:
                    if _is_package_file(fmt, a["path"]):
                        assert (name, a["path"]) not in found, a["path"]
                        found[(name, a["path"])] = {"size": a["fileSize"], **a["checksum"]}
                token = page["continuationToken"]
                if not token:
                    break
    return found


async def artifactory_inventory() -> Inventory:
    found: Inventory = {}
    async with client(artifactory.build_app(SEED), auth=ART_AUTH) as c:
        for name, fmt, repo_type in _content_repos():
            key = f"{name}-cache" if repo_type == "proxy" else name
            rows = (await c.post("/artifactory/api/search/aql", content=(
                f'items.find({{"repo":"{key}"}}).include("size","actual_md5","actual_sha1",'
                '"sha256").sort({"$asc":["path","name"]}).offset(0).limit(1000)'))).json()
            for r in rows["results"]:
                path = r["name"] if r["path"] == "." else f"{r['path']}/{r['name']}"
                if _is_package_file(fmt, path):
                    assert (name, path) not in found, path
                    found[(name, path)] = {"size": r["size"], "md5": r["actual_md5"],
                                           "sha1": r["actual_sha1"], "sha256": r["sha256"]}
    return found


def _agree(found: Inventory, expected: Inventory) -> None:
    assert set(found) == set(expected)
    for key, facts in found.items():
        want = expected[key]
        assert facts["size"] == want["size"], key
        for algo, value in facts.items():
            if algo in want and algo != "size":
                assert value == want[algo], (key, algo)
        # whatever else a product reports, sha1 is always there and right
        assert facts["sha1"] == want["sha1"], key


def test_the_expectation_is_the_seed_as_written() -> None:
    """A few files pinned by hand, so the on-disk expectation itself is not circular."""
    expected = seed_files_on_disk()
    assert len(expected) > 30
    jar = SEED / "maven-releases/com/acme/greeter/1.0.0/greeter-1.0.0.jar"
    # the seed's own .sha1/.md5 sidecars (written by mvn deploy) agree with hashlib
    facts = expected[("maven-releases", "com/acme/greeter/1.0.0/greeter-1.0.0.jar")]
    assert facts["sha1"] == jar.with_name(jar.name + ".sha1").read_text().split()[0]
    assert facts["md5"] == jar.with_name(jar.name + ".md5").read_text().split()[0]
    assert ("npm-internal", "@types/ms/-/ms-0.7.34.tgz") in expected
    assert ("raw-files", "tools/install.sh") in expected
    assert not any(p.endswith((*SIDECARS, "maven-metadata.xml")) for _, p in expected)


@pytest.mark.anyio
async def test_nexus_lists_each_seed_file_with_the_sizes_and_hashes_of_its_bytes() -> None:
    _agree(await nexus_inventory(), seed_files_on_disk())


@pytest.mark.anyio
async def test_artifactory_lists_each_seed_file_with_the_sizes_and_hashes_of_its_bytes(
        ) -> None:
    found = await artifactory_inventory()
    _agree(found, seed_files_on_disk())
    assert all({"md5", "sha1", "sha256"} <= set(f) for f in found.values())


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
