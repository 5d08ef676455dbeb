"""npm lockfile readers on the samples in sample-manifests/lockfiles and on edge cases."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from migrator.errors import LockfileError
from migrator.lockfiles import read_lockfile, sri_hashes
from migrator.lockfiles.yarn_v1 import YarnSyntaxError, parse_yarn_v1
from migrator.models import Format

SEED = Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed"
MS = SEED / "npm-proxy" / "ms" / "-" / "ms-2.1.3.tgz"


def keys(items):
    return sorted((i.namespace, i.name, i.version, i.path) for i in items)


COMMON = [("", "ms", "2.1.3", "ms/-/ms-2.1.3.tgz"),
          ("isaacs", "string-locale-compare", "1.1.0",
           "@isaacs/string-locale-compare/-/string-locale-compare-1.1.0.tgz")]


def test_package_lock_v3_reads_aliases_under_their_real_name(samples):
    items = read_lockfile(samples / "npm" / "package-lock.json")
    assert keys(items) == sorted([*COMMON, ("", "ms", "2.1.2", "ms/-/ms-2.1.2.tgz")])
    assert all(i.format is Format.NPM for i in items)
    ms = next(i for i in items if i.version == "2.1.3")
    # the integrity is the tarball's real SHA-512 (the seed holds the same public file)
    assert ms.hashes == {"sha512": hashlib.sha512(MS.read_bytes()).hexdigest()}
    assert ms.resolved == "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz"


def test_package_lock_skips_root_links_workspaces_git_and_bundled(tmp_path):
    doc = {"lockfileVersion": 2, "packages": {
        "": {"name": "app"},
        "packages/lib": {"version": "1.0.0"},
        "node_modules/lib": {"resolved": "packages/lib", "link": True},
        "node_modules/gitdep": {"version": "1.0.0",
                                "resolved": "git+ssh://git@github.com/x/gitdep.git#abc"},
        "node_modules/a/node_modules/@s/b": {"version": "2.0.0"},
        "node_modules/a/node_modules/bundled": {"version": "1.0.0", "inBundle": True},
    }}
    (tmp_path / "npm-shrinkwrap.json").write_text(json.dumps(doc))
    items = read_lockfile(tmp_path / "npm-shrinkwrap.json")
    assert keys(items) == [("s", "b", "2.0.0", "@s/b/-/b-2.0.0.tgz")]


def test_package_lock_v1_is_refused_with_the_fix(tmp_path):
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 1, "dependencies": {}}')
    with pytest.raises(LockfileError, match="lockfileVersion 1") as e:
        read_lockfile(tmp_path / "package-lock.json")
    assert "npm 7" in e.value.hint


def test_pnpm_v9(samples):
    items = read_lockfile(samples / "pnpm" / "pnpm-lock.yaml")
    assert keys(items) == sorted(COMMON)
    assert all("sha512" in i.hashes for i in items)


@pytest.mark.parametrize("version, key", [
    ("6.0", "/@s/b@1.2.0(react@18.2.0)"), ("9.0", "'@s/b@1.2.0'"), ("5.4", "/@s/b/1.2.0"),
])
def test_pnpm_keys_of_each_lockfile_version(tmp_path, version, key):
    (tmp_path / "pnpm-lock.yaml").write_text(
        f"lockfileVersion: '{version}'\npackages:\n  {key}:\n"
        "    resolution: {integrity: sha512-AAAA}\n"
        "  /local@0.0.1:\n    resolution: {directory: ../local, type: directory}\n")
    items = read_lockfile(tmp_path / "pnpm-lock.yaml")
    assert keys(items) == [("s", "b", "1.2.0", "@s/b/-/b-1.2.0.tgz")]


def test_yarn_classic_keeps_integrity_and_resolved_sha1(samples):
    items = read_lockfile(samples / "yarn-classic" / "yarn.lock")
    assert keys(items) == sorted([*COMMON, ("", "ms", "2.0.0", "ms/-/ms-2.0.0.tgz"),
                                  ("", "is-number", "7.0.0", "is-number/-/is-number-7.0.0.tgz")])
    ms = next(i for i in items if i.version == "2.1.3")
    assert ms.hashes["sha1"] == hashlib.sha1(MS.read_bytes()).hexdigest()
    assert ms.hashes["sha512"] == hashlib.sha512(MS.read_bytes()).hexdigest()


def test_yarn_berry_skips_workspaces(samples):
    items = read_lockfile(samples / "yarn-berry" / "yarn.lock")
    assert keys(items) == sorted(COMMON)
    assert all(i.hashes == {} for i in items)  # berry's checksum is of Yarn's zip, not kept


def test_yarn_v1_grammar():
    doc = parse_yarn_v1('# comment\n\n"@a/b@^1", c@npm:d@^2:\n  version "1.0.0"\n'
                        '  optional true\n  dependencies:\n    "x y" "^1 || ^2"\n')
    assert doc == {"@a/b@^1, c@npm:d@^2": {"version": "1.0.0", "optional": True,
                                           "dependencies": {"x y": "^1 || ^2"}}}
    with pytest.raises(YarnSyntaxError, match="line 2"):
        parse_yarn_v1('a@1:\n  version "1.0.0\n')
    with pytest.raises(YarnSyntaxError, match="no value"):
        parse_yarn_v1("a@1:\n  version\n")


def test_yarn_v1_aliases_resolve_to_the_real_package(tmp_path):
    (tmp_path / "yarn.lock").write_text(
        '# yarn lockfile v1\n\n"old-ms@npm:ms@2.0.0":\n  version "2.0.0"\n'
        '  resolved "https://registry.yarnpkg.com/ms/-/ms-2.0.0.tgz"\n'
        'local@file:../local:\n  version "1.0.0"\n  resolved "file:../local"\n')
    assert keys(read_lockfile(tmp_path / "yarn.lock")) == [("", "ms", "2.0.0",
                                                            "ms/-/ms-2.0.0.tgz")]


def test_sri_hashes():
    digest = hashlib.sha1(b"x").digest()
    assert sri_hashes(f"sha1-{base64.b64encode(digest).decode()} sha999-zz") == {
        "sha1": digest.hex()}
    assert sri_hashes(None) == {}
