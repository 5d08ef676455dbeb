"""`resume MANIFEST` applies the manifest it is given: a changed [target] is used (no new crawl
when the mappings are the same), while `resume --state` alone keeps the copy in the state."""

from __future__ import annotations

import tomllib

import pytest

from .transfer_helpers import codeartifact, engine, state_rows

pytestmark = pytest.mark.e2e


def packages(ca, domain: str, repository: str) -> list[str]:
    return [p["package"] for p in
            ca.list_packages(domain=domain, repository=repository)["packages"]]


def test_resume_with_a_changed_manifest_publishes_where_the_new_one_says(sandbox):
    text = sandbox.manifest.read_text().replace('mode = "prewarm"', 'mode = "skip"')
    sandbox.manifest.write_text(text)
    copies = [r["target"] for r in tomllib.loads(text)["repositories"] if r["mode"] == "copy"]
    planned = engine(sandbox, "plan", "demo.toml")
    assert planned.returncode == 0, planned.stderr
    pages_before = state_rows(sandbox.workdir, "SELECT sum(crawl_pages) FROM repositories")

    # The fix: the packages belong in another domain (which exists, with the repositories).
    ca = codeartifact(sandbox)
    ca.create_domain(domain="demo2")
    for name in sorted(set(copies)):
        ca.create_repository(domain="demo2", repository=name)
    (sandbox.workdir / "fixed.toml").write_text(text.replace('domain = "demo"',
                                                             'domain = "demo2"'))
    resumed = engine(sandbox, "resume", "fixed.toml", "--state", "state/demo.sqlite")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "[target] of" in resumed.stderr and "differ from the copy in the state" in \
        resumed.stderr
    # published into the new domain, nothing into the old one; the source was not re-crawled
    assert all(packages(ca, "demo2", name) for name in copies)
    assert not any(packages(ca, "demo", name) for name in copies)
    assert state_rows(sandbox.workdir,
                      "SELECT sum(crawl_pages) FROM repositories") == pages_before
    # and the state now holds the manifest it was resumed with
    (stored,), = state_rows(sandbox.workdir, "SELECT value FROM meta WHERE key = 'manifest'")
    assert 'domain = "demo2"' in stored
