"""Sources that lie or do not know, end to end: Nexus lists a jar with `fileSize: 0` and
another with checksums `"......"`; both migrate and verify (the size is unknown, the fake
checksums are ignored with a logged note), checked against the bytes downloaded instead."""

from __future__ import annotations

import shutil

import httpx
import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import asset_statuses, engine, state_rows

pytestmark = pytest.mark.e2e

JAR = "com/acme/greeter/1.0.0/greeter-1.0.0.jar"
SOURCES = "com/acme/greeter/1.0.0/greeter-1.0.0-sources.jar"


def _maven_releases_sandbox(tmp_path):
    """The seed's maven-releases alone, served by a fresh sandbox: (seed folder, sandbox)."""
    seed = tmp_path / "seed"
    shutil.copytree(SEED / "maven-releases", seed / "maven-releases")
    (seed / "repos.toml").write_text('[[repository]]\nname = "maven-releases"\n'
                                     'format = "maven2"\ntype = "hosted"\n')
    work = tmp_path / "work"
    work.mkdir()
    return seed, start_sandbox(work, seed=seed)


def test_unknown_size_and_redacted_checksums_migrate_and_verify(tmp_path):
    seed, sb = _maven_releases_sandbox(tmp_path)
    try:
        httpx.post(sb.info["nexus"]["url"].rstrip("/") + "/_sandbox/knobs", json={
            "unknown_size": [f"maven-releases/{JAR}"],
            "redacted_checksum": [f"maven-releases/{SOURCES}"]}).raise_for_status()
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        statuses = {p: s for (_, p), s in asset_statuses(sb.workdir).items()}
        assert statuses[JAR] == statuses[SOURCES] == "verified"
        assert set(statuses.values()) <= {"verified", "excluded"}
        rows = dict(state_rows(sb.workdir, "SELECT path, size FROM assets WHERE path IN (?, ?)",
                               (JAR, SOURCES)))
        assert rows[JAR] is None  # unknown, not 0
        assert rows[SOURCES] == (seed / "maven-releases" / SOURCES).stat().st_size
        src = state_rows(sb.workdir, "SELECT src_sha1, src_md5, dl_sha1 FROM assets "
                         "WHERE path = ?", (SOURCES,))[0]
        assert src[0] is None and src[1] is None and src[2]  # ignored; the bytes were hashed
        assert "'......' is not a sha1 digest" in r.stderr
    finally:
        stop_sandbox(sb)


WHEEL = "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl"


@pytest.mark.parametrize("source", ["nexus", "artifactory"])
def test_signed_pypi_file_migrates_with_its_signature(source, tmp_path):
    """A wheel and its `.asc` at the source: one twine-style upload carries both
    (`gpg_signature`); both verify."""
    seed = tmp_path / "seed"
    (seed / "pypi-internal" / WHEEL).parent.mkdir(parents=True)
    shutil.copy(SEED / "pypi-internal" / WHEEL, seed / "pypi-internal" / WHEEL)
    (seed / "pypi-internal" / (WHEEL + ".asc")).write_bytes(
        b"-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQR=\n=q1Zx\n-----END PGP SIGNATURE-----\n")
    (seed / "repos.toml").write_text('[[repository]]\nname = "pypi-internal"\n'
                                     'format = "pypi"\ntype = "hosted"\n')
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--manifest-source", source, seed=seed)
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        statuses = {p.rsplit("/", 1)[-1]: s for (_, p), s in asset_statuses(sb.workdir).items()
                    if s != "excluded"}
        assert statuses == {"jaraco.classes-3.4.0-py3-none-any.whl": "verified",
                            "jaraco.classes-3.4.0-py3-none-any.whl.asc": "verified"}
    finally:
        stop_sandbox(sb)


def test_the_read_coverage_caveat_warns_when_a_run_crawls_and_not_when_it_does_not(tmp_path):
    """Nexus cannot tell whether the crawl user sees every file of a repository: worth a
    warning when this command crawls, not on every later run of a scheduled job that works
    from the finished crawl in its state (then it is an info line)."""
    _, sb = _maven_releases_sandbox(tmp_path)
    caveat = "cannot tell that the crawl user may read every file of 'maven-releases'"
    try:
        first = engine(sb, "run", "demo.toml", "--no-progress")
        again = engine(sb, "run", "demo.toml", "--no-progress")
    finally:
        stop_sandbox(sb)
    assert first.returncode == again.returncode == 0, first.stderr[-2000:] + again.stderr[-2000:]
    [warned] = [line for line in first.stderr.splitlines() if caveat in line]
    assert "WARNING" in warned
    [noted] = [line for line in again.stderr.splitlines() if caveat in line]
    assert "WARNING" not in noted and "INFO" in noted and "this run does not crawl" in noted
