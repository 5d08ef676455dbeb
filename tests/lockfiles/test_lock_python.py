"""Python lockfile readers on the samples in sample-manifests/lockfiles and on edge cases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from migrator.errors import LockfileError
from migrator.lockfiles import detect, read_lockfile, read_lockfiles
from migrator.models import Format

SEED = Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed"
SIX = SEED / "pypi-proxy/packages/six/1.16.0/six-1.16.0-py2.py3-none-any.whl"
SIX_SHA = hashlib.sha256(SIX.read_bytes()).hexdigest()


def files(items):
    return sorted((i.name, i.version, i.filename) for i in items)


WHEELS = [("iniconfig", "2.0.0", "iniconfig-2.0.0-py3-none-any.whl"),
          ("six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl")]


def test_requirements_pins_with_hashes_and_markers(samples):
    items = read_lockfile(samples / "python" / "requirements.txt")
    assert files(items) == [("iniconfig", "2.0.0", ""), ("packaging", "24.1", ""),
                            ("six", "1.16.0", ""),
                            ("typing-extensions", "4.12.2", "")]
    assert all(i.format is Format.PYPI for i in items)
    six = next(i for i in items if i.name == "six")
    assert six.hashes == {"sha256": SIX_SHA}
    te = next(i for i in items if i.name == "typing-extensions")
    assert len(te.hashes["sha256"].split(",")) == 2  # one digest per file of the pin


def test_requirements_includes_and_normalised_names(tmp_path):
    (tmp_path / "base.txt").write_text("Typing_Extensions===4.12.2\n")
    (tmp_path / "requirements-dev.txt").write_text(
        "-r base.txt\n-e ./local\n--extra-index-url https://example.org/simple\n"
        "six==1.16.0 --hash=sha256:" + SIX_SHA + "  # pinned\n")
    path = tmp_path / "requirements-dev.txt"
    assert detect(path) == "requirements.txt"
    assert files(read_lockfile(path)) == [("six", "1.16.0", ""),
                                          ("typing-extensions", "4.12.2", "")]


@pytest.mark.parametrize("line", ["six>=1.16", "six", "six==1.*", "six @ https://x/six.whl",
                                  "six==1.16,<2"])
def test_requirements_refuse_what_is_not_one_pin(tmp_path, line):
    (tmp_path / "requirements.txt").write_text(f"# header\n{line}\n")
    with pytest.raises(LockfileError, match=r"requirements.txt:2: .* not pinned") as e:
        read_lockfile(tmp_path / "requirements.txt")
    assert "pip-compile" in e.value.hint


def test_requirements_bad_hash_names_the_line(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0 --hash=crc32:00\n")
    with pytest.raises(LockfileError, match=r"requirements.txt:1: --hash 'crc32:00'"):
        read_lockfile(tmp_path / "requirements.txt")


def test_poetry_lock_skips_directory_sources(samples):
    items = read_lockfile(samples / "python" / "poetry.lock")
    assert files(items) == WHEELS
    assert next(i for i in items if i.name == "six").hashes == {"sha256": SIX_SHA}
    assert items[0].path == "packages/iniconfig/2.0.0/iniconfig-2.0.0-py3-none-any.whl"


def test_poetry_lock_before_1_5_keeps_files_in_metadata(tmp_path):
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "six"\nversion = "1.16.0"\n\n[metadata]\nlock-version = "1.1"\n'
        '[metadata.files]\nsix = [\n  {file = "six-1.16.0-py2.py3-none-any.whl", '
        f'hash = "sha256:{SIX_SHA}"}},\n]\n')
    assert files(read_lockfile(tmp_path / "poetry.lock")) == [WHEELS[1]]


def test_uv_lock_keeps_registry_packages_only(samples):
    items = read_lockfile(samples / "python" / "uv.lock")
    assert files(items) == sorted([*WHEELS,
                                   ("packaging", "24.1", "packaging-24.1-py3-none-any.whl"),
                                   ("typing-extensions", "4.12.2",
                                    "typing_extensions-4.12.2-py3-none-any.whl"),
                                   ("typing-extensions", "4.12.2",
                                    "typing_extensions-4.12.2.tar.gz")])
    assert "inventory-service" not in {i.name for i in items}


def test_pylock_pep751(samples, tmp_path):
    items = read_lockfile(samples / "python" / "pylock.toml")
    assert files(items) == WHEELS
    assert next(i for i in items if i.name == "six").hashes == {"sha256": SIX_SHA}
    # the version may be left out: it is read from the file name
    (tmp_path / "pylock.ci.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "six"\n'
        'wheels = [{name = "six-1.16.0-py2.py3-none-any.whl", url = "https://x/y.whl", '
        f'hashes = {{sha256 = "{SIX_SHA}"}}}}]\n')
    assert files(read_lockfile(tmp_path / "pylock.ci.toml")) == [WHEELS[1]]
    (tmp_path / "pylock.toml").write_text('lock-version = "2.0"\n')
    with pytest.raises(LockfileError, match=r"lock-version 2.0"):
        read_lockfile(tmp_path / "pylock.toml")


def test_across_lockfiles_each_file_once_with_merged_sources(samples):
    paths = [samples / "python" / n for n in ("poetry.lock", "uv.lock", "pylock.toml")]
    items = read_lockfiles(paths)
    six = [i for i in items if i.name == "six"]
    assert len(six) == 1 and len(six[0].lockfiles) == 3


def test_conflicting_hashes_across_lockfiles_are_an_error(samples, tmp_path):
    bad = (samples / "python" / "poetry.lock").read_text().replace(SIX_SHA, "0" * 64)
    (tmp_path / "poetry.lock").write_text(bad)
    with pytest.raises(LockfileError, match=r"six==1.16.0 .* pins sha256"):
        read_lockfiles([samples / "python" / "uv.lock", tmp_path / "poetry.lock"])


def test_unknown_file_name_is_refused_with_the_names_it_reads(tmp_path):
    (tmp_path / "deps.lock").write_text("x")
    with pytest.raises(LockfileError, match="not a lockfile") as e:
        read_lockfile(tmp_path / "deps.lock")
    assert "poetry.lock" in e.value.hint
