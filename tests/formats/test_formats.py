"""Per-format coordinates from paths and properties, sidecars and metadata recognised."""

from __future__ import annotations

import pytest

from migrator.formats import CHECKSUM_REASON, parse
from migrator.formats.maven import NON_UNIQUE_SNAPSHOT_REASON
from migrator.models import AssetKind, Coordinates, Format

M, N, P, G = Format.MAVEN, Format.NPM, Format.PYPI, Format.GENERIC


def coords(fmt: Format, path: str, props: dict | None = None, repo: str = "raw-files"):
    parsed = parse(fmt, path, props, repository=repo)
    assert parsed.problem is None, parsed.problem
    assert parsed.kind is AssetKind.ARTIFACT
    return parsed.coordinates


# -- Maven ---------------------------------------------------------------------------------------


def test_maven_release_with_classifier_and_compound_extension() -> None:
    c = coords(M, "com/acme/greeter/1.0.0/greeter-1.0.0-sources.jar")
    assert c == Coordinates(M, "com.acme", "greeter", "1.0.0")
    assert c.extra == {"base_version": "1.0.0", "classifier": "sources", "extension": "jar"}
    c = coords(M, "org/x/dist/2.1/dist-2.1.tar.gz")
    assert (c.extra["classifier"], c.extra["extension"]) == ("", "tar.gz")
    assert coords(M, "org/x/dist/2.1/dist-2.1.jar.asc").extra["extension"] == "jar.asc"


def test_maven_signatures_are_artifacts_checksums_are_sidecars() -> None:
    sig = parse(M, "org/x/dist/2.1/dist-2.1-sources.jar.asc")
    assert sig.kind is AssetKind.ARTIFACT and sig.skip is None
    assert sig.coordinates.version == "2.1"
    assert sig.coordinates.extra["signature_of"] == "dist-2.1-sources.jar"
    assert parse(M, "org/x/dist/2.1/dist-2.1.jar.asc.sha1").kind is AssetKind.CHECKSUM
    snap = parse(M, "org/x/dist/2.1-SNAPSHOT/dist-2.1-20240101.120000-3.pom.asc")
    assert snap.coordinates.version == "2.1-20240101.120000-3"
    assert snap.coordinates.extra["signature_of"] == "dist-2.1-20240101.120000-3.pom"


def test_maven_upload_order_puts_each_signature_after_its_file() -> None:
    from migrator.target.maven import upload_order

    names = ["a-1.pom.asc", "a-1.pom", "a-1.jar.asc", "a-1-sources.jar", "a-1.jar",
             "a-1-sources.jar.asc"]
    assert sorted(names, key=upload_order) == [
        "a-1-sources.jar", "a-1-sources.jar.asc", "a-1.jar", "a-1.jar.asc", "a-1.pom",
        "a-1.pom.asc"]


def test_maven_timestamped_snapshot_is_its_own_version_with_base_version() -> None:
    path = "com/acme/greeter/1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185253-2-sources.jar"
    c = coords(M, path)
    assert c.version == "1.2.0-20261125.185253-2"
    assert c.extra == {
        "base_version": "1.2.0-SNAPSHOT",
        "snapshot_timestamp": "20261125.185253",
        "build_number": 2,
        "classifier": "sources",
        "extension": "jar",
    }


