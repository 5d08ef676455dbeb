"""Shards: parsing `--shard`, the partition of a crawl, one state per shard, the rate share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from migrator.errors import ConfigError
from migrator.manifest import parse_manifest
from migrator.models import (
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
    Shard,
    SourceRepository,
    shard_of,
)
from migrator.pipeline.plan import plan
from migrator.pipeline.shard import (
    bind_shard,
    recorded_shard,
    resolve_shard,
    shard_state_path,
    with_rate_share,
)
from migrator.pipeline.statefile import locate_state
from migrator.sources import Page
from migrator.state import WorkQueue

MANIFEST = """
[source]
kind = "nexus"
url = "http://nexus.test"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"

[[repositories]]
source = "npm-internal"
target = "npm-internal"

[options]
rate_budget = 90
"""


# -- parsing ---------------------------------------------------------------------------------

def test_explicit_spec():
    assert resolve_shard("2/3", environ={}) == Shard(2, 3)
    assert resolve_shard(" 1 / 1 ", environ={}) == Shard(1, 1)
    assert resolve_shard(None, environ={}) is None


@pytest.mark.parametrize("spec", ["0/3", "4/3", "2", "a/b", "2/0", "-1/3"])
def test_bad_specs_are_one_line_config_errors(spec):
    with pytest.raises(ConfigError) as err:
        resolve_shard(spec, environ={})
    assert "--shard" in str(err.value)
    assert err.value.exit_code == 2


def test_auto_reads_the_kubernetes_index_and_counts_from_one():
    env = {"JOB_COMPLETION_INDEX": "0"}
    assert resolve_shard("auto", shards=3, environ=env) == Shard(1, 3)
    assert resolve_shard("auto", shards=3, environ={"JOB_COMPLETION_INDEX": "2"}) == Shard(3, 3)
    assert resolve_shard("auto", environ={**env, "MIGRATOR_SHARDS": "4"}) == Shard(1, 4)


def test_auto_reads_an_aws_batch_array_index_and_size():
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "4", "AWS_BATCH_JOB_ARRAY_SIZE": "5"}
    assert resolve_shard("auto", environ=env) == Shard(5, 5)


def test_auto_without_n_says_kubernetes_does_not_give_it():
    with pytest.raises(ConfigError) as err:
        resolve_shard("auto", environ={"JOB_COMPLETION_INDEX": "1"})
    assert "number of shards" in str(err.value) and "--shards" in str(err.value)


def test_auto_outside_a_job_and_index_beyond_n():
    with pytest.raises(ConfigError, match="JOB_COMPLETION_INDEX"):
        resolve_shard("auto", shards=3, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_shard("auto", shards=3, environ={"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(ConfigError, match="disagree"):
        resolve_shard("1/3", shards=4, environ={})
    with pytest.raises(ConfigError, match="needs --shard"):
        resolve_shard(None, shards=4, environ={})


# -- the partition ---------------------------------------------------------------------------

def test_partition_is_stable_across_processes():
    """SHA-256, not Python's per-process randomised `hash`: another interpreter (another
    PYTHONHASHSEED) puts every package in the same shard."""
    names = [f"pkg-{i}" for i in range(200)]
    here = [shard_of("npm", "acme", n, 7) for n in names]
    code = ("from migrator.models import shard_of;"
            f"print([shard_of('npm', 'acme', n, 7) for n in {names!r}])")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}, check=True).stdout
    assert str(here) == there.strip()
    assert set(here) == set(range(1, 8))  # every shard gets some


def _asset(name: str, version: str, path: str | None = None) -> DiscoveredAsset:
    c = Coordinates(Format.NPM, "acme", name, version)
    return DiscoveredAsset(path=path or f"@acme/{name}/-/{name}-{version}.tgz", size=3,
                           checksums={"sha1": "0" * 40}, coordinates=c)


class FakeCrawler:
    kind = "nexus"
    system = "Nexus"
    file_count_field = None
    asset_name_map = None

    def __init__(self) -> None:
        items = [(_asset(f"p{i}", f"1.{v}.0"), None) for i in range(40) for v in range(3)]
        items.append((DiscoveredAsset(path="index.html", size=1, checksums={},
                                      coordinates=None), "not a package file"))
        self.pages = [items[i:i + 10] for i in range(0, len(items), 10)]
        self.repo = SourceRepository("npm-internal", Format.NPM, RepoType.HOSTED)

    async def repositories(self):
        return [self.repo]

    async def crawl(self, repository, cursor=None):
        start = int(cursor or 0)
        for n in range(start, len(self.pages)):
            yield Page(items=self.pages[n], cursor=str(n + 1),
                       done=n == len(self.pages) - 1)

    async def reported_file_count(self, repository):
        return None

    async def aclose(self):
        pass


def _planned(tmp_path: Path, shard: Shard | None) -> dict[str, tuple[str, str, str]]:
    m = parse_manifest(MANIFEST, tmp_path / "demo.toml")
    name = shard.label if shard else "whole"
    with WorkQueue.open(tmp_path / f"{name}.sqlite", lock_for="plan") as q:
        bind_shard(q, shard)
        anyio.run(lambda: plan(m, q, crawler_factory=lambda _s: FakeCrawler()))
        rows = q.conn.execute("SELECT a.path, coalesce(v.package, ''), a.status FROM assets a "
                              "LEFT JOIN versions v ON v.id = a.version_id").fetchall()
    return {path: (pkg, status, name) for path, pkg, status in rows}


def test_shards_partition_the_crawl_by_package(tmp_path):
    whole = _planned(tmp_path, None)
    parts = [_planned(tmp_path, Shard(k, 3)) for k in (1, 2, 3)]
    union: dict[str, tuple[str, str]] = {}
    for part in parts:
        assert part, "every shard holds something"
        for path, (pkg, status, _) in part.items():
            assert path not in union, f"{path} is in two shards"
            union[path] = (pkg, status)
    assert union == {p: (pkg, status) for p, (pkg, status, _) in whole.items()}
    # every version of one package is in one shard
    owner: dict[str, str] = {}
    for part in parts:
        for pkg, _, name in part.values():
            if pkg:
                assert owner.setdefault(pkg, name) == name


# -- states and shares -----------------------------------------------------------------------

def test_a_state_records_its_shard_and_refuses_another(tmp_path):
    path = tmp_path / "s.sqlite"
    with WorkQueue.open(path, lock_for="plan") as q:
        assert bind_shard(q, Shard(2, 3)) == Shard(2, 3)
    with WorkQueue.open(path, lock_for="run") as q:
        assert bind_shard(q, None) == Shard(2, 3)  # resume --state keeps its shard
        assert recorded_shard(q) == Shard(2, 3)
        with pytest.raises(ConfigError) as err:
            bind_shard(q, Shard(1, 3))
    assert "belongs to shard 2/3, not 1/3" in str(err.value)


def test_a_whole_migration_is_not_taken_over_by_a_shard(tmp_path):
    m = parse_manifest(MANIFEST, tmp_path / "demo.toml")
    with WorkQueue.open(tmp_path / "w.sqlite", lock_for="plan") as q:
        anyio.run(lambda: plan(m, q, crawler_factory=lambda _s: FakeCrawler()))
        with pytest.raises(ConfigError, match="unsharded"):
            bind_shard(q, Shard(1, 2))


def test_default_state_paths_per_shard(tmp_path):
    m = parse_manifest(MANIFEST, tmp_path / "demo.toml")
    assert shard_state_path(Path("state/demo.sqlite"), Shard(2, 3)) == Path(
        "state/demo.shard-2-of-3.sqlite")
    assert locate_state(m, None, Shard(1, 3)).local == tmp_path / "state" / \
        "demo.shard-1-of-3.sqlite"
    assert locate_state(m, None, None).local == tmp_path / "state" / "demo.sqlite"
    assert locate_state(m, "x.sqlite", Shard(1, 3)).local == Path("x.sqlite")  # as given
    s3 = parse_manifest(MANIFEST + 'state_url = "s3://acme-state/mig/demo.sqlite"\n',
                        tmp_path / "demo.toml")
    loc = locate_state(s3, None, Shard(3, 3))
    assert loc.remote == "s3://acme-state/mig/demo.shard-3-of-3.sqlite"
    assert loc.local == tmp_path / "state" / "s3" / "acme-state" / "mig" / \
        "demo.shard-3-of-3.sqlite"


def test_rate_share(tmp_path):
    m = parse_manifest(MANIFEST, tmp_path / "demo.toml")
    assert with_rate_share(m, Shard(1, 3), None).options.rate_budget == pytest.approx(30.0)
    assert with_rate_share(m, Shard(1, 3), 45.0).options.rate_budget == 45.0
    assert with_rate_share(m, None, None) is m
    shared = with_rate_share(m, Shard(2, 4), None)
    assert shared.state_path == m.state_path and shared.text == m.text
    with pytest.raises(ConfigError, match="at most"):
        with_rate_share(m, Shard(1, 3), 91.0)
