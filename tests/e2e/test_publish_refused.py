"""A package group with PUBLISH=BLOCK, created with boto3 before the run: the real CLI against
`migrator sandbox serve` fails that package only, with the target's reason, verifies every
other package and exits 1, whether the sandbox answers the block with 403 or with 409."""

from __future__ import annotations

import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import asset_statuses, codeartifact, engine, state_rows, summary

pytestmark = pytest.mark.e2e

PATTERN = "/npm//left-pad$"
BLOCKED = ("npm-internal", ("left-pad/-/left-pad-1.2.0.tgz", "left-pad/-/left-pad-1.3.0.tgz"))


@pytest.mark.parametrize("status", [403, 409])
def test_a_blocked_package_fails_alone_with_its_reason(tmp_path, status):
    sb = start_sandbox(tmp_path, "--behaviour", f"publish_blocked_status={status}")
    try:
        client = codeartifact(sb)
        domain = sb.info["codeartifact"]["domain"]
        client.create_package_group(domain=domain, packageGroup=PATTERN,
                                    description="internal name, never published here")
        client.update_package_group_origin_configuration(
            domain=domain, packageGroup=PATTERN, restrictions={"PUBLISH": "BLOCK"})

        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
        result = summary(r)
        statuses = asset_statuses(sb.workdir)
        modes = dict(state_rows(sb.workdir, "SELECT source, mode FROM repositories"))
        repo, paths = BLOCKED
        for path in paths:
            assert statuses.pop((repo, path)) == "failed_permanent"
        for (source, path), s in statuses.items():
            if s != "excluded":
                assert s == ("verified" if modes[source] == "copy" else "ingested"), (
                    source, path, s)
        failures = {f["path"]: f for f in result["failures"]}
        assert set(failures) == set(paths), failures
        for path in paths:
            reason = failures[path]["reason"]
            assert f"blocked by package group {PATTERN} (PUBLISH=BLOCK)" in reason, reason
            assert "credentials" not in reason and "token" not in reason
        # refused once each, never retried as if the token were the problem
        attempts = dict(state_rows(sb.workdir, "SELECT path, attempts FROM assets WHERE path "
                                   "LIKE 'left-pad/%'"))
        assert all(n <= 1 for n in attempts.values()), attempts
    finally:
        stop_sandbox(sb)
