"""`migrator sync` end to end, for a Nexus and an Artifactory source: run, then change the
source (new versions, one changed file, a deleted file, dist-tags moved, added and removed,
a deprecation added and one lifted), then sync: exactly the new versions are published, the
changed file is a conflict with both hashes, the deletion is reported and nothing is deleted,
the npm metadata is in step in CodeArtifact; a sync with nothing new costs a listing and no
write."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import httpx
import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import engine, state_rows, summary, token_and_endpoint

pytestmark = pytest.mark.e2e

CHANGED = "docs/RELEASE-NOTES.txt"
DELETED = "tools/install.sh"


def _npm_tarball(name: str, version: str) -> bytes:
    data = json.dumps({"name": name, "version": version, "description": "sync test"}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/package.json")
        info.size, info.mtime = len(data), 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def change_the_source(seed: Path) -> None:
    """What teams do to the old system while both live side by side."""
    npm = seed / "npm-internal" / "is-number" / "-"
    (npm / "is-number-99.0.0.tgz").write_bytes(_npm_tarball("is-number", "99.0.0"))
    old = seed / "maven-releases" / "com" / "acme" / "greeter" / "1.1.0"
    new = old.parent / "1.2.0"
    new.mkdir()
    for f in old.iterdir():
        if f.suffix in (".md5", ".sha1"):
            continue
        target = new / f.name.replace("1.1.0", "1.2.0")
        if f.suffix == ".pom":
            target.write_text(f.read_text().replace("1.1.0", "1.2.0"))
        else:
            shutil.copyfile(f, target)
    with (seed / "raw-files" / CHANGED).open("a") as fh:
        fh.write("\nedited after the migration\n")
    (seed / "raw-files" / DELETED).unlink()
    toml = (seed / "repos.toml").read_text()
    toml = toml.replace('next = "2.1.0"\n', "")  # a dist-tag removed
    toml = toml.replace('legacy = "6.0.0"', 'legacy = "7.0.0"\nbeta = "99.0.0"')  # moved, added
    toml = toml.replace('"1.3.0" = "use String.prototype.padStart()"\n',  # lifted
                        '\n[repository.deprecated.is-number]\n"6.0.0" = "no longer supported"\n')
    (seed / "repos.toml").write_text(toml)


def _clear_logs(sb) -> None:
    httpx.delete(sb.info["codeartifact"]["requests_url"])
    httpx.delete(_source_log(sb))


def _source_log(sb) -> str:
    kind = "nexus" if sb.info["nexus"]["url"] and "artifactory" not in sb.manifest.read_text() \
        else "artifactory"
    base = sb.info[kind]["url"].removesuffix("/artifactory")
    return base + "/_sandbox/requests"


def _ca_entries(sb) -> list[dict]:
    return httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]


@pytest.fixture(params=["nexus", "artifactory"])
def synced(request, tmp_path):
    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--manifest-source", request.param, seed=seed)
    try:
        r = engine(sb, "run", "demo.toml", "--json")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        yield sb, seed
    finally:
        stop_sandbox(sb)


def test_sync_copies_exactly_what_changed(synced):
    sb, seed = synced
    # nothing changed yet: a listing, no download, no write, "nothing changed", exit 0
    _clear_logs(sb)
    r = engine(sb, "sync", "demo.toml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "nothing changed" in r.stdout
    assert [e for e in _ca_entries(sb) if e["write"]] == []
    source = httpx.get(_source_log(sb)).json()
    # package files (npm packuments, read for dist-tags and deprecations, are not files)
    downloads = [e for e in source if e["method"] == "GET" and "." in e["path"].rsplit("/")[-1]
                 and (e["path"].startswith("/repository/") or (
                     e["path"].startswith("/artifactory/") and "/api/" not in e["path"]))]
    assert downloads == [], downloads[:5]

    change_the_source(seed)
    _clear_logs(sb)
    r = engine(sb, "sync", "demo.toml", "--json")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]  # the conflict
    out = summary(r)
    assert out["nothing_changed"] is False
    raw = out["sync"]["raw-files"]
    [conflict] = raw["conflicts"]
    new_sha = hashlib.sha256((seed / "raw-files" / CHANGED).read_bytes()).hexdigest()
    old_sha = hashlib.sha256((SEED / "raw-files" / CHANGED).read_bytes()).hexdigest()
    assert conflict["path"] == CHANGED
    assert new_sha in conflict["reason"] and old_sha in conflict["reason"]
    assert raw["deleted_at_source"] == 1
    assert raw["deleted_shown"] == [{"path": DELETED, "previous": "verified"}]

    # exactly the new versions were written (plus Maven metadata and npm metadata calls)
    writes = [e for e in _ca_entries(sb) if e["write"] and 0 < e["status"] < 300]
    published = {e["asset"] for e in writes if e.get("asset")
                 and not e["asset"].endswith("maven-metadata.xml")}
    assert published, json.dumps(out["sync"])
    assert all("/99.0.0/" in a or "/1.2.0/" in a for a in published), published
    assert any("is-number/99.0.0" in a for a in published)
    assert any("greeter/1.2.0" in a for a in published)
    assert not [e for e in writes if e["operation"] == "PublishPackageVersion"]

    # the changed file is a conflict in the state, the deleted one is reported and kept
    rows = dict(((p, s) for p, s in state_rows(
        sb.workdir, "SELECT a.path, a.status FROM assets a JOIN repositories r ON "
        "r.id = a.repository_id WHERE r.source = 'raw-files'")))
    assert rows[CHANGED] == "conflict" and rows[DELETED] == "deleted_at_source"

    # npm metadata in step in CodeArtifact
    token, url = token_and_endpoint(sb, "npm-internal", "npm")
    auth = {"Authorization": f"Bearer {token}"}
    tags = httpx.get(url + "-/package/is-number/dist-tags", headers=auth).json()
    assert tags["legacy"] == "7.0.0" and tags["beta"] == "99.0.0", tags
    assert tags["latest"] == "99.0.0"
    ms = httpx.get(url + "-/package/@types%2fms/dist-tags", headers=auth).json()
    assert "next" not in ms, ms
    left_pad = httpx.get(url + "left-pad", headers=auth).json()["versions"]
    assert "deprecated" not in left_pad["1.3.0"]
    assert left_pad["1.2.0"]["deprecated"] == "use String.prototype.padStart()"
    is_number = httpx.get(url + "is-number", headers=auth).json()["versions"]
    assert is_number["6.0.0"]["deprecated"] == "no longer supported"

    # Maven metadata lists the new version
    _, murl = token_and_endpoint(sb, "maven-releases", "maven")
    meta = httpx.get(murl + "com/acme/greeter/maven-metadata.xml", headers=auth).text
    assert "<version>1.2.0</version>" in meta

    # a second sync with no change: nothing written, nothing downloaded, "nothing changed"
    _clear_logs(sb)
    r = engine(sb, "sync", "demo.toml", "--json")
    again = summary(r)
    changed = {k: v for k, v in again["sync"].items()
               if v["new"] or v["refreshed"] or v["conflicts"] or v["deleted_at_source"]}
    assert again["nothing_changed"] is True, json.dumps([changed, again["npm_metadata"]])
    assert r.returncode == 1  # the conflict is still there, and still reported
    if "artifactory" in sb.manifest.read_text():
        assert {v["listing"] for v in again["sync"].values() if v["listed"] or v["new"]} <= {
            "incremental"}
    assert [e for e in _ca_entries(sb) if e["write"]] == []


def test_sync_without_a_state_says_run_first(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        r = engine(sb, "sync", "demo.toml")
        assert r.returncode == 2
        assert "migrator run" in r.stderr and "Traceback" not in r.stderr
    finally:
        stop_sandbox(sb)


def test_a_sync_killed_while_listing_ends_like_one_that_was_not(tmp_path):
    """kill -9 in the middle of a sync's listing, then sync again: the same end state as an
    uninterrupted sync, each new file published once, the deletion still seen."""
    from .transfer_helpers import publish_writes

    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, seed=seed)
    try:
        r = engine(sb, "run", "demo.toml")
        assert r.returncode == 0, r.stderr[-2000:]
        change_the_source(seed)
        r = engine(sb, "sync", "demo.toml", env={"MIGRATOR_TEST_CRASH_AT": "sync-page:2"})
        assert r.returncode == -9, r.stdout[-2000:] + r.stderr[-2000:]
        r = engine(sb, "sync", "demo.toml", "--json")
        assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
        statuses = dict(((s, p), st) for s, p, st in state_rows(
            sb.workdir, "SELECT r.source, a.path, a.status FROM assets a JOIN repositories r "
            "ON r.id = a.repository_id WHERE r.source IN ('raw-files', 'maven-releases', "
            "'npm-internal')"))
        assert statuses[("raw-files", CHANGED)] == "conflict"
        assert statuses[("raw-files", DELETED)] == "deleted_at_source"
        assert statuses[("npm-internal", "is-number/-/is-number-99.0.0.tgz")] == "verified"
        assert statuses[("maven-releases", "com/acme/greeter/1.2.0/greeter-1.2.0.jar")] == \
            "verified"
        assert set(publish_writes(sb).values()) == {1}  # nothing published twice
    finally:
        stop_sandbox(sb)