def test_maven_non_unique_snapshot_is_recognised_and_excluded() -> None:
    parsed = parse(M, "com/acme/app/1.0-SNAPSHOT/app-1.0-SNAPSHOT.jar")
    assert parsed.coordinates.version == "1.0-SNAPSHOT"
    assert parsed.coordinates.extra["non_unique_snapshot"] is True
    assert parsed.skip == NON_UNIQUE_SNAPSHOT_REASON


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("com/acme/greeter/1.0.0/greeter-1.0.0.jar.sha1", AssetKind.CHECKSUM),
        ("com/acme/greeter/1.0.0/greeter-1.0.0.jar.sha512", AssetKind.CHECKSUM),
        ("com/acme/greeter/maven-metadata.xml.md5", AssetKind.CHECKSUM),
        ("com/acme/greeter/maven-metadata.xml", AssetKind.METADATA),
        ("com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml", AssetKind.METADATA),
        ("archetype-catalog.xml", AssetKind.METADATA),
        (".index/nexus-maven-repository-index.gz", AssetKind.METADATA),
    ],
)
def test_maven_sidecars_and_metadata(path: str, kind: AssetKind) -> None:
    parsed = parse(M, path)
    assert parsed.kind is kind
    assert parsed.skip
    assert parsed.problem is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("readme.txt", "not a Maven 2 layout"),
        ("com/acme/app/1.0/other-1.0.jar", "artifactId"),
        ("com/acme/app/1.0/app-2.0.jar", "version"),
        ("com/acme/app/1.0-SNAPSHOT/app-1.0-garbage.jar", "neither timestamped"),
        ("com/acme/app/1.0/app-1.0", "no extension"),
    ],
)
def test_maven_paths_that_do_not_fit_the_layout_are_refused(path: str, problem: str) -> None:
    assert problem in parse(M, path).problem


# -- npm -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope", "name", "version"),
    [
        ("is-number/-/is-number-7.0.0.tgz", "", "is-number", "7.0.0"),
        ("@types/ms/-/ms-0.7.34.tgz", "types", "ms", "0.7.34"),  # Nexus, remote cache
        ("@types/ms/-/@types/ms-2.1.0.tgz", "types", "ms", "2.1.0"),  # Artifactory local
        ("left-pad/-/left-pad-1.3.0-beta.1.tgz", "", "left-pad", "1.3.0-beta.1"),
    ],
)
def test_npm_tarball_paths(path: str, scope: str, name: str, version: str) -> None:
    c = coords(N, path)
    assert (c.namespace, c.package, c.version) == (scope, name, version)
    assert c.extra["name"] == (f"@{scope}/{name}" if scope else name)


def test_npm_properties_win_and_v_prefix_is_dropped() -> None:
    c = coords(N, "uploads/whatever.tgz", {"npm.name": ["@acme/ui"], "npm.version": ["v1.2.3"]})
    assert (c.namespace, c.package, c.version) == ("acme", "ui", "1.2.3")


def test_npm_packuments_and_dot_folders_are_metadata() -> None:
    for path in ("is-number", "@types/ms", ".npm/is-number/package.json"):
        assert parse(N, path).kind is AssetKind.METADATA
    assert parse(N, "is-number/-/is-number-7.0.0.tgz.sha1").skip == CHECKSUM_REASON


def test_npm_free_form_tarball_without_properties_is_refused() -> None:
    assert "npm.name" in parse(N, "uploads/whatever.tgz").problem


# -- PyPI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "version", "filetype"),
    [
        ("packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl",
         "jaraco-classes", "3.4.0", "bdist_wheel"),
        ("packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0.tar.gz",
         "jaraco-classes", "3.4.0", "sdist"),
        ("typing_extensions/4.12.2/typing_extensions-4.12.2.tar.gz",
         "typing-extensions", "4.12.2", "sdist"),
        ("x/Foo_Bar-1.0-py2.7.egg", "foo-bar", "1.0", "bdist_egg"),
        ("packages/Old.Pkg/1.0/Old.Pkg-1.0.tar.bz2", "old-pkg", "1.0", "sdist"),
    ],
)
def test_pypi_files(path: str, name: str, version: str, filetype: str) -> None:
    c = coords(P, path)
    assert (c.namespace, c.package, c.version) == ("", name, version)
    assert c.extra["filetype"] == filetype
    assert c.extra["filename"] == path.rsplit("/", 1)[-1]


def test_pypi_properties_when_the_file_name_says_nothing() -> None:
    c = coords(P, "weird.tar.bz2", {"pypi.name": ["My_Pkg"], "pypi.version": ["2.0"]})
    assert (c.package, c.version) == ("my-pkg", "2.0")
    assert "pypi.name" in parse(P, "weird.tar.bz2").problem


