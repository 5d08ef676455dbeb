"""One counting query: after a demo run that excludes files and whole versions, `run --json`
and `status --json` report the same totals, per repository and overall, and they add up."""

from __future__ import annotations

import json

import pytest

from .transfer_helpers import engine, state_rows

pytestmark = pytest.mark.e2e


def test_run_and_status_report_identical_totals_with_exclusions(sandbox):
    text = sandbox.manifest.read_text()
    # whole SNAPSHOT builds excluded (their versions and assets), plus the globs' exclusions
    sandbox.manifest.write_text(text.replace("[options]", '[options]\nsnapshots = "latest"'))
    ran = engine(sandbox, "run", "demo.toml", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    shown = engine(sandbox, "status", "demo.toml", "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)

    assert run["totals"] == status["totals"]
    assert run["repositories"] == status["repositories"]
    assert run["failures_total"] == status["failures_total"] == 0
    # the exclusions are really there, on both sides: files and whole versions
    assert status["totals"]["assets"].get("excluded", 0) > 0
    assert status["totals"]["versions"].get("excluded", 0) > 0
    # and they add up to what the crawl recorded, counted independently of the tool
    (assets,), = state_rows(sandbox.workdir, "SELECT count(*) FROM assets")
    (versions,), = state_rows(sandbox.workdir, "SELECT count(*) FROM versions")
    assert sum(status["totals"]["assets"].values()) == run["planned_assets"] == assets
    assert sum(status["totals"]["versions"].values()) == versions
