"""The spool's folders: beside the state by default, one per run, dead runs' removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from migrator.errors import ConfigError, StateError
from migrator.manifest import parse_manifest
from migrator.pipeline.spool import OWNER_FILE, open_spool, run_spool, spool_prefix
from migrator.state import WorkQueue

MANIFEST = """
[source]
kind = "nexus"
url = "https://nexus.example.com"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"

[[repositories]]
source = "maven-releases"
target = "maven-releases"
"""


def manifest(folder: Path, options: str = ""):
    p = folder / "wave1.toml"
    text = MANIFEST + (f"\n[options]\n{options}\n" if options else "")
    p.write_text(text)
    return parse_manifest(text, p)


def test_the_spool_is_beside_the_state_one_folder_per_run_with_its_owner(tmp_path):
    m = manifest(tmp_path)
    with WorkQueue.open(m.state_path, lock_for="run") as q:
        with run_spool(m, q, command="run") as spool:
            assert spool.root == tmp_path.resolve() / "state" / "spool"
            assert spool.path.parent == spool.root
            assert spool.path.name.startswith(spool_prefix(m.state_path) + f"{os.getpid()}-")
            assert spool.path.name.startswith("wave1-")
            owner = json.loads((spool.path / OWNER_FILE).read_text())
            assert owner["state"] == str(m.state_path) and owner["pid"] == os.getpid()
            (spool.path / "v1-1").mkdir()
            (spool.path / "v1-1" / "a.jar").write_bytes(b"x" * 10)
        assert not spool.path.exists() and spool.root.is_dir()


def test_a_new_run_removes_only_the_dead_runs_of_its_own_state(tmp_path):
    m = manifest(tmp_path, f'spool_dir = "{tmp_path / "shared"}"')
    shared = tmp_path / "shared"
    shared.mkdir()
    mine = spool_prefix(m.state_path)
    dead = shared / f"{mine}4242-20240101T000000Z"
    (dead / "v7-2").mkdir(parents=True)
    (dead / "v7-2" / "big.jar").write_bytes(b"x" * 1000)
    no_marker = shared / f"{mine}4343-20240101T000001Z"  # killed before its marker
    no_marker.mkdir()
    # another state with the same stem in another folder, and unrelated files: untouched
    other_state = tmp_path / "elsewhere" / "wave1.sqlite"
    other = shared / f"{spool_prefix(other_state)}5151-20240101T000000Z"
    other.mkdir()
    assert spool_prefix(other_state) != mine
    stranger = shared / "notes.txt"
    stranger.write_text("keep")
    with WorkQueue.open(m.state_path, lock_for="run") as q:
        spool = open_spool(m, q)
        assert sorted(spool.removed) == [dead, no_marker] and spool.freed_bytes == 1000
        assert not dead.exists() and not no_marker.exists()
        assert other.is_dir() and stranger.read_text() == "keep" and spool.path.is_dir()


def test_the_spool_is_only_managed_under_the_run_lock(tmp_path):
    m = manifest(tmp_path)
    with WorkQueue.open(m.state_path) as q, pytest.raises(StateError, match="run lock"):
        open_spool(m, q)


def test_a_spool_folder_that_cannot_be_made_is_one_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    m = manifest(tmp_path, f'spool_dir = "{blocker / "spool"}"')
    with WorkQueue.open(m.state_path, lock_for="run") as q, \
            pytest.raises(ConfigError) as exc:
        open_spool(m, q)
    assert str(exc.value) == (f"cannot use the spool folder {blocker / 'spool'}: Not a "
                              "directory\n  hint: make it writable for this user, or set "
                              "options.spool_dir in the manifest to another folder")