def test_pypi_index_pages_are_not_migrated_signatures_are() -> None:
    assert parse(P, "simple/jaraco-classes/").kind is AssetKind.METADATA
    assert parse(P, "simple/index.html").kind is AssetKind.METADATA
    assert parse(P, ".pypi/jaraco-classes.json").kind is AssetKind.METADATA
    sig = parse(P, "packages/a/1.0/a-1.0.tar.gz.asc")
    assert sig.kind is AssetKind.ARTIFACT and sig.skip is None
    assert (sig.coordinates.package, sig.coordinates.version) == ("a", "1.0")
    assert sig.coordinates.extra["signature_of"] == "a-1.0.tar.gz"
    assert sig.coordinates.extra["filename"] == "a-1.0.tar.gz.asc"
    assert parse(P, "packages/a/1.0/a-1.0.tar.gz.md5").kind is AssetKind.CHECKSUM
    assert parse(P, "packages/a/1.0/a-1.0.tar.gz.asc.md5").kind is AssetKind.CHECKSUM
    assert parse(P, "x/junk.asc").problem  # signs nothing we can name


# -- generic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "namespace", "package", "version"),
    [
        ("releases/1.1.0/greeter-1.1.0-dist.zip", "raw-files", "releases", "1.1.0"),
        ("com/acme/tool/v2/tool.tgz", "com.acme", "tool", "v2"),
        ("tools/install.sh", "raw-files", "tools", "unversioned"),
        ("docs/api/index.html", "raw-files", "docs.api", "unversioned"),
        ("README.txt", "raw-files", "raw-files", "unversioned"),
        ("tool/1.0/bin/tool", "raw-files", "tool.1.0.bin", "unversioned"),
    ],
)
def test_generic_documented_mapping(path: str, namespace: str, package: str, version: str) -> None:
    c = coords(G, path)
    assert (c.namespace, c.package, c.version) == (namespace, package, version)
    assert c.extra["asset"] == path.rsplit("/", 1)[-1]


def test_generic_refuses_names_codeartifact_would_reject() -> None:
    assert "not a valid" in parse(G, "a b/1.0/x", repository="r").problem
    assert parse(G, "a/1.0/x.sha256").kind is AssetKind.CHECKSUM


@pytest.mark.parametrize(("name", "rule"), [
    ("build:42.log", "character ':' (U+003A) is not allowed"),
    (" bad", "starts or ends with a space"),
    ("a  b.txt", "consecutive spaces"),
    ("tab\there", "character '\\t'"),
    ("x" * 256, "1-255"),
    ("a#b", "character '#'"),
])
def test_generic_asset_names_codeartifact_refuses_are_excluded_with_the_rule(name, rule):
    parsed = parse(G, f"tool/1.0/{name}", repository="r")
    assert parsed.problem is None and parsed.coordinates is not None
    assert rule in parsed.skip  # excluded (recorded, not migrated), not refused
    assert "[options] generic_asset_name_map" in parsed.skip


def test_generic_asset_names_codeartifact_accepts():
    from migrator.formats.generic import asset_name_problem

    for name in ("ünïcode-名前 1.0 (final)[x]{y};z,~!@^&+`.tgz", "a b.c", "ÅÄÖ_9"):
        assert asset_name_problem(name) is None, name
    assert asset_name_problem(".") and asset_name_problem("..")


def test_generic_asset_name_mapping_is_explicit_and_recorded():
    parsed = parse(G, "tool/1.0/build:42 final.log", repository="r",
                   asset_name_map={":": "_"})
    assert parsed.skip is None and parsed.problem is None
    assert parsed.coordinates.extra == {"asset": "build_42 final.log",
                                        "source_name": "build:42 final.log",
                                        "mapped_by": "generic_asset_name_map"}
    still = parse(G, "tool/1.0/a:b|c", repository="r", asset_name_map={":": "_"})
    assert "'|'" in still.skip and "even after the mapping" in still.skip
    assert parse(G, "tool/1.0/ok.txt", repository="r",
                 asset_name_map={":": "_"}).coordinates.extra == {
        "asset": "ok.txt"}
