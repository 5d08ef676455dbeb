"""`owns_row`: a row of a report's CSV lands in the shard `owns_asset` put its file in, so
one merged report's CSV can be given to every shard's `run --only-failed`."""

from __future__ import annotations

import csv
import io

from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, Shard
from migrator.pipeline.shard import owns_asset, owns_row
from migrator.reports.report import render_csv

ASSETS = [
    ("maven-releases", DiscoveredAsset(
        path="com/acme/lib/1.0/lib-1.0.jar", size=1, checksums={},
        coordinates=Coordinates(Format.MAVEN, "com.acme", "lib", "1.0"),
        kind=AssetKind.ARTIFACT)),
    ("npm-internal", DiscoveredAsset(
        path="@acme/utils/-/utils-1.0.0.tgz", size=1, checksums={},
        coordinates=Coordinates(Format.NPM, "acme", "utils", "1.0.0"),
        kind=AssetKind.ARTIFACT)),
    ("pypi-internal", DiscoveredAsset(
        path="packages/acme-tools/1.0/acme_tools-1.0.tar.gz", size=1, checksums={},
        coordinates=Coordinates(Format.PYPI, "", "acme-tools", "1.0"),
        kind=AssetKind.ARTIFACT)),
    ("raw-files", DiscoveredAsset(path="docs/index.html", size=1, checksums={},
                                  coordinates=None, kind=AssetKind.ARTIFACT)),
] + [("npm-internal", DiscoveredAsset(
    path=f"p{i}/-/p{i}-1.0.0.tgz", size=1, checksums={},
    coordinates=Coordinates(Format.NPM, "", f"p{i}", "1.0.0"), kind=AssetKind.ARTIFACT))
    for i in range(20)]


def _csv_rows() -> list[dict[str, str]]:
    """The rows `migrator report --format csv` writes for these assets (as problems)."""
    problems = [{
        "repository": repo, "path": a.path, "status": "failed_permanent", "reason": "x",
        "target_repository": repo, "format": str(a.coordinates.format) if a.coordinates
        else "generic", "namespace": a.coordinates.namespace if a.coordinates else None,
        "package": a.coordinates.package if a.coordinates else None,
        "version": a.coordinates.version if a.coordinates else None, "size": 1,
        "source_hashes": {}, "downloaded_hashes": {}, "codeartifact_hashes": {},
    } for repo, a in ASSETS]
    return list(csv.DictReader(io.StringIO(render_csv({"problems": problems}))))


def test_each_csv_row_is_in_the_shard_of_its_file():
    rows = _csv_rows()
    for n in (2, 3, 5):
        for k in range(1, n + 1):
            shard = Shard(k, n)
            assert [owns_row(shard, r["repository"], r["path"], r["format"], r["package"])
                    for r in rows] == [owns_asset(shard, repo, a) for repo, a in ASSETS]


def test_every_row_is_in_exactly_one_shard():
    rows = _csv_rows()
    for r in rows:
        owners = [k for k in range(1, 4) if owns_row(Shard(k, 3), r["repository"], r["path"],
                                                     r["format"], r["package"])]
        assert len(owners) == 1, r
    # and the sample spreads over the shards (the test would prove nothing otherwise)
    assert len({k for r in rows for k in range(1, 4)
                if owns_row(Shard(k, 3), r["repository"], r["path"], r["format"],
                            r["package"])}) == 3
