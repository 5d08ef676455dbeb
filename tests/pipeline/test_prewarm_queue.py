"""Lockfile items into the state (`migrator.pipeline.prewarm.queue_lockfiles`) with an injected
target: one row per file, deduplicated across lockfiles and against the proxy caches, internal
names excluded with the reason, requirements pins resolved from the target's simple page, and
a missing target named with its fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from migrator.errors import ConfigError
from migrator.manifest import parse_manifest
from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.pipeline.prewarm import queue_lockfiles
from migrator.state import WorkQueue

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "sample-manifests" / "lockfiles"
PACKAGING = "5b8f2217dbdbd2f7f384c41c628544e6d52f2d0f53c6d0c3ea61aa5d1d7ff124"
SIX = ROOT / "migrator_sandbox/demo_seed/pypi-proxy/packages/six/1.16.0/" \
    "six-1.16.0-py2.py3-none-any.whl"
SIX_SHA = hashlib.sha256(SIX.read_bytes()).hexdigest()

BASE = """
[source]
kind = "nexus"
url = "https://nexus.example.com"
username_env = "U"
password_env = "P"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"
[[repositories]]
source = "npm-proxy"
target = "npm-team"
mode = "prewarm"
format = "npm"
"""


class SimplePages:
    """The target's PyPI simple pages: (file name, sha256) per project."""

    def __init__(self, pages: dict[str, list[tuple[str, str | None]]]) -> None:
        self.pages = pages
        self.asked: list[tuple[str, str]] = []

    async def pypi_files(self, repository: str, name: str):
        self.asked.append((repository, name))
        return self.pages.get(name, [])


@pytest.fixture
def queue(tmp_path):
    q = WorkQueue.open(tmp_path / "s.sqlite")
    yield q
    q.close()


def manifest(tmp_path, extra: str = ""):
    path = tmp_path / "m.toml"
    path.write_text(BASE + extra)
    return parse_manifest(path.read_text(), path)


def cache(q, repo: str, fmt: Format, target: str, path: str, coords: Coordinates,
          mode: str = "prewarm") -> None:
    rid = q.upsert_repository(source=repo, target=target, format=fmt,
                              repo_type=RepoType.PROXY if mode == "prewarm" else
                              RepoType.HOSTED, mode=mode)
    q.record_page(rid, [(DiscoveredAsset(path=path, size=1, checksums={}, coordinates=coords,
                                         kind=AssetKind.ARTIFACT), None)],
                  cursor=None, done=True)


def rows(q, source: str) -> dict[str, tuple[str, str | None, str | None]]:
    return {p: (s, r, h) for p, s, r, h in q.conn.execute(
        "SELECT a.path, a.status, a.reason, a.src_sha256 FROM assets a JOIN repositories r "
        "ON r.id = a.repository_id WHERE r.source = ?", (source,))}


async def test_npm_items_deduplicated_against_caches_and_internal_excluded(tmp_path, queue):
    m = manifest(tmp_path)
    cache(queue, "npm-proxy", Format.NPM, "npm-team", "ms/-/ms-2.1.3.tgz",
          Coordinates(Format.NPM, "", "ms", "2.1.3"))
    cache(queue, "npm-internal", Format.NPM, "npm-internal", "is-number/-/is-number-7.0.0.tgz",
          Coordinates(Format.NPM, "", "is-number", "7.0.0"), mode="copy")
    found = await queue_lockfiles(m, queue, SimplePages({}), [
        LOCKS / "yarn-classic/yarn.lock", LOCKS / "npm/package-lock.json"])
    assert found.targets == {"npm": "npm-team"}
    assert found.in_caches == 1  # ms 2.1.3 is requested once, from the cache's row
    assert found.internal == {"is-number@7.0.0": "npm-internal"}
    got = rows(queue, "lockfiles:npm")
    assert set(got) == {"@isaacs/string-locale-compare/-/string-locale-compare-1.1.0.tgz",
                        "ms/-/ms-2.0.0.tgz", "ms/-/ms-2.1.2.tgz",
                        "is-number/-/is-number-7.0.0.tgz"}
    assert got["is-number/-/is-number-7.0.0.tgz"][0] == "excluded"
    assert "internal package" in got["is-number/-/is-number-7.0.0.tgz"][1]
    assert found.queued == {"npm": 3} and found.versions == {"npm": 3}
    sha512 = queue.conn.execute("SELECT src_sha512 FROM assets WHERE path = "
                                "'ms/-/ms-2.1.2.tgz'").fetchone()[0]
    assert sha512 and len(sha512) == 128  # the lockfile's integrity, to check against


async def test_queueing_twice_changes_nothing(tmp_path, queue):
    m = manifest(tmp_path)
    lock = [LOCKS / "pnpm/pnpm-lock.yaml"]
    await queue_lockfiles(m, queue, SimplePages({}), lock)
    before = rows(queue, "lockfiles:npm")
    again = await queue_lockfiles(m, queue, SimplePages({}), lock)
    assert rows(queue, "lockfiles:npm") == before and again.queued == {"npm": 2}


