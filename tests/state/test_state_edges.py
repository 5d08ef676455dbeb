"""The state at its edges: foreign SQLite files, damaged pages, read-only inspection, old
schemas, newer schemas, and the online backup."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils

from migrator.errors import StateCorruptError, StateError
from migrator.models import Format, RepoType
from migrator.state import WorkQueue, backup, default_backup_path
from migrator.state.schema import SCHEMA_VERSION, migrations

from .conftest import maven_version

GOOD_MANIFEST = """
[source]
kind = "nexus"
url = "http://127.0.0.1:9"
username_env = "EDGE_USER"
password_env = "EDGE_PASS"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"

[[repositories]]
source = "maven-releases"
target = "maven-releases"
"""


def make_state(path: Path, versions: int = 300) -> Path:
    """A real state: one crawled Maven repository with `versions` versions of 2 files."""
    with WorkQueue.open(path) as q:
        rid = q.upsert_repository(source="maven-releases", target="maven-releases",
                                  format=Format.MAVEN, repo_type=RepoType.HOSTED, mode="copy")
        for i in range(versions):
            q.record_page(rid, maven_version("com.acme", f"a{i}", "1.0"), cursor=str(i),
                          done=i == versions - 1)
        q.set_meta("manifest", GOOD_MANIFEST)
        q.set_meta("manifest_path", str(path.parent / "edge.toml"))
        q.set_meta("plan.crawl_open", "0")
    assert not Path(f"{path}-wal").exists()  # checkpointed into the main file on close
    return path


def damage(path: Path, table: str) -> None:
    """Overwrite the root page of `table` (page 2 or later) with a fixed garbage pattern:
    a deterministic damaged page in the middle of a real state file."""
    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                       (table,)).fetchone()[0]
    con.close()
    assert root >= 2
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xa5" * 512)


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)


def assert_one_error_line(r: subprocess.CompletedProcess, *fragments: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("  hint: "), r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)
    return lines[0]


# -- foreign files ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["create", "lock", "read"])
def test_a_foreign_sqlite_file_is_refused_and_left_exactly_as_it_was(tmp_path, how):
    p = tmp_path / "app.db"
    con = sqlite3.connect(p)
    con.executescript("CREATE TABLE users (id INTEGER, name TEXT); CREATE TABLE orders (id);"
                      "INSERT INTO users VALUES (1, 'ada');")
    con.commit()
    con.close()
    before = p.read_bytes()
    kw = {"create": {}, "lock": {"lock_for": "run"}, "read": {"create": False}}[how]
    with pytest.raises(StateError) as exc:
        WorkQueue.open(p, **kw)
    assert str(exc.value) == (
        f"{p} is a SQLite database but not a migrator state (tables: orders, users)\n"
        "  hint: point --state at a migrator state file or a new path")
    assert p.read_bytes() == before  # no table, no WAL switch, nothing
    assert sorted(os.listdir(tmp_path)) == ["app.db"]  # no lock file, no -wal/-shm
    con = sqlite3.connect(p)
    assert con.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == [
        ("orders",), ("users",)]
    con.close()


def test_the_cli_refuses_a_foreign_file_in_one_line(tmp_path):
    p = tmp_path / "app.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (x)")
    con.close()
    r = cli("status", "--state", str(p))
    assert_one_error_line(r, "is a SQLite database but not a migrator state (tables: t)",
                          "point --state at a migrator state file or a new path")


def test_an_empty_file_becomes_a_state_with_its_marker(tmp_path):
    p = tmp_path / "new.sqlite"
    p.touch()
    with pytest.raises(StateError, match="holds no migrator state"):
        WorkQueue.open(p, create=False)
    with WorkQueue.open(p) as q:
        assert q.get_meta("format") == "migrator-state"
        assert q.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_a_state_of_the_first_schema_is_recognised_and_upgraded(tmp_path):
    p = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(p)
    migrations.apply(db, stop_before="m002_format_marker")  # what earlier versions wrote
    db.execute("INSERT INTO meta (key, value) VALUES ('manifest', 'x')")
    db.conn.commit()
    db.close()
    with WorkQueue.open(p, create=False) as reader:  # read-only: read as it is
        assert reader.get_meta("manifest") == "x" and reader.get_meta("format") is None
    with WorkQueue.open(p, lock_for="run") as q:
        assert (q.get_meta("format"), q.get_meta("manifest")) == ("migrator-state", "x")


def test_a_state_of_a_newer_migrator_is_refused(tmp_path):
    p = make_state(tmp_path / "s.sqlite", versions=1)
    con = sqlite3.connect(p)
    con.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES "
                "('migrator.workqueue', 'm999_future', 'later')")
    con.commit()
    con.close()
    with pytest.raises(StateError, match=rf"written by a newer migrator \(schema "
                       rf"{SCHEMA_VERSION + 1}; this one knows {SCHEMA_VERSION}\)"):
        WorkQueue.open(p, lock_for="run")


# -- read-only inspection -----------------------------------------------------------------


def test_an_inspection_opens_read_only_and_works_during_a_run(tmp_path):
    p = make_state(tmp_path / "s.sqlite", versions=3)
    with WorkQueue.open(p, lock_for="run") as run:
        run.set_meta("during", "the run")
        with WorkQueue.open(p, create=False) as reader:
            assert reader.readonly and not run.readonly
            assert reader.get_meta("during") == "the run"
            assert reader.counts()["maven-releases"].assets == {"discovered": 6}
            with pytest.raises(StateError, match="cannot be written"):
                reader.set_meta("x", "y")


# -- damaged pages ------------------------------------------------------------------------


def test_damage_met_by_a_query_is_one_state_error_with_the_verdict(tmp_path):
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "assets")
    # opening reads no asset page; the first query that does meets the damage
    with WorkQueue.open(p, create=False) as q, pytest.raises(StateCorruptError) as exc:
        q.counts()
    with WorkQueue.open(p) as q, pytest.raises(StateCorruptError):
        q.claim("w", limit=5)  # a write path (no run lock: no page check at open)
    text = str(exc.value)
    assert text.startswith(f"{p} is damaged (database disk image is malformed); "
                           "integrity_check: Page ")
    assert "btreeInitPage() returns error code 11" in text
    assert "\n  hint: restore a backup (`migrator state backup` makes them)" in text
    assert "move them away to start a new state" in text
    assert len(text.splitlines()[0]) < 400


def test_a_run_refuses_a_damaged_state_before_writing_to_it(tmp_path):
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "assets")
    before = p.read_bytes()
    with pytest.raises(StateCorruptError, match="is damaged; integrity_check: Page "):
        WorkQueue.open(p, lock_for="run")
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["s.sqlite", "s.sqlite.lock"]
    with pytest.raises(StateCorruptError):  # the lock was given back: same answer again
        WorkQueue.open(p, lock_for="run")


def test_damage_where_the_check_cannot_run_names_the_unreadable_tables(tmp_path):
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "meta")
    with pytest.raises(StateCorruptError) as exc:
        WorkQueue.open(p, create=False)
    assert "integrity_check: it stopped (database disk image is malformed); unreadable " \
           "tables: meta" in str(exc.value)


def test_cli_status_on_a_damaged_state_is_one_line_exit_2(tmp_path):
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "assets")
    r = cli("status", "--state", str(p))
    first = assert_one_error_line(r, "is damaged", "integrity_check: Page ",
                                  "migrator state backup", "start a new state")
    assert first.startswith(f"error: {p} is damaged")


def test_cli_status_reads_a_state_whose_damage_it_does_not_touch(tmp_path):
    """status reads what SQLite can: damage in the run log does not stop the counts."""
    p = make_state(tmp_path / "s.sqlite", versions=3)
    with WorkQueue.open(p) as q:
        for i in range(400):  # a run log of a few pages
            q.start_run(f"run {i} " + "x" * 200)
    damage(p, "runs")
    r = cli("status", "--state", str(p), "--json")
    assert r.returncode == 0, r.stderr
    assert '"discovered": 6' in r.stdout


def test_cli_resume_of_a_damaged_state_is_one_line_exit_2(tmp_path):
    """resume reads the stored manifest (read-only: fine, meta is intact), then the run's
    page check under the lock finds the damaged index before anything is written."""
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "versions_status")
    before = p.read_bytes()
    r = cli("resume", "--state", str(p), env={"EDGE_USER": "u", "EDGE_PASS": "p"})
    assert_one_error_line(r, f"{p} is damaged; integrity_check: ", "migrator state backup")
    assert p.read_bytes() == before


# -- backup -------------------------------------------------------------------------------


def test_backup_while_a_run_holds_the_lock_copies_what_is_committed(tmp_path):
    p = make_state(tmp_path / "s.sqlite", versions=20)
    with WorkQueue.open(p, lock_for="run") as run:
        run.set_meta("after-open", "in the WAL only")  # committed, not checkpointed
        assert Path(f"{p}-wal").stat().st_size > 0
        stop = threading.Event()

        def keep_writing() -> None:
            with WorkQueue.open(p) as writer:
                i = 0
                while not stop.is_set():
                    writer.set_meta("tick", str(i))
                    i += 1

        t = threading.Thread(target=keep_writing)
        t.start()
        try:
            b = backup(p, now=1_700_000_000)
        finally:
            stop.set()
            t.join()
    assert b.path == tmp_path / "s.20231114T221320Z.bak.sqlite" == default_backup_path(
        p, 1_700_000_000)
    assert b.size == b.path.stat().st_size > 0 and b.integrity == "ok"
    assert not Path(f"{b.path}-wal").exists() and not Path(f"{b.path}-journal").exists()
    assert [f for f in os.listdir(tmp_path) if "partial" in f] == []
    with WorkQueue.open(b.path, create=False) as copy:
        assert copy.get_meta("after-open") == "in the WAL only"
        assert copy.counts()["maven-releases"].assets == {"discovered": 40}
    assert re.fullmatch(r"backed up .+ to .+ \(\d+\.\d KiB, integrity_check: ok\)",
                        b.render())
    assert b.as_dict()["bytes"] == b.size


def test_backup_never_overwrites_and_refuses_what_is_not_a_state(tmp_path):
    p = make_state(tmp_path / "s.sqlite", versions=1)
    dest = tmp_path / "keep.sqlite"
    dest.write_text("precious")
    with pytest.raises(StateError, match="already exists; a backup never replaces a file"):
        backup(p, dest)
    assert dest.read_text() == "precious"
    with pytest.raises(StateError, match="its folder does not exist"):
        backup(p, tmp_path / "no" / "such" / "b.sqlite")
    with pytest.raises(StateError, match="no state file"):
        backup(tmp_path / "missing.sqlite")
    foreign = tmp_path / "app.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(StateError, match="not a migrator state"):
        backup(foreign, tmp_path / "f.bak")
    assert not (tmp_path / "f.bak").exists()
    b = backup(p, tmp_path / "explicit.sqlite")
    assert b.path == tmp_path / "explicit.sqlite" and b.path.exists()


def test_backup_of_a_damaged_state_is_refused_and_leaves_no_file(tmp_path):
    p = make_state(tmp_path / "s.sqlite")
    damage(p, "assets")
    with pytest.raises(StateCorruptError, match="its copy failed integrity_check: Page "):
        backup(p, tmp_path / "b.sqlite")
    assert [f for f in os.listdir(tmp_path) if not f.startswith("s.sqlite")] == []


def test_cli_state_backup_writes_a_checked_copy_and_says_where(tmp_path):
    p = make_state(tmp_path / "s.sqlite", versions=5)
    r = cli("state", "backup", "--state", str(p), "--to", str(tmp_path / "b.sqlite"),
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["backup"]) == tmp_path / "b.sqlite" and out["bytes"] > 0
    with WorkQueue.open(tmp_path / "b.sqlite", create=False) as copy:
        assert sum(copy.counts()["maven-releases"].assets.values()) == 10
    again = cli("state", "backup", "--state", str(p), "--to", str(tmp_path / "b.sqlite"))
    assert_one_error_line(again, "already exists")
    assert again.returncode == 2
