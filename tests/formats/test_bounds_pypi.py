"""Bounded reads of a distribution file's core metadata (`formats.pypi.read_core_metadata`):
the real member is found and read, a zip or tar bomb is refused in one line naming the file,
and never more than the cap is read."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from migrator.formats.pypi import MAX_METADATA, MetadataRefused, read_core_metadata
from migrator.target.errors import PublishError
from migrator.target.pypi import upload_fields
from migrator_sandbox.hostile_catalogue import sdist_bomb, wheel_bomb

META = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: the real one\n"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_wheel_gives_its_dist_info_metadata_not_a_vendored_one(tmp_path):
    wheel = _zip(tmp_path / "demo-1.0-py3-none-any.whl", {
        "demo/_vendor/x-2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: x\n",
        "demo-1.0.dist-info/METADATA": META,
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n"})
    assert read_core_metadata(wheel, wheel.name) == META
    fields = dict(upload_fields(wheel, wheel.name, {"md5": "m", "sha256": "s"}))
    assert (fields["name"], fields["version"], fields["summary"]) == ("demo", "1.0",
                                                                     "the real one")


@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w:bz2", ".tar.bz2"),
                                         ("w:xz", ".tar.xz"), ("w", ".tar")])
def test_an_sdist_gives_its_top_pkg_info_whatever_the_compression(tmp_path, mode, suffix):
    sdist = _tar(tmp_path / f"demo-1.0{suffix}", {
        "demo-1.0/src/demo.egg-info/PKG-INFO": b"Metadata-Version: 2.1\nName: nested\n",
        "demo-1.0/PKG-INFO": META, "demo-1.0/setup.py": b""}, mode)
    assert read_core_metadata(sdist, sdist.name) == META


def test_a_zip_sdist_and_an_egg_give_their_pkg_info(tmp_path):
    sdist = _zip(tmp_path / "demo-1.0.zip", {"demo-1.0/PKG-INFO": META})
    egg = _zip(tmp_path / "demo-1.0-py3.11.egg", {"EGG-INFO/PKG-INFO": META})
    assert read_core_metadata(sdist, sdist.name) == META
    assert read_core_metadata(egg, egg.name) == META


def test_a_wheel_whose_metadata_is_a_zip_bomb_is_refused_by_its_size(tmp_path):
    wheel = tmp_path / "hostile_zip-1.0.0-py3-none-any.whl"
    wheel.write_bytes(wheel_bomb(16 << 20))
    with pytest.raises(MetadataRefused, match=r"METADATA is \d+ bytes \(more than 4194304\)"):
        read_core_metadata(wheel, wheel.name)
    with pytest.raises(PublishError) as caught:
        upload_fields(wheel, wheel.name, {"md5": "m", "sha256": "s"})
    assert caught.value.retryable is False
    assert wheel.name in str(caught.value) and "\n" not in str(caught.value)


def test_a_zip_member_that_lies_about_its_size_is_read_only_up_to_the_cap(tmp_path):
    # The central directory says 100 bytes; the deflated data holds 8 MiB.
    wheel = tmp_path / "liar-1.0-py3-none-any.whl"
    data = _zip(wheel, {"liar-1.0.dist-info/METADATA": META + b" " * (8 << 20)}).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo("liar-1.0.dist-info/METADATA")
    real = info.file_size.to_bytes(4, "little")
    lying = data.replace(real, (100).to_bytes(4, "little"))
    assert lying.count((100).to_bytes(4, "little")) > data.count((100).to_bytes(4, "little"))
    wheel.write_bytes(lying)
    # zipfile stops at the told size and the CRC then fails: refused, 100 bytes read.
    with pytest.raises(MetadataRefused, match="not a readable archive"):
        read_core_metadata(wheel, wheel.name, max_member=1 << 20)


def test_an_sdist_whose_pkg_info_is_a_tar_bomb_is_refused_by_its_size(tmp_path):
    sdist = tmp_path / "hostile_tar-1.0.0.tar.gz"
    sdist.write_bytes(sdist_bomb(1 << 30))  # 1 GiB inflated, 1 MB on disk
    with pytest.raises(MetadataRefused, match=r"PKG-INFO is 1073741824 bytes"):
        read_core_metadata(sdist, sdist.name)


def test_an_sdist_scan_stops_at_the_inflated_bytes_cap(tmp_path):
    # PKG-INFO behind 4 MiB of other members; a 1 MiB scan cap refuses before it.
    sdist = _tar(tmp_path / "late-1.0.tar.gz", {"late-1.0/big.bin": b"\0" * (4 << 20),
                                                "late-1.0/PKG-INFO": META})
    with pytest.raises(MetadataRefused, match="inflates to more than 1048576 bytes"):
        read_core_metadata(sdist, sdist.name, max_inflated=1 << 20)
    assert read_core_metadata(sdist, sdist.name) == META


def test_a_pkg_info_at_the_cap_is_read_and_one_byte_more_is_not(tmp_path):
    body = META + b"D" * (MAX_METADATA - len(META))
    ok = _tar(tmp_path / "ok-1.0.tar.gz", {"ok-1.0/PKG-INFO": body})
    over = _tar(tmp_path / "over-1.0.tar.gz", {"over-1.0/PKG-INFO": body + b"D"})
    assert read_core_metadata(ok, ok.name) == body
    with pytest.raises(MetadataRefused, match="more than 4194304"):
        read_core_metadata(over, over.name)


@pytest.mark.parametrize("name,body,why", [
    ("none-1.0-py3-none-any.whl", b"not a zip", "not a readable archive"),
    ("none-1.0.tar.gz", b"\x1f\x8b not gzip", "not a readable archive"),
])
def test_unreadable_archives_are_refused_in_one_line(tmp_path, name, body, why):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(MetadataRefused, match=why) as caught:
        read_core_metadata(path, name)
    assert "\n" not in str(caught.value)


def test_an_archive_without_core_metadata_says_so(tmp_path):
    sdist = _tar(tmp_path / "empty-1.0.tar.gz", {"empty-1.0/setup.py": b""})
    with pytest.raises(MetadataRefused, match="no PKG-INFO with a Metadata-Version"):
        read_core_metadata(sdist, sdist.name)