async def test_requirements_pins_resolve_to_the_files_the_hashes_allow(tmp_path, queue):
    m = manifest(tmp_path, '[prewarm.targets]\npypi = "py-team"\n')
    cache(queue, "pypi-internal", Format.PYPI, "pypi-internal",
          "packages/typing-extensions/4.12.2/typing_extensions-4.12.2.tar.gz",
          Coordinates(Format.PYPI, "", "typing-extensions", "4.12.2"), mode="copy")
    pages = SimplePages({
        "packaging": [("packaging-24.1-py3-none-any.whl", PACKAGING),
                      ("packaging-24.1.tar.gz", "0" * 64),  # not allowed by the pin's hash
                      ("packaging-24.0-py3-none-any.whl", "1" * 64)],
        "six": [("six-1.16.0-py2.py3-none-any.whl", SIX_SHA)],
    })
    found = await queue_lockfiles(m, queue, pages, [LOCKS / "python/requirements.txt",
                                                    LOCKS / "python/poetry.lock"])
    got = rows(queue, "lockfiles:pypi")
    assert got["packages/packaging/24.1/packaging-24.1-py3-none-any.whl"] == (
        "discovered", None, PACKAGING)
    assert got["packages/six/1.16.0/six-1.16.0-py2.py3-none-any.whl"][2] == SIX_SHA
    assert not [p for p in got if "tar.gz" in p or "24.0" in p]
    # iniconfig's page is empty here, but poetry.lock names its file: that is requested
    assert "packages/iniconfig/2.0.0/iniconfig==2.0.0" not in got
    assert "packages/iniconfig/2.0.0/iniconfig-2.0.0-py3-none-any.whl" in got
    assert found.unresolved == []
    # alone, a pin no page lists is recorded under a name no page has: it ends not found
    alone = await queue_lockfiles(m, queue, SimplePages({}), [LOCKS / "python/requirements.txt"])
    assert "iniconfig==2.0.0" in alone.unresolved
    assert "packages/iniconfig/2.0.0/iniconfig==2.0.0" in rows(queue, "lockfiles:pypi")
    assert ("py-team", "typing-extensions") not in pages.asked  # internal names: no lookup


async def test_no_target_for_a_format_names_the_fix(tmp_path, queue):
    # an injected target without CodeArtifact's control plane: no upstream chain to walk
    # (tests/pipeline/test_prewarm_target.py walks them)
    with pytest.raises(ConfigError, match="no target repository for the maven") as e:
        await queue_lockfiles(manifest(tmp_path), queue, SimplePages({}),
                              [LOCKS / "maven/gradle.lockfile"])
    assert "[prewarm.targets] maven" in e.value.hint


async def test_dry_run_records_nothing(tmp_path, queue):
    found = await queue_lockfiles(manifest(tmp_path), queue, None,
                                  [LOCKS / "npm/package-lock.json"], record=False)
    assert found.queued == {"npm": 3} and found.requests()["total"] == 3 + 2 * 3
    assert not rows(queue, "lockfiles:npm")


async def test_a_dry_run_counts_a_pin_another_lockfile_resolves_once(tmp_path, queue):
    m = manifest(tmp_path, '[prewarm.targets]\npypi = "py-team"\n')
    found = await queue_lockfiles(m, queue, None, [LOCKS / "python/requirements.txt",
                                                   LOCKS / "python/poetry.lock"], record=False)
    # poetry.lock names the files of iniconfig and six; the pins of packaging and
    # typing-extensions name none but allow one file per hash: 1 and 2 (wheel and sdist)
    assert found.queued == {"pypi": 5} and found.versions == {"pypi": 4}
    r = found.requests()
    # a GET per file plus its simple page; two reads per version at least (polling adds)
    assert r["native_gets"] == 10 and r["native_gets_exact"] and r["describe_and_list"] == 8
    assert "(10 native GETs; at least 8 DescribePackageVersion" in found.render()


async def test_a_dry_run_says_at_least_for_a_pin_without_hashes(tmp_path, queue):
    m = manifest(tmp_path, '[prewarm.targets]\npypi = "py-team"\n')
    req = tmp_path / "requirements.txt"
    req.write_text("six==1.16.0\nattrs==23.2.0 --hash=sha256:" + "a" * 64
                   + " --hash=sha256:" + "b" * 64 + "\n")
    found = await queue_lockfiles(m, queue, None, [req], record=False)
    assert found.queued == {"pypi": 3} and found.open_ended == 1
    assert not found.requests()["native_gets_exact"]
    assert ("at least 6 native GETs: 1 requirements pin(s) without hashes count as one file "
            "each") in found.render()


async def test_a_page_without_digests_still_checks_a_pins_one_file(tmp_path, queue):
    m = manifest(tmp_path, '[prewarm.targets]\npypi = "py-team"\n')
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"packaging==24.1 --hash=sha256:{PACKAGING}\n")
    await queue_lockfiles(m, queue, SimplePages(
        {"packaging": [("packaging-24.1-py3-none-any.whl", None)]}), [lock])
    got = rows(queue, "lockfiles:pypi")
    # CodeArtifact's SHA-256 of the ingested file is compared with the pinned one
    assert got["packages/packaging/24.1/packaging-24.1-py3-none-any.whl"][2] == PACKAGING
