"""The seed format: loading, validation errors, the demo corpus' coverage, re-reading on change."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from migrator_sandbox import derive
from migrator_sandbox.errors import SeedError
from migrator_sandbox.seed import SeedWatcher, load_seed

from .conftest import SEED


def test_demo_seed_has_everything_the_issue_asks_for() -> None:
    seed = load_seed(SEED)
    repos = {r.name: r for r in seed.repositories}
    assert {"maven-releases", "maven-snapshots", "npm-internal", "pypi-internal", "raw-files",
            "npm-proxy", "pypi-proxy"} <= set(repos)
    assert any(r.type == "group" for r in seed.repositories)

    maven = [f for f in repos["maven-releases"].files if f.maven and f.kind == "artifact"]
    assert len({f.maven.version for f in maven}) >= 2
    assert any(f.maven.classifier == "sources" for f in maven)
    snaps = [f.maven for f in repos["maven-snapshots"].files if f.maven and f.kind == "artifact"]
    timestamped = {c.version for c in snaps if c.version != c.base_version}
    assert len(timestamped) >= 2 and all(c.base_version.endswith("-SNAPSHOT") for c in snaps)
    assert repos["maven-snapshots"].file("com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml")

    npm = [f.npm for f in repos["npm-internal"].files if f.npm]
    scoped = [p for p in npm if p["name"].startswith("@")]
    assert len({p["version"] for p in scoped}) >= 3
    assert len({p["name"] for p in npm if not p["name"].startswith("@")}) >= 2
    assert any(set(tags) - {"latest"} for tags in repos["npm-internal"].dist_tags.values())
    assert repos["npm-internal"].deprecated

    dists = [f.pypi for f in repos["pypi-internal"].files if f.pypi]
    needs_normalising = {d.name for d in dists if d.name != d.normalized}
    assert needs_normalising
    for name in needs_normalising:
        kinds = {d.filetype for d in dists if d.name == name}
        assert kinds == {"sdist", "bdist_wheel"}

    assert repos["raw-files"].format == "raw" and repos["raw-files"].files
    for name in ("npm-proxy", "pypi-proxy"):
        assert repos[name].type == "proxy" and repos[name].remote_url and repos[name].files


def test_demo_seed_files_are_real_packages_not_placeholders() -> None:
    seed = load_seed(SEED)
    for repo in seed.repositories:
        for f in repo.files:
            if repo.format in ("npm", "pypi"):
                assert f.kind == "artifact", f"{repo.name}/{f.path} is not a readable package"
            assert f.size > 0
    # Stored Maven sidecars agree with the bytes they describe (written by maven-deploy-plugin).
    rel = seed.repository("maven-releases")
    jar = rel.file("com/acme/greeter/1.0.0/greeter-1.0.0.jar")
    assert rel.file(jar.path + ".sha1").read_bytes().decode().strip() == jar.digests["sha1"]


def test_seed_api_shape() -> None:
    seed = load_seed(SEED)
    group = seed.repository("npm-all")
    assert (group.server, group.format, group.type) == (None, "npm", "group")
    assert group.members == ["npm-internal", "npm-proxy"]
    proxy = seed.repository("npm-proxy")
    assert proxy.remote_url == "https://registry.npmjs.org"
    f = seed.repository("raw-files").file("tools/install.sh")
    assert f.digests["sha256"] == hashlib.sha256((SEED / "raw-files/tools/install.sh")
                                                 .read_bytes()).hexdigest()


def test_maven_metadata_is_derived_where_the_seed_has_none() -> None:
    central = load_seed(SEED).repository("maven-central")
    meta = central.file("commons-cli/commons-cli/maven-metadata.xml")
    assert meta.derived and meta.kind == "metadata"
    assert b"<version>1.5.0</version>" in meta.read_bytes()
    assert b"<release>1.5.0</release>" in meta.read_bytes()


def test_snapshot_metadata_derivation_matches_what_maven_wrote() -> None:
    snaps = load_seed(SEED).repository("maven-snapshots")
    coords = [f.maven for f in snaps.files if f.maven and f.kind == "artifact"]
    derived = derive.maven_snapshot_metadata("com.acme", "greeter", "1.2.0-SNAPSHOT", coords, 0)
    stored = snaps.file("com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml").read_bytes()
    newest = max(c.version for c in coords)
    ts, build = newest.split("-")[1], newest.split("-")[2]
    for blob in (derived, stored):
        assert f"<timestamp>{ts}</timestamp>".encode() in blob
        assert f"<buildNumber>{build}</buildNumber>".encode() in blob
        assert b"<classifier>sources</classifier>" in blob


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[[repository]]\nname = "x"\nformat = "docker"\ntype = "hosted"\n', "format"),
        ('[[repository]]\nname = "x"\nformat = "npm"\ntype = "shared"\n', "type"),
        ('[[repository]]\nname = "x"\nformat = "npm"\ntype = "proxy"\n', "remote_url"),
        ('[[repository]]\nname = "x"\nformat = "npm"\ntype = "group"\nmembers = ["nope"]\n',
         "members"),
        ('[[repository]]\nname = "x"\nformat = "npm"\ntype = "hosted"\nserver = "gitlab"\n',
         "server"),
        ('[[repository]]\nname = "x"\nformat = "npm"\ntype = "hosted"\ncolour = "red"\n',
         "colour"),
        ('[[repository]]\nformat = "npm"\ntype = "hosted"\n', "name"),
        ("[[repository]\n", "(syntax)"),
    ],
)
def test_invalid_repos_toml_names_file_key_and_fix(tmp_path: Path, toml: str, key: str) -> None:
    (tmp_path / "repos.toml").write_text(toml)
    with pytest.raises(SeedError) as info:
        load_seed(tmp_path)
    text = str(info.value)
    assert "repos.toml" in text and key in text and "hint:" in text


def test_missing_repos_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"repos\.toml"):
        load_seed(tmp_path)


def test_hidden_files_and_escaping_symlinks_are_never_served(seed_copy: Path) -> None:
    raw = seed_copy / "raw-files"
    (raw / ".DS_Store").write_bytes(b"junk")
    (raw / "docs" / "passwd").symlink_to("/etc/passwd")
    paths = {f.path for f in load_seed(seed_copy).repository("raw-files").files}
    assert ".DS_Store" not in paths and "docs/passwd" not in paths


def test_watcher_rereads_added_and_replaced_files(seed_copy: Path) -> None:
    watcher = SeedWatcher(seed_copy)
    before = watcher.current()
    assert watcher.current() is before  # nothing changed: no reload

    added = seed_copy / "raw-files" / "docs" / "NEW.txt"
    added.write_text("new\n")
    after_add = watcher.current()
    assert after_add.repository("raw-files").file("docs/NEW.txt") is not None

    target = seed_copy / "raw-files" / "tools" / "install.sh"
    target.write_text("#!/bin/sh\necho replaced\n")
    os.utime(target, (1_700_000_000, 1_700_000_000))
    replaced = watcher.current().repository("raw-files").file("tools/install.sh")
    assert replaced.digests["sha1"] == hashlib.sha1(b"#!/bin/sh\necho replaced\n").hexdigest()

    shutil.rmtree(seed_copy / "raw-files" / "docs")
    assert watcher.current().repository("raw-files").file("docs/NEW.txt") is None
