"""A hostile Nexus (migrator_sandbox.hostile: every kind of hostile listing entry, each beside
normal package files) migrated into the CodeArtifact sandbox with the real CLI: the normal
files are verified in the target, each hostile item is refused with one short, printable line,
nothing of a hostile item is published, nothing is written outside the state and spool
folders, no request (and no credential) reaches the other origin, the looping and the broken
repository are named and the others finish (exit 1)."""

from __future__ import annotations

import json
import os
import re

import httpx
import pytest

from .helpers import (
    engine,
    integrity_ok,
    request_log,
    rows,
    start_hostile,
    start_sandbox,
    stop_hostile,
    stop_sandbox,
)

pytestmark = pytest.mark.e2e

MAPPINGS = [("maven-releases", "maven-releases", "maven"), ("npm-internal", "npm-internal", "npm"),
            ("pypi-internal", "pypi-internal", "pypi"), ("raw-files", "raw-files", "generic"),
            ("loop-repo", "raw-files", "generic"), ("broken-repo", "raw-files", "generic")]
# What a terminal would act on: ESC, NUL, BEL, CR and the other C0 controls except \n and \t.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def hostile_manifest(sb, hostile) -> str:
    target = sb.manifest.read_text().split("[target]", 1)[1].split("[[repositories]]", 1)[0]
    lines = ["[source]", 'kind = "nexus"', f'url = "{hostile.url}"',
             'username_env = "HOSTILE_USERNAME"', 'password_env = "HOSTILE_PASSWORD"', "",
             "[target]" + target.rstrip(), ""]
    for source, dest, fmt in MAPPINGS:
        lines += ["[[repositories]]", f'source = "{source}"', f'target = "{dest}"',
                  f'format = "{fmt}"', ""]
    lines += ["[options]", "concurrency = 4", "rate_budget = 90", "max_attempts = 2", ""]
    return "\n".join(lines)


def files_under(root) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(folder, name), root))
    return out


def test_hostile_source_is_refused_item_by_item_while_normal_files_migrate(tmp_path):
    sb = start_sandbox(tmp_path)
    hostile = start_hostile()
    try:
        (tmp_path / "hostile.toml").write_text(hostile_manifest(sb, hostile))
        before = files_under(tmp_path)
        env = {"HOSTILE_USERNAME": hostile.username, "HOSTILE_PASSWORD": hostile.password}
        # The dry run first: the two repositories that cannot be listed are named beside the
        # plan of all the others, and the exit code says it is incomplete.
        p = engine(sb, "plan", "hostile.toml", "--json", env=env, timeout=240)
        assert p.returncode == 1, (p.stdout + p.stderr)[-4000:]
        planned = json.loads(p.stdout)
        assert {f["repository"] for f in planned["crawl_failures"]} == {"loop-repo",
                                                                         "broken-repo"}
        assert {r["source"] for r in planned["repositories"]} >= {"maven-releases",
                                                                  "npm-internal", "raw-files"}
        r = engine(sb, "run", "hostile.toml", "--json", env=env, timeout=240)
        out = r.stdout + r.stderr
        # the looping and the broken repository are named in the run's summary; everything
        # else finished: exit 1
        assert r.returncode == 1, out[-4000:]
        assert "Traceback" not in out
        doc = json.loads(r.stdout)
        assert doc["exit_code"] == 1
        failed = {f["repository"]: f["reason"] for f in doc["crawl_failures"]}
        assert set(failed) == {"loop-repo", "broken-repo"}, failed
        assert doc["repositories"] and doc["assets"].get("verified"), doc["assets"]
        # nothing a terminal would act on, and no line longer than a screenful
        assert not _CONTROL.search(out), repr(_CONTROL.search(out))
        assert max(len(line) for line in out.splitlines()) < 2000
        catalogue = httpx.get(f"{hostile.url}/_hostile/catalogue").json()
        state = tmp_path / "state" / "hostile.sqlite"
        found = rows(state, "SELECT r.source, a.path, a.status, a.reason FROM assets a "
                          "JOIN repositories r ON r.id = a.repository_id")
        status = {(repo, path): (s, why) for repo, path, s, why in found}
        # every normal file is verified in the target with the bytes the source has
        normal = [e for e in catalogue if not e["hostile"] and e["repository"] != "loop-repo"]
        for e in normal:
            assert status[(e["repository"], e["path"])][0] == "verified", (
                e, status.get((e["repository"], e["path"])), sorted(status.items())[:40])
        # every stored path and reason is printable; reasons are short
        print("\n".join(f"{r} {p[:70]!r} {s} {(w or '')[:200]}" for (r, p), (s, w)
                        in sorted(status.items())))
        for (_repo, path), (_status, why) in status.items():
            assert not _CONTROL.search(path), path[:80]
            assert why is None or (len(why) <= 700 and not _CONTROL.search(why)), why
        # bombs and an oversized packument are refused for good, each in its own words
        refused = {"hostile_zip-1.0.0-py3-none-any.whl": "not core metadata",
                   "hostile_tar-1.0.0.tar.gz": "not core metadata",
                   "hugepackument-1.0.0.tgz": "read for hugepackument in repository npm-internal"}
        for (_repo, path), (got, why) in status.items():
            name = path.rsplit("/", 1)[-1]
            if name in refused:
                assert got == "failed_permanent" and refused[name] in (why or ""), (path, got,
                                                                                    why)
        assert {p.rsplit("/", 1)[-1] for _r, p in status} >= set(refused)
        # nothing of a hostile item reached the target
        log = request_log(sb)
        published = set(log["by_asset"])
        for e in catalogue:
            if e["hostile"]:
                assert not any(e["path"].rsplit("/", 1)[-1][:40] in key for key in published), (
                    e["kind"], [k for k in published if e["path"][-30:] in k])
        assert not any("six" in key for key in published), "a hostile wheel wrote into six"
        # ... and each is accounted for with a reason (or as metadata never copied)
        kinds = {e["kind"] for e in catalogue if e["hostile"]}
        assert len(kinds) >= 16, kinds
        # no request and no credential to the other origin (download URLs, XXE)
        assert httpx.get(f"{hostile.canary_url}/_canary/log").json() == []
        # nothing written outside the state and spool folders (and the manifest we wrote)
        after = files_under(tmp_path)
        new = {p for p in after - before if not p.startswith(("state", "spool"))}
        assert new == set(), new
        assert not os.path.exists("/tmp/evil")
        integrity_ok(state)
        # the credentials went only where they belong, and are nowhere on disk or screen
        assert hostile.password not in out
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file():
                assert hostile.password.encode() not in path.read_bytes(), path
    finally:
        stop_hostile(hostile)
        stop_sandbox(sb)
