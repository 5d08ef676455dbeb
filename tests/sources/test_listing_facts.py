"""What a listing entry really tells: sizes and checksums are used only where they are real.

Listings recorded from real servers by other projects show Nexus `fileSize: 0` on real jars of
proxy repositories (size unknown, not zero), checksums redacted as `"......"`, and Artifactory
sizes as strings (reference/codeartifact-fidelity-2.md, last paragraph)."""

from __future__ import annotations

import hashlib
import logging

import pytest

from migrator.models import Format
from migrator.sources import as_size, build_asset, listed_size, normal_checksums

EMPTY_SHA1 = hashlib.sha1(b"").hexdigest()
JAR_SHA1 = hashlib.sha1(b"a jar").hexdigest()
PATH = "com/acme/app/1.0/app-1.0.jar"


@pytest.mark.parametrize(("raw", "checksums", "expected"), [
    (0, {"sha1": JAR_SHA1}, None),  # Nexus: 0 beside a real file's checksum = unknown
    ("0", {"sha1": JAR_SHA1}, None),  # Artifactory writes sizes as strings
    (0, {}, None),  # nothing says it is empty
    (None, {"sha1": JAR_SHA1}, None),  # absent
    ("", {}, None),
    (0, {"sha1": EMPTY_SHA1}, 0),  # a real empty file
    ("0", {"md5": hashlib.md5(b"").hexdigest()}, 0),
    (5, {"sha1": JAR_SHA1}, 5),
    ("5", {}, 5),
    (-1, {}, None),
    (True, {}, None),
])
def test_listed_size_is_unknown_unless_it_is_real(raw, checksums, expected):
    assert listed_size(raw, checksums) == expected


def test_as_size_reads_ints_and_numeric_strings():
    assert as_size(" 12 ") == 12 and as_size(12) == 12 and as_size("12 B") is None


def test_checksums_that_are_not_hex_digests_are_dropped_with_a_note():
    notes: list[str] = []
    got = normal_checksums({"sha1": "......", "md5": "abc", "sha256": "Z" * 64,
                            "SHA-512": None, "sha2": "AB" * 32, "blake": "x"}, notes)
    assert got == {"sha256": "ab" * 32}  # the alias, lowercased; the rest are not digests
    assert len(notes) == 3 and any("'......'" in n and "sha1" in n for n in notes)


def test_build_asset_logs_and_ignores_redacted_checksums_and_an_unknown_size(caplog):
    caplog.set_level(logging.WARNING, logger="migrator.sources")
    asset, skip = build_asset(Format.MAVEN, "maven-central", PATH, size=0,
                              checksums={"sha1": "......", "md5": "......"})
    assert skip is None and asset.refused is None
    assert asset.size is None and asset.checksums == {}
    assert "maven-central/com/acme/app/1.0/app-1.0.jar" in caplog.text
    assert "'......' is not a sha1 digest" in caplog.text


def test_build_asset_keeps_real_facts():
    asset, _ = build_asset(Format.MAVEN, "r", PATH, size="5", checksums={"sha1": JAR_SHA1})
    assert asset.size == 5 and asset.checksums == {"sha1": JAR_SHA1}


def test_a_raw_file_name_codeartifact_refuses_is_excluded_with_the_rule_and_the_option():
    asset, skip = build_asset(Format.GENERIC, "raw-files", "logs/1.0/build:42.log", size=3)
    assert asset.refused is None and asset.coordinates is not None
    assert "character ':'" in skip and "generic_asset_name_map" in skip
    mapped, skip = build_asset(Format.GENERIC, "raw-files", "logs/1.0/build:42.log", size=3,
                               asset_name_map={":": "-"})
    assert skip is None and mapped.coordinates.extra["asset"] == "build-42.log"


def test_the_manifest_mapping_reaches_the_crawl_and_is_validated(tmp_path):
    import anyio
    import httpx

    from migrator.errors import ManifestError
    from migrator.manifest import parse_manifest
    from migrator.models import RepoType, SourceRepository
    from migrator.sources.nexus import NexusCrawler

    head = ('[source]\nkind = "nexus"\nurl = "http://n"\n[target]\ndomain = "demo"\n'
            'domain_owner = "111122223333"\nregion = "us-east-1"\n[[repositories]]\n'
            'source = "raw-files"\ntarget = "raw-files"\n')
    m = parse_manifest(head + '[options.generic_asset_name_map]\n":" = "-"\n',
                       tmp_path / "m.toml")
    assert m.options.generic_asset_name_map == ((":", "-"),)
    with pytest.raises(ManifestError, match="generic_asset_name_map"):
        parse_manifest(head + '[options.generic_asset_name_map]\n":" = "a/b"\n',
                       tmp_path / "m.toml")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"continuationToken": None, "items": [
            {"path": "logs/1.0/build:42.log", "fileSize": 3, "format": "raw",
             "checksum": {"sha1": hashlib.sha1(b"abc").hexdigest()}}]})

    async def crawl(mapping):
        crawler = NexusCrawler(httpx.AsyncClient(base_url="http://n",
                                                 transport=httpx.MockTransport(handler)))
        crawler.asset_name_map = mapping
        repo = SourceRepository("raw-files", Format.GENERIC, RepoType.HOSTED)
        pages = [p async for p in crawler.crawl(repo)]
        await crawler.aclose()
        return pages[0].items[0]

    asset, skip = anyio.run(crawl, dict(m.options.generic_asset_name_map))
    assert skip is None and asset.coordinates.extra["asset"] == "build-42.log"
    _, skip = anyio.run(crawl, None)
    assert "generic_asset_name_map" in skip
