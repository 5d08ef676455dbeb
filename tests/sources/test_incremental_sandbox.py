"""The crawlers' sync and scoping listings against the source emulators, in process: Nexus
`lastDownloaded` (from the seed, then from a download), Artifactory `stat.downloaded` in AQL
criteria, and AQL on `modified` seeing a file added under a running emulator."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import anyio
import httpx

from migrator.models import Format, RepoType, SourceRepository
from migrator.sources.artifactory import ArtifactoryCrawler
from migrator.sources.nexus import NexusCrawler

from .conftest import SEED

RAW = SourceRepository("raw-files", Format.GENERIC, RepoType.HOSTED)
USED = "docs/RELEASE-NOTES.txt"


def seed_with_downloads(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    toml = (seed / "repos.toml").read_text()
    toml = toml.replace('[[repository]]\nname = "raw-files"\nformat = "raw"\ntype = "hosted"\n',
                        '[[repository]]\nname = "raw-files"\nformat = "raw"\ntype = "hosted"\n'
                        f'\n[repository.downloaded]\n"{USED}" = "2026-11-20T10:00:00Z"\n', 1)
    assert "[repository.downloaded]" in toml
    (seed / "repos.toml").write_text(toml)
    return seed


def test_nexus_lists_last_downloaded_from_the_seed_then_from_a_download(tmp_path):
    from migrator_sandbox import nexus

    app = nexus.build_app(seed_with_downloads(tmp_path), mode="sql")
    user, password = (nexus.DEFAULT_CREDENTIALS[k] for k in ("NEXUS_USERNAME",
                                                             "NEXUS_PASSWORD"))

    async def go():
        client = httpx.AsyncClient(base_url="http://nexus.test", auth=(user, password),
                                   transport=httpx.ASGITransport(app=app))
        c = NexusCrawler(client)
        before = {a.path: a.last_downloaded async for p in c.crawl(RAW) for a, _ in p.items}
        r = await client.get("/repository/raw-files/tools/install.sh")
        assert r.status_code == 200
        after = {a.path: a.last_downloaded async for p in c.crawl(RAW) for a, _ in p.items}
        await c.aclose()
        return before, after

    before, after = anyio.run(go)
    assert before[USED] == "2026-11-20T10:00:00.000Z"
    assert before["tools/install.sh"] is None  # never downloaded
    assert after["tools/install.sh"] is not None and after[USED] == before[USED]


def test_artifactory_aql_filters_on_stat_downloaded_and_on_modified(tmp_path):
    from migrator_sandbox import artifactory

    seed = seed_with_downloads(tmp_path)
    app = artifactory.build_app(seed, edition="oss")
    user, password = (artifactory.DEFAULT_CREDENTIALS[k] for k in ("ARTIFACTORY_USERNAME",
                                                                   "ARTIFACTORY_PASSWORD"))

    async def go():
        client = httpx.AsyncClient(base_url="http://art.test/artifactory",
                                   auth=(user, password), transport=httpx.ASGITransport(app=app))
        c = ArtifactoryCrawler(client, listing="aql")
        used = [p async for page in c.list_paths(
            RAW, {"stat.downloaded": {"$gte": "2026-11-01T00:00:00.000Z"}}) for p in page]
        later = [p async for page in c.list_paths(
            RAW, {"stat.downloaded": {"$gte": "2026-11-21T00:00:00.000Z"}}) for p in page]
        mark = time.time()
        new = seed / "raw-files" / "docs" / "NEW.txt"
        new.write_text("added after the mark\n")
        os.utime(new, (mark + 5, mark + 5))
        since = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(mark))
        modified = [a.path async for p in c.crawl_modified(RAW, since) for a, _ in p.items]
        await c.aclose()
        return used, later, modified

    used, later, modified = anyio.run(go)
    assert used == [USED] and later == []
    assert modified == ["docs/NEW.txt"]
