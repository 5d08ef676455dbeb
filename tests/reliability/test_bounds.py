"""Bounded reads of what a hostile source sends, and the run summary when listings fail:

- a wheel whose METADATA, or an sdist whose PKG-INFO, inflates to 1 GiB is refused by the
  PyPI publisher with the process's peak RSS growing by a few MB (measured in a fresh process;
  pkginfo's own readers grew it by about 10 GiB);
- a source packument above the cap is refused naming the repository and the package, read
  only up to the cap (counted at the transport) or not at all (told by Content-Length);
- a run whose listing of some repositories failed for good prints its summary, text and
  JSON, naming them, and exits 1.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tarfile
import tracemalloc

import anyio
import httpx
import pytest

from migrator.errors import SourceError
from migrator.formats.npm import TarballRefused, read_package_json
from migrator.formats.pypi import MetadataRefused, read_core_metadata
from migrator.pipeline.stats import RunSummary
from migrator.sources.access import MAX_PACKUMENT, SourceAccess
from migrator.sources.nexus import NexusCrawler
from migrator.state.queries import RepositoryCounts

from .helpers import ROOT

BOMB = """
import resource, sys, tempfile, pathlib
from migrator_sandbox.hostile_catalogue import sdist_bomb, wheel_bomb
from migrator.target.pypi import upload_fields
kind = sys.argv[1]
folder = pathlib.Path(tempfile.mkdtemp())
if kind == "wheel":
    path = folder / "hostile_zip-1.0.0-py3-none-any.whl"
    path.write_bytes(wheel_bomb(256 << 20))
else:
    path = folder / "hostile_tar-1.0.0.tar.gz"
    path.write_bytes(sdist_bomb(1 << 30))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    upload_fields(path, path.name, {"md5": "m", "sha256": "s"})
except Exception as exc:
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(type(exc).__name__, grown, str(exc))
"""


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_a_metadata_bomb_is_refused_within_a_few_megabytes(kind):
    out = subprocess.run([sys.executable, "-c", BOMB, kind], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, check=True).stdout.split(" ", 2)
    assert out[0] == "PublishError", out
    assert int(out[1]) < 32 * 1024, f"RSS grew by {int(out[1]) // 1024} MiB"
    assert "hostile_" in out[2] and "not core metadata" in out[2], out[2]


# -- packuments ---------------------------------------------------------------------------------


class Served:
    """A Nexus whose packument of `huge` streams `size` bytes of JSON in 64 KiB chunks;
    `sent` counts what left the server."""

    def __init__(self, size: int, *, tell_length: bool) -> None:
        self.size, self.tell_length, self.sent = size, tell_length, 0

    async def _body(self):
        chunk = b" " * 65536
        yield b'{"name": "huge", "versions": {}, "x": "'
        for _ in range(self.size // len(chunk)):
            self.sent += len(chunk)
            yield chunk
        yield b'"}'

    def handler(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/huge"):
            return httpx.Response(200, json={"name": "small", "versions": {}})
        headers = {"Content-Length": str(self.size + 42)} if self.tell_length else {}
        return httpx.Response(200, headers=headers, content=self._body())


def packument(served: Served, name: str, limit: int) -> object:
    client = httpx.AsyncClient(base_url="http://nexus.test",
                               transport=httpx.MockTransport(served.handler))
    access = SourceAccess(crawler=NexusCrawler(client), repositories={}, spool_dir=ROOT,
                          max_packument=limit)

    async def read():
        try:
            return await access.npm_packument("npm-internal", name)
        finally:
            await access.aclose()

    return anyio.run(read)


def test_the_default_cap_is_generous_and_written_once():
    assert MAX_PACKUMENT == 64 * 1024 * 1024
    assert SourceAccess.__dataclass_fields__["max_packument"].default_factory() == MAX_PACKUMENT


def test_a_packument_within_the_cap_is_read():
    assert packument(Served(1 << 20, tell_length=False), "small", 1 << 20)["name"] == "small"
    doc = packument(Served(1 << 20, tell_length=True), "huge", 2 << 20)
    assert doc["name"] == "huge"


@pytest.mark.parametrize("tell_length", [False, True])
def test_a_packument_above_the_cap_is_refused_naming_repository_and_package(tell_length):
    served = Served(256 << 20, tell_length=tell_length)
    with pytest.raises(SourceError) as caught:
        packument(served, "huge", 1 << 20)
    message = caught.value.message
    assert caught.value.retryable is False
    assert "read for huge in repository npm-internal" in message and "\n" not in message, message
    # Streamed and stopped: at most the cap (and one chunk), or nothing when the length told.
    assert served.sent <= (0 if tell_length else (1 << 20) + 65536), served.sent


# -- the run summary names the repositories whose listing failed -----------------------------


def summary(**kw) -> RunSummary:
    counts = RepositoryCounts(source="raw-files", target="raw-files", format="generic",
                              mode="copy", stage=1, crawl="complete", pages=1,
                              assets={"verified": 3}, versions={"verified": 3},
                              bytes={"verified": 30})
    return RunSummary(repositories={"raw-files": counts}, **kw)


def test_failed_listings_are_in_the_summary_and_make_the_exit_code_1():
    ok = summary()
    assert ok.exit_code == 0 and ok.as_dict()["crawl_failures"] == []
    failed = summary(crawl_failures=[("broken-repo", "Nexus kept failing: GET /x (HTTP 500)" +
                                      "x" * 5000)])
    assert failed.exit_code == 1
    text = failed.render()
    assert "raw-files" in text and "verified" in text  # what did migrate is still reported
    line = next(li for li in text.splitlines() if "broken-repo" in li)
    assert "HTTP 500" in line and len(line) < 700
    assert "run the same command again" in text
    doc = json.loads(json.dumps(failed.as_dict()))
    assert doc["exit_code"] == 1
    assert [f["repository"] for f in doc["crawl_failures"]] == ["broken-repo"]
    assert summary(crawl_failures=[("b", "x")], interrupted=True).exit_code == 3


@pytest.fixture(scope="module")
def many_members(tmp_path_factory):
    """A tar.gz of a few hundred KB holding 50,000 empty members."""
    info = tarfile.TarInfo("package/f")
    info.size, info.mtime = 0, 1
    path = tmp_path_factory.mktemp("many") / "many-1.0.tar.gz"
    path.write_bytes(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT) * 50_000
                                   + bytes(1024)))
    return path


@pytest.mark.parametrize("reader", ["npm", "pypi"])
def test_a_tar_of_fifty_thousand_empty_members_costs_no_memory(reader, many_members):
    """tarfile's stream keeps every header it read (tens of MB for these, within the scan
    caps): the readers drop them as they go. Counted by tracemalloc, which sees every
    Python allocation whatever the allocator keeps."""
    data = many_members.read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises((TarballRefused, MetadataRefused)):
            if reader == "npm":
                read_package_json(data)
            else:
                read_core_metadata(many_members, many_members.name)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak // 1024} KiB"
