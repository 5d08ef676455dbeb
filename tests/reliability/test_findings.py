"""The five findings of the hostile-source audit, each pinned at its cause with injected fakes:
a wheel whose metadata names another package, an npm gzip bomb, a listing that loops, one
repository whose listing fails for good, a file name too long for the spool (and the reasons
that quoted it)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import anyio
import pytest

from migrator.errors import ListingLoop, SourceError, describe, shorten
from migrator.formats.npm import TarballRefused, read_package_json
from migrator.formats.pypi import identity_conflict
from migrator.manifest import load_manifest
from migrator.models import Format, RepoType, SourceRepository
from migrator.paths import spool_name
from migrator.pipeline.plan import plan
from migrator.sources import Page, build_asset
from migrator.sources.paging import MAX_IDLE_PAGES, guard_pages
from migrator.state import WorkQueue
from migrator.target.errors import PublishError
from migrator.target.pypi import upload_fields
from migrator_sandbox.hostile_catalogue import gzip_bomb

from .helpers import ROOT

# -- (a) a wheel may only publish into the package its name and the listing give -------------


def wheel(tmp_path: Path, filename: str, name: str, version: str) -> Path:
    path = tmp_path / filename
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"x-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def test_a_wheel_whose_metadata_names_another_package_is_refused(tmp_path):
    name = "hostile_wheel-1.0.0-py3-none-any.whl"
    path = wheel(tmp_path, name, "six", "6.6.6")
    with pytest.raises(PublishError) as caught:
        upload_fields(path, name, {}, ("hostile-wheel", "1.0.0"))
    assert caught.value.retryable is False
    assert "metadata says six 6.6.6" in caught.value.message
    assert "file name says hostile-wheel 1.0.0" in caught.value.message


def test_a_wheel_whose_name_metadata_and_listing_agree_is_uploaded(tmp_path):
    name = "Acme.Hello-1.0-py3-none-any.whl"
    path = wheel(tmp_path, name, "acme_hello", "1.0.0")  # normalised forms agree
    fields = dict(upload_fields(path, name, {}, ("acme-hello", "1.0")))
    assert fields["name"] == "acme_hello" and fields["version"] == "1.0.0"


@pytest.mark.parametrize("listed, meta, conflict", [
    (("six", "1.16.0"), ("six", "1.16.0"), False),
    (("six", "1.16.0"), ("Six", "1.16"), False),
    (("six", "1.16.0"), ("six", "6.6.6"), True),       # the version
    (("other", "1.16.0"), ("six", "1.16.0"), True),    # the listing
    (("six", "1.16.0"), ("", "1.16.0"), True),         # no name at all
])
def test_identity_needs_the_file_name_the_listing_and_the_metadata(listed, meta, conflict):
    found = identity_conflict("six-1.16.0-py2.py3-none-any.whl", *listed, *meta)
    assert (found is not None) == conflict, found


# -- (b) a gzip bomb as an npm tarball is refused with bounded memory ---------------------------


def tgz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_package_json_is_read_from_package_or_the_single_top_folder():
    assert read_package_json(tgz({"package/package.json": b'{"name": "a"}'})) == {"name": "a"}
    other = tgz({"left-pad/package.json": b'{"name": "b"}', "left-pad/index.js": b"x"})
    assert read_package_json(other) == {"name": "b"}
    both = tgz({"x/package.json": b'{"name": "x"}', "package/package.json": b'{"name": "p"}'})
    assert read_package_json(both) == {"name": "p"}


@pytest.mark.parametrize("data, why", [
    (b"not a tarball at all", "not a readable npm tarball"),
    (tgz({"package/index.js": b"x"}), "no package/package.json"),
    (tgz({"package/package.json": b"[1, 2]"}), "not a JSON object"),
    (tgz({"package/package.json": b"{nope"}), "not JSON"),
    (gzip_bomb(64 << 20), "not a package manifest"),
])
def test_unusable_tarballs_are_refused_in_one_line(data, why):
    with pytest.raises(TarballRefused) as caught:
        read_package_json(data)
    assert why in str(caught.value) and "\n" not in str(caught.value)


def test_a_huge_member_before_package_json_stops_the_scan():
    data = tgz({"package/blob.bin": b"\0" * (3 << 20), "package/package.json": b"{}"})
    with pytest.raises(TarballRefused, match="inflates to more than"):
        read_package_json(data, max_inflated=1 << 20)


def test_a_one_gigabyte_bomb_is_refused_within_a_few_megabytes():
    """Measured in a fresh process: peak RSS grows by less than 64 MB reading a tarball whose
    package.json inflates to 1 GiB (it grew to about 2 GB before the reads were bounded)."""
    code = (
        "import resource, sys\n"
        "from migrator_sandbox.hostile_catalogue import gzip_bomb\n"
        "from migrator.target.npm import manifest_from_tarball\n"
        "data = gzip_bomb(1 << 30)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    manifest_from_tarball(data)\nexcept Exception as exc:\n"
        "    print(type(exc).__name__, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout.split()
    assert out[0] == "PublishError", out
    assert int(out[1]) < 64 * 1024, f"RSS grew by {int(out[1]) // 1024} MiB"


# -- (c) a listing that goes round in a circle stops with the repository's name ---------------


def found(path: str):
    return build_asset(Format.GENERIC, "r", path)


async def pages_of(specs):
    for paths, cursor in specs:
        yield Page(items=[found(p) for p in paths], cursor=cursor, done=cursor is None)


async def drain(specs, start=None):
    out = []
    async for page in guard_pages(pages_of(specs), system="Nexus", repository="loopy",
                                  start=start):
        out.append(page)
    return out


def test_a_repeated_continuation_token_stops_the_crawl_naming_the_repository():
    specs = [(["a.txt"], "t1"), (["b.txt"], "t2"), (["c.txt"], "t1"), (["d.txt"], None)]
    with pytest.raises(ListingLoop) as caught:
        anyio.run(drain, specs)
    assert "'loopy'" in caught.value.message and "Nexus" in caught.value.message
    assert caught.value.exit_code == 1 and not caught.value.retryable


def test_a_token_repeating_the_one_resumed_from_stops_too():
    with pytest.raises(ListingLoop):
        anyio.run(drain, [(["a.txt"], "t0")], "t0")


def test_pages_that_add_nothing_stop_the_crawl_after_a_bound():
    specs = [([], f"t{i}") for i in range(MAX_IDLE_PAGES + 5)] + [([], None)]
    with pytest.raises(ListingLoop, match="add nothing"):
        anyio.run(drain, specs)
    same = [(["a.txt"], f"s{i}") for i in range(MAX_IDLE_PAGES + 5)]
    with pytest.raises(ListingLoop, match="the same files again"):
        anyio.run(drain, same)


def test_a_listing_that_moves_forward_passes_unchanged():
    specs = [([], "t1"), (["a.txt"], "t2"), ([], "t3"), (["b.txt"], None)]
    pages = anyio.run(drain, specs)
    assert [p.cursor for p in pages] == ["t1", "t2", "t3", None]


# -- (d) one repository failing for good does not stop the others -----------------------------


class FakeCrawler:
    """Three raw repositories; `broken` answers 5xx for good (the crawler's retries spent)."""

    kind, system, file_count_field = "nexus", "Nexus", None
    asset_name_map = None

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def repositories(self):
        return [SourceRepository(name=n, format=Format.GENERIC, type=RepoType.HOSTED)
                for n in ("one", "broken", "two")]

    async def crawl(self, repository, cursor=None):
        self.calls.append(repository.name)
        if repository.name == "broken":
            raise SourceError("Nexus kept failing: GET /service/rest/v1/assets (HTTP 500)")
        yield Page(items=[build_asset(Format.GENERIC, repository.name, f"{repository.name}.txt",
                                      size=1, checksums={})], cursor=None, done=True)

    async def reported_file_count(self, repository):
        return None

    async def aclose(self):
        pass


def manifest(tmp_path: Path):
    lines = ["[source]", 'kind = "nexus"', 'url = "http://nexus.test"',
             'username_env = "NX_USER"', 'password_env = "NX_PASS"', "[target]",
             'domain = "acme"', 'domain_owner = "111122223333"', 'region = "us-east-1"']
    for name in ("one", "broken", "two"):
        lines += ["[[repositories]]", f'source = "{name}"', 'target = "files"']
    path = tmp_path / "m.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_manifest(path)


def test_a_repository_failing_for_good_is_named_and_the_others_are_planned(tmp_path):
    m, crawler = manifest(tmp_path), FakeCrawler()
    with WorkQueue.open(tmp_path / "s.sqlite", lock_for="plan") as q:
        summary = anyio.run(lambda: plan(m, q, crawler_factory=lambda _s: crawler))
        by = {r.source: r.crawl for r in summary.repositories}
        assert by == {"one": "complete", "broken": "crawling", "two": "complete"}
        assert summary.crawl_failures and summary.crawl_failures[0][0] == "broken"
        assert summary.exit_code == 1
        text = summary.render()
        assert "one" in text and "two" in text  # what was planned is still shown
        line = next(li for li in text.splitlines() if "listing failed: broken" in li)
        assert "HTTP 500" in line
        assert "the others are planned above" in text and "run the same command" in text
        doc = summary.as_dict()
        assert doc["exit_code"] == 1
        assert [f["repository"] for f in doc["crawl_failures"]] == ["broken"]
        # the next plan lists only what is missing
        crawler.calls.clear()
        anyio.run(lambda: plan(m, q, crawler_factory=lambda _s: crawler))
        assert crawler.calls == ["broken"]


# -- (e) spool names are ours; reasons quote names shortened ----------------------------------


def test_spool_names_never_come_from_the_source():
    long = "a" * 3000 + "-1.0-py3-none-any.whl"
    assert spool_name(7, long) == "a7.whl"
    assert spool_name(8, "../../etc/passwd") == "a8"
    assert spool_name(9, "x.TAR.GZ") == "a9.tar.gz"
    assert len(spool_name(10 ** 12, "é" * 5000 + ".jar")) < 32


def test_reasons_quoting_a_long_name_are_shortened_keeping_both_ends():
    text = "cannot publish " + "n" * 6000 + ": HTTP 400 name too long"
    short = shorten(text)
    assert len(short) <= 600 and short.startswith("cannot publish ")
    assert short.endswith("HTTP 400 name too long") and "characters)" in short
    assert shorten("short") == "short"
    assert len(describe(OSError(36, "File name too long: " + "x" * 3000))) <= 600


def test_the_spool_download_of_a_3000_character_name_is_not_an_os_error(tmp_path):
    """The spool file of an asset named by a 3,000-character file name can be created."""
    path = tmp_path / spool_name(1, "c" * 3000 + ".jar")
    path.write_bytes(b"x")
    assert path.read_bytes() == b"x"
    with pytest.raises(OSError):
        (tmp_path / ("c" * 3000 + ".jar")).write_bytes(b"x")  # what it used to be named


def test_reasons_are_stored_shortened(tmp_path):
    from migrator.models import DiscoveredAsset

    asset = DiscoveredAsset(path="x.bin", size=1, checksums={}, coordinates=None,
                            refused="unsafe: " + "z" * 5000)
    with WorkQueue.open(tmp_path / "s.sqlite", lock_for="plan") as q:
        repo = q.upsert_repository(source="r", target="t", format=Format.GENERIC,
                                   repo_type=RepoType.HOSTED, mode="copy", stage=1)
        q.record_page(repo, [(asset, None)], cursor=None, done=True)
        reason = q.conn.execute("SELECT reason FROM assets").fetchone()[0]
    assert len(reason) <= 600 and json.dumps(reason)
