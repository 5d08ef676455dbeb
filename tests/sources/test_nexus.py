"""Nexus crawler details the sandbox does not exercise, against small `MockTransport` fakes."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from migrator.errors import SourceAuthError, SourceError
from migrator.models import AssetKind, Format, RepoType, SourceRepository
from migrator.retry import RetryPolicy
from migrator.sources.nexus import NexusCrawler

RELEASES = SourceRepository("maven-releases", Format.MAVEN, RepoType.HOSTED)


async def _no_sleep(seconds: float) -> None:
    return None


def crawler(handler) -> NexusCrawler:
    client = httpx.AsyncClient(base_url="http://nexus.test/",
                               transport=httpx.MockTransport(handler))
    return NexusCrawler(client, policy=RetryPolicy(name="t", attempts=2), sleep=_no_sleep)


def crawl(c: NexusCrawler, repo: SourceRepository = RELEASES, cursor: str | None = None):
    async def go():
        return [page async for page in c.crawl(repo, cursor=cursor)]

    return anyio.run(go)


def item(path: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "downloadUrl": "http://evil.example/x", "repository": "maven-releases",
            "format": "maven2", "checksum": {"sha1": "A" * 40}, **extra}


def test_sql_mode_leading_slash_is_stripped_and_checksums_normalised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"continuationToken": None, "items": [
            item("/com/acme/app/1.0/app-1.0.jar", fileSize=10,
                 checksum={"sha1": "A" * 40, "sha256": "short", "md5": None, "crc": "1"}),
            item("/com/acme/app/1.0/app-1.0.pom"),
            item("//etc/passwd"),
        ]})

    (page,) = crawl(crawler(handler))
    assets = {a.path: a for a, _ in page.items}
    jar = assets["com/acme/app/1.0/app-1.0.jar"]
    assert jar.checksums == {"sha1": "a" * 40} and jar.size == 10
    assert assets["com/acme/app/1.0/app-1.0.pom"].size is None  # fileSize arrived in 3.38
    assert assets["//etc/passwd"].refused == "unsafe path: absolute path"
    assert page.done and page.cursor is None


def test_orient_mode_paths_are_kept_and_a_stray_absolute_path_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"continuationToken": None, "items": [
            item("com/acme/app/1.0/app-1.0.jar"), item("com/acme/app/1.0/app-1.0.pom"),
            item("/etc/passwd")]})

    (page,) = crawl(crawler(handler))
    refused = [a for a, _ in page.items if a.refused]
    assert [a.path for a in refused] == ["/etc/passwd"]


def test_the_continuation_token_is_the_cursor_and_resumes_there() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("continuationToken")
        seen.append(token)
        nxt = {None: "t1", "t1": "t2", "t2": None}[token]
        return httpx.Response(200, json={"items": [item(f"g/a/1/a-1.{token}")],
                                         "continuationToken": nxt})

    pages = crawl(crawler(handler))
    assert [p.cursor for p in pages] == ["t1", "t2", None]
    assert [p.done for p in pages] == [False, False, True]
    seen.clear()
    assert [p.cursor for p in crawl(crawler(handler), cursor="t2")] == [None]
    assert seen == ["t2"]


def test_a_refused_saved_token_says_what_to_do() -> None:
    with pytest.raises(SourceError, match="refused the saved continuation token") as info:
        crawl(crawler(lambda r: httpx.Response(406, text="bad token")), cursor="stale")
    assert info.value.hint and "fresh crawl" in info.value.hint


@pytest.mark.parametrize("body", [b"[]", b'{"items": 5}', b'{"items": [], '
                                  b'"continuationToken": 7}'])
def test_malformed_pages_are_source_errors(body: bytes) -> None:
    with pytest.raises(SourceError, match="Nexus"):
        crawl(crawler(lambda r: httpx.Response(200, content=body)))


def test_repositories_skip_unsupported_formats_and_keep_upstreams() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[
            {"name": "docker-hosted", "format": "docker", "type": "hosted"},
            {"name": "npm-proxy", "format": "npm", "type": "proxy",
             "attributes": {"proxy": {"remoteUrl": "https://registry.npmjs.org"}}},
            {"name": "raw", "format": "raw", "type": "hosted", "attributes": None},
            "garbage",
        ])

    repos = anyio.run(crawler(handler).repositories)
    assert [(r.name, r.format, r.type, r.url) for r in repos] == [
        ("npm-proxy", Format.NPM, RepoType.PROXY, "https://registry.npmjs.org"),
        ("raw", Format.GENERIC, RepoType.HOSTED, None),
    ]


def test_download_url_is_ours_and_quoted() -> None:
    c = NexusCrawler.from_settings("https://nexus.internal/nexus/", username="u", password="p")
    url = c.download_url(SourceRepository("npm int", Format.NPM, RepoType.HOSTED),
                         "@scope/name/-/name 1.0.tgz")
    assert url == "https://nexus.internal/nexus/repository/npm%20int/%40scope/name/-/name%201.0.tgz"
    anyio.run(c.aclose)


def test_nexus_attributes_are_kept_as_properties_not_identity() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"continuationToken": None, "items": [
            {"path": "@acme/ui/-/ui-1.0.0.tgz", "format": "npm",
             "npm": {"name": "ui", "version": "1.0.0"}}]})

    npm = SourceRepository("npm-internal", Format.NPM, RepoType.HOSTED)
    (page,) = crawl(crawler(handler), npm)
    ((asset, skip),) = page.items
    assert asset.kind is AssetKind.ARTIFACT and skip is None
    assert (asset.coordinates.namespace, asset.coordinates.package) == ("acme", "ui")
    assert asset.properties == {"nexus.name": "ui", "nexus.version": "1.0.0"}


def test_a_persistently_failing_resume_token_mentions_staleness() -> None:
    with pytest.raises(SourceError, match="kept failing: GET") as info:
        crawl(crawler(lambda r: httpx.Response(500)), cursor="not-hex")
    assert "continuation token may be stale" in info.value.hint


def test_make_crawler_reads_the_credentials_the_manifest_names(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from migrator.manifest import load_manifest
    from migrator.sources import make_crawler
    from migrator_sandbox import nexus

    from .conftest import SEED

    (tmp_path / "m.toml").write_text(
        '[source]\nkind = "nexus"\nurl = "http://nexus.test"\nusername_env = "SRC_USER"\n'
        'password_env = "SRC_PASS"\n[target]\ndomain = "acme"\ndomain_owner = "111122223333"\n'
        'region = "us-east-1"\n[[repositories]]\nsource = "raw-files"\ntarget = "generic"\n')
    manifest = load_manifest(tmp_path / "m.toml")
    app = nexus.build_app(SEED, mode="sql")

    async def names() -> list[str]:
        c = make_crawler(manifest.source, transport=httpx.ASGITransport(app=app))
        try:
            return sorted(r.name for r in await c.repositories())
        finally:
            await c.aclose()

    monkeypatch.setenv("SRC_USER", nexus.DEFAULT_CREDENTIALS["NEXUS_USERNAME"])
    monkeypatch.setenv("SRC_PASS", nexus.DEFAULT_CREDENTIALS["NEXUS_PASSWORD"])
    assert "raw-files" in anyio.run(names)
    monkeypatch.setenv("SRC_PASS", "wrong")
    with pytest.raises(SourceAuthError):
        anyio.run(names)
