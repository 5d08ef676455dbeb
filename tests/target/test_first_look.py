"""The look before a fresh version's first upload, answered from one ListPackageVersions per
package (`first_look_from_listing`, a run's setting): fewer reads, the same outcomes."""

from __future__ import annotations

import dataclasses
from collections import Counter

import anyio
import httpx

from migrator.models import Format
from migrator.target import make_publisher

from .conftest import Recorder, claim, make_client


def _fresh(version):
    """As the work queue hands out a version no attempt has touched."""
    return dataclasses.replace(version, assets=[dataclasses.replace(a, status="discovered")
                                                for a in version.assets])


def _operations(sandbox) -> Counter:
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=1").json()
    return Counter(e["operation"] for e in log["entries"])


def test_one_listing_per_package_then_per_asset_looks_where_it_matters(sandbox, aws_env,
                                                                       tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"raw/tools/1.{i}/tool-1.{i}.txt"
        path.parent.mkdir(parents=True)
        path.write_text(f"tool {i}\n")
        paths.append(f"tools/1.{i}/tool-1.{i}.txt")
    versions = [claim(Format.GENERIC, "raw", [p], root=tmp_path, target_repo="raw-files")
                for p in paths]

    async def go():
        async with make_client(sandbox) as plain:  # 1.0 is already there (an earlier run)
            first = make_publisher(Format.GENERIC, plain)
            await first.publish(_fresh(versions[0][0]), versions[0][1], Recorder())
        httpx.delete(f"{sandbox.base_url}/_sandbox/requests")
        async with make_client(sandbox, first_look_from_listing=True) as client:
            publisher = make_publisher(Format.GENERIC, client)
            rec = Recorder()
            for version, spooled in versions:
                await publisher.publish(_fresh(version), spooled, rec)
            # a later look in the same claim (after a refusal, say) reads the assets again
            again = await client.asset_hashes(_fresh(versions[1][0]), "1.1")
            return rec, again

    rec, again = anyio.run(go)
    assert rec.outcomes() == ["skipped_identical", "published", "published", "published"]
    assert again is not None and "tool-1.1.txt" in again
    ops = _operations(sandbox)
    assert ops["ListPackageVersions"] == 1  # one for the package, not one per version
    # 1.0, which the listing holds, is looked up asset by asset; the new ones are not; then
    # the one later look
    assert ops["ListPackageVersionAssets"] == 2
    assert ops["PublishPackageVersion"] == 3
