"""Reports over a small state: totals checked against the plan (a loud failure when they do
not add up), the CSV's rows, redaction, the certificate's digest, and the requeue by
(repository, path) through the status machine."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from migrator.certificate import encode_line, read_certificate, write_certificate
from migrator.errors import CertificateInvalid, IllegalTransition, ReportInconsistent
from migrator.models import AssetUpdate, VersionResult
from migrator.reports.report import REDACTED, redact, render, report, report_data
from migrator.state import WorkQueue


@pytest.fixture
def settled(queue, repo_id, maven_version, clock):
    """app 1.0 verified, app 1.1 failed for good, app 1.2 still discovered."""
    queue.begin_crawl(repo_id)
    queue.record_page(repo_id, maven_version("com.acme", "app", "1.0")
                      + maven_version("com.acme", "app", "1.1")
                      + maven_version("com.acme", "app", "1.2"), cursor=None, done=True)
    claimed = {v.version: v for v in queue.claim("w", limit=2)}
    sha = {"sha256": "b" * 64, "sha1": "a" * 40}
    queue.finish("w", [
        VersionResult(claimed["1.0"].id, "published", assets=[
            AssetUpdate(a.id, "published", downloaded=sha) for a in claimed["1.0"].assets]),
        VersionResult(claimed["1.1"].id, "failed_permanent", reason="checksum mismatch",
                      assets=[AssetUpdate(a.id, "failed_permanent", "checksum mismatch")
                              for a in claimed["1.1"].assets])])
    clock.t += 60
    again = {v.version: v for v in queue.claim("w", limit=3)}["1.0"]
    queue.finish("w", [VersionResult(again.id, "verified", assets=[
        AssetUpdate(a.id, "verified", target=sha) for a in again.assets])])
    queue.release("w")  # 1.2 back to discovered
    return queue


def test_every_asset_in_one_outcome_and_the_formats_agree(settled):
    data = report_data(settled)
    assert data["planned_assets"] == 6
    assert data["outcomes"] == {"done": 2, "excluded": 0, "problems": 2, "pending": 2}
    assert not data["complete"]
    rows = list(csv.DictReader(io.StringIO(render(data, "csv"))))
    assert sorted((r["version"], r["status"]) for r in rows) == [
        ("1.1", "failed_permanent"), ("1.1", "failed_permanent"), ("1.2", "discovered"),
        ("1.2", "discovered")]
    assert all(r["source_sha1"] == "a" * 40 for r in rows)
    text = render(data, "text")
    assert "planned assets: 6 = done 2 + excluded 0 + problems 2 + pending 2" in text
    html = render(data, "html")
    assert 'data-planned="6"' in html and 'data-outcome-problems="2"' in html
    assert json.loads(render(data, "json"))["outcomes"] == data["outcomes"]


def test_totals_that_do_not_add_up_fail_loudly(settled, tmp_path):
    # an asset whose status no count knows of is still counted; a row the counting query
    # cannot see (its repository gone) makes the totals short of the plan
    settled.conn.execute("PRAGMA foreign_keys = OFF")
    settled.conn.execute("UPDATE assets SET repository_id = 999 WHERE id = 1")
    settled.conn.commit()
    with pytest.raises(ReportInconsistent, match="count 5 assets, the state holds 6"):
        report_data(settled)
    out = tmp_path / "r.json"
    with pytest.raises(ReportInconsistent):
        report(settled.path, "json", out)
    assert not out.exists()


def test_redaction_keeps_variable_names_and_hides_credentials():
    cfg = {"source": {"url": "https://bob:hunter2@nexus.example.com/", "password_env": "NX_PW",
                      "password": "hunter2", "token": "abc"},
           "target": {"note": "key AKIAABCDEFGHIJKLMNOP here"}}
    out = redact(cfg)
    assert out["source"]["password_env"] == "NX_PW"
    assert out["source"]["password"] == out["source"]["token"] == REDACTED
    assert "hunter2" not in json.dumps(out) and "AKIAABCDEFGHIJKLMNOP" not in json.dumps(out)


def test_the_certificate_digest_covers_every_line_as_written(tmp_path):
    entry = {k: "" for k in ("repository", "target_repository", "format", "namespace",
                             "package", "version", "path", "filename", "kind", "status",
                             "origin")}
    entry.update(size=1, source_hashes={}, downloaded_hashes={}, target_hashes={}, extra={},
                 version_extra={}, format="generic")
    p = tmp_path / "c.jsonl"
    with p.open("wb") as fh:
        assert write_certificate(fh, [entry, {**entry, "path": "b"}], generated_at="t") == 2
    cert = read_certificate(p)
    assert len(cert.entries) == 2 and cert.final["count"] == 2
    lines = p.read_bytes().splitlines(keepends=True)
    for broken in (lines[:1] + lines[2:],  # a line removed
                   [lines[0].replace(b'"size":1', b'"size":2'), *lines[1:]],  # edited
                   lines[:-1],  # the final line cut off
                   [*lines[:-1], encode_line({"certificate": "migrator-completeness/1",
                                              "count": 2, "sha256": "0" * 64})]):
        p.write_bytes(b"".join(broken))
        with pytest.raises(CertificateInvalid):
            read_certificate(p)


def test_requeue_versions_sends_back_only_problems(settled):
    rows = {r.version: r for r in settled.asset_rows()}
    found, missing = settled.version_ids_of([("maven-releases", rows["1.1"].path),
                                             ("maven-releases", rows["1.0"].path),
                                             ("maven-releases", "no/such")])
    assert missing == [("maven-releases", "no/such")]
    sent = settled.requeue_versions(sorted(found))
    assert len(sent) == 1  # 1.1; the verified 1.0 stays verified
    statuses = {(r.version, r.status) for r in settled.asset_rows()}
    assert statuses == {("1.0", "verified"), ("1.1", "discovered"), ("1.2", "discovered")}


def test_requeue_goes_through_the_status_machine(settled, monkeypatch):
    from migrator.state import status as st

    (vid,) = settled.version_ids_of([("maven-releases", next(
        r.path for r in settled.asset_rows() if r.version == "1.1"))])[0]
    monkeypatch.setitem(st.VERSION_TRANSITIONS, st.FAILED_PERMANENT, frozenset())
    with pytest.raises(IllegalTransition):
        settled.requeue_versions([vid])
    con = sqlite3.connect(settled.path)
    assert con.execute("SELECT status FROM versions WHERE id = ?", (vid,)).fetchone() == (
        "failed_permanent",)
    con.close()
    assert isinstance(settled, WorkQueue)
