"""The plan's cost figures: the arithmetic on its own, and the whole `plan` of the demo seed
(the manifest `make demo` uses) against a computation by hand from the seed's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.manifest import Prices, load_manifest
from migrator.pipeline.cost import GIB, RepositoryRequests, estimate, repository_requests
from migrator.pipeline.plan import plan_manifest
from migrator_sandbox import DEMO_SEED, artifactory, nexus
from migrator_sandbox.serve import AWS_ENV, ServeOptions, start_in_thread


def test_requests_per_mode_follow_the_protocols() -> None:
    maven = repository_requests(fmt="maven", mode="copy", files=6, versions=2, packages=1,
                                size=100, protocol_writes=8, origin_control="block-upstream")
    # 8 protocol writes + 1 origin configuration; 2 verification reads and 1 metadata GET per
    # version, 1 GetRepositoryEndpoint
    assert maven == RepositoryRequests(writes=9, reads=7, bytes_added=100)
    leave = repository_requests(fmt="npm", mode="copy", files=3, versions=3, packages=2,
                                size=5, protocol_writes=5, origin_control="leave")
    assert leave == RepositoryRequests(writes=5, reads=7, bytes_added=5)
    pypi_warm = repository_requests(fmt="pypi", mode="prewarm", files=2, versions=2,
                                    packages=2, size=9, protocol_writes=0,
                                    origin_control="block-upstream")
    assert pypi_warm == RepositoryRequests(writes=0, reads=2 * 2 + 2 + 1, bytes_added=9)
    assert repository_requests(fmt="npm", mode="skip", files=0, versions=0, packages=0,
                               size=0, protocol_writes=0, origin_control="leave") == \
        RepositoryRequests(0, 0, 0)


def test_prices_and_time_come_from_the_manifest() -> None:
    rows = [RepositoryRequests(writes=9_000, reads=1_000, bytes_added=3 * GIB)]
    cost = estimate(rows, bytes_in_source=4 * GIB, rate_budget=90,
                    prices=Prices(storage_gb_month=0.10, requests_per_10k=0.07))
    assert cost.seconds == pytest.approx(100.0)  # 9,000 writes at 90/s; reads are faster
    assert cost.read_requests == 1_001  # + one GetAuthorizationToken
    assert cost.request_cost == pytest.approx(10_001 / 10_000 * 0.07)
    assert cost.storage_cost_per_month == pytest.approx(0.30)
    long = estimate([RepositoryRequests(writes=90 * 3600 * 25, reads=0, bytes_added=0)],
                    bytes_in_source=0, rate_budget=90, prices=Prices())
    assert long.read_requests == 3  # a token per started 12 hours of a 25-hour run


# -- the demo seed, by hand --------------------------------------------------------------------

def _size(repo: str, *files: str) -> int:
    return sum((DEMO_SEED / repo / f).stat().st_size for f in files)


def _maven(repo: str, folder: str, stems: list[str]) -> int:
    return sum(_size(repo, f"{folder}/{s}{ext}") for s in stems
               for ext in (".jar", "-sources.jar", ".pom"))


def hand_computed() -> dict[str, float]:
    """Each repository of the demo seed: (writes, reads, bytes), from its files."""
    snapshots = sorted(p for p in (DEMO_SEED / "maven-snapshots").rglob("*.pom"))
    rows = {
        # greeter 1.0.0 and 1.1.0: jar, sources jar, pom each; PUT per file + metadata per
        # version + 1 origin config; reads 2 per version + 1 metadata GET per version + 1
        "maven-releases": (6 + 2 + 1, 2 * 2 + 2 + 1, sum(
            _maven("maven-releases", f"com/acme/greeter/{v}", [f"greeter-{v}"])
            for v in ("1.0.0", "1.1.0"))),
        # two timestamped builds of one SNAPSHOT, three files each
        "maven-snapshots": (6 + 2 + 1, 2 * 2 + 2 + 1, sum(
            (p.parent / (p.stem + ext)).stat().st_size for p in snapshots
            for ext in (".jar", "-sources.jar", ".pom"))),
        # commons-cli 1.5.0: jar and pom GET, 1 DescribePackageVersion, 1 endpoint
        "maven-central": (0, 2 + 1 + 1, _size(
            "maven-central", "commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar",
            "commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.pom")),
        # @types/ms 3, is-number 2, left-pad 2 versions: PUT per version + 1 dist-tag and 1
        # origin config per package; reads 2 per version + 1
        "npm-internal": (7 + 3 + 3, 2 * 7 + 1, sum(
            p.stat().st_size for p in (DEMO_SEED / "npm-internal").rglob("*.tgz"))),
        # @isaacs/string-locale-compare 1.1.0, ms 2.0.0 and 2.1.3
        "npm-proxy": (0, 3 + 3 + 1, sum(
            p.stat().st_size for p in (DEMO_SEED / "npm-proxy").rglob("*.tgz"))),
        # jaraco.classes 3.3.1 and 3.4.0, typing_extensions 4.12.2: wheel + sdist each
        "pypi-internal": (6 + 2, 2 * 3 + 1, sum(
            p.stat().st_size for p in (DEMO_SEED / "pypi-internal").rglob("*")
            if p.is_file())),
        # iniconfig 2.0.0, six 1.16.0: simple page + file each, 1 describe each, 1 endpoint
        "pypi-proxy": (0, 2 * 2 + 2 + 1, sum(
            p.stat().st_size for p in (DEMO_SEED / "pypi-proxy").rglob("*") if p.is_file())),
        # three raw files, each its own package version: 1 publish + 1 origin config each
        "raw-files": (3 + 3, 2 * 3 + 1, sum(
            p.stat().st_size for p in (DEMO_SEED / "raw-files").rglob("*") if p.is_file())),
    }
    writes = sum(r[0] for r in rows.values())
    reads = sum(r[1] for r in rows.values()) + 1  # one GetAuthorizationToken
    size = sum(r[2] for r in rows.values())
    return {"writes": writes, "reads": reads, "bytes": size,
            "seconds": max(writes / 90, reads / 720),
            "request_cost": (writes + reads) / 10_000 * 0.05,
            "storage": size / 2**30 * 0.05}


@pytest.fixture
def env(monkeypatch):
    for values in (AWS_ENV, nexus.DEFAULT_CREDENTIALS, artifactory.DEFAULT_CREDENTIALS):
        for key, value in values.items():
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_the_demo_plan_costs_what_the_hand_computation_says(env, tmp_path: Path) -> None:
    with start_in_thread(ServeOptions(seed_check_interval=60.0)) as sb:
        path = tmp_path / "demo.toml"
        sb.write_manifest(path)  # what `make demo` (scripts/demo.py) plans
        summary = plan_manifest(load_manifest(path))
    want = hand_computed()
    cost = summary.as_dict()["cost"]
    assert (cost["write_requests"], cost["read_requests"], cost["bytes_added"]) == \
        (want["writes"], want["reads"], want["bytes"])
    assert (want["writes"], want["reads"]) == (45, 62)  # the demo seed as it is today
    assert cost["bytes_in_source"] == want["bytes"]
    assert cost["seconds"] == pytest.approx(want["seconds"], abs=0.05)
    assert cost["request_cost"] == pytest.approx(want["request_cost"], abs=1e-6)
    assert cost["storage_cost_per_month"] == pytest.approx(want["storage"], abs=1e-6)
    assert "cost: 45 write + 62 read requests" in summary.render()


def test_prices_are_overridable_in_the_manifest(env, tmp_path: Path) -> None:
    with start_in_thread(ServeOptions(seed_check_interval=60.0)) as sb:
        path = tmp_path / "demo.toml"
        sb.write_manifest(path)
        path.write_text(path.read_text() + "\n[options.prices]\nrequests_per_10k = 1.0\n"
                        "storage_gb_month = 2.0\n")
        summary = plan_manifest(load_manifest(path))
    want = hand_computed()
    cost = summary.as_dict()["cost"]
    assert cost["request_cost"] == pytest.approx((want["writes"] + want["reads"]) / 10_000)
    assert cost["storage_cost_per_month"] == pytest.approx(want["bytes"] / 2**30 * 2.0,
                                                           abs=1e-6)


def test_the_plan_lists_the_lockfile_items_and_costs_their_requests(env, tmp_path: Path) -> None:
    """package-lock.json locks @isaacs/string-locale-compare 1.1.0, ms 2.1.2 (as
    legacy-debug) and ms 2.1.3; requirements.txt pins iniconfig, packaging and six (one hash
    each) and typing-extensions, an internal package of the demo seed (pypi-internal)."""
    locks = Path(__file__).resolve().parents[2] / "sample-manifests/lockfiles"
    with start_in_thread(ServeOptions(seed_check_interval=60.0)) as sb:
        path = tmp_path / "demo.toml"
        sb.write_manifest(path)
        path.write_text(path.read_text() + "\n[prewarm]\nlockfiles = ["
                        f'"{locks}/npm/package-lock.json", "{locks}/python/requirements.txt"]\n'
                        '[prewarm.targets]\nnpm = "team"\npypi = "team"\n')
        summary = plan_manifest(load_manifest(path))
    data = summary.as_dict()
    items = data["lockfiles"]
    assert items["targets"] == {"npm": "team", "pypi": "team"}
    assert items["queued"] == {"npm": 3, "pypi": 3}
    assert items["internal"] == {"typing-extensions==4.12.2": "pypi-internal"}
    # a GET per file (PyPI: and its simple page); DescribePackageVersion +
    # ListPackageVersionAssets per version
    assert items["requests"] == {"native_gets": 3 + 3 * 2, "native_gets_exact": True,
                                 "describe_and_list": 2 * 6, "total": 21}
    want = hand_computed()
    # + those 21 reads and a GetRepositoryEndpoint per format of "team"
    assert (data["cost"]["write_requests"], data["cost"]["read_requests"]) == \
        (want["writes"], want["reads"] + 21 + 2)
    text = summary.render()
    assert "lockfiles: 2 read, 3 npm file(s) → team, 3 pypi file(s) → team" in text
    assert ("internal: typing-extensions==4.12.2 (migrated by copy from pypi-internal): not "
            "pre-warmed") in text
    assert f"cost: {want['writes']} write + {want['reads'] + 23} read requests" in text
