"""Merging the states of the shards of one migration: totals that add up (checked in code),
an asset in two shards reported loudly, a set of shards with one missing, and the CLI's
`status --merge` and `report --merge` (text, JSON, CSV, certificate)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys

import pytest

from migrator.certificate import read_certificate
from migrator.errors import ConfigError, ReportInconsistent
from migrator.reports.merge import merge_report, merge_status, render_merged_status

from .conftest import build_state

SHARDS = {
    1: {"a": "verified", "b": "verified", "c": "failed_permanent"},
    2: {"d": "verified", "e": "discovered"},
    3: {"f": "verified", "g": "verified", "h": "verified", "i": "discovered"},
}


def three_shards(tmp_path, shards=SHARDS, n=3):
    return [build_state(tmp_path / f"demo.shard-{k}-of-{n}.sqlite", arts, shard=f"{k}/{n}")
            for k, arts in shards.items()]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=120)


def test_merged_totals_are_the_sums_of_the_shards(tmp_path):
    paths = three_shards(tmp_path)
    data = merge_status(paths)
    assert data["consistent"] and data["exit_code"] == 0 and data["problems"] == []
    assert data["planned_assets"] == 18  # 9 versions of 2 files
    assert [s["planned_assets"] for s in data["shards"]] == [6, 4, 8]
    assert [s["shard"] for s in data["shards"]] == ["1/3", "2/3", "3/3"]
    assert data["totals"]["assets"] == {"discovered": 4, "failed_permanent": 2,
                                        "verified": 12}
    assert data["totals"]["bytes"] == {"discovered": 4000, "failed_permanent": 2000,
                                       "verified": 12000}
    repo = data["repositories"]["maven-releases"]
    assert repo["versions"] == {"discovered": 2, "failed_permanent": 1, "verified": 6}
    assert data["failures_total"] == 2 and {f["state"] for f in data["failures"]} == {
        str(paths[0])}
    text = render_merged_status(data)
    assert "no asset is in two shards" in text and "add up to 18 assets" in text


def test_an_asset_in_two_shards_is_reported_loudly(tmp_path):
    paths = three_shards(tmp_path, {1: {"a": "verified", "b": "verified"},
                                    2: {"b": "verified", "c": "discovered"},
                                    3: {"d": "verified"}})
    data = merge_status(paths)
    assert not data["consistent"] and data["exit_code"] == 1
    assert data["overlaps_total"] == 2  # b's jar and pom
    assert data["overlaps"][0] == {"repository": "maven-releases",
                                   "path": "com/acme/b/1.0/b-1.0.jar",
                                   "states": [str(paths[0]), str(paths[1])]}
    text = render_merged_status(data)
    assert "!! THE SHARDS DO NOT ADD UP" in text
    assert "2 asset(s) are in more than one shard" in text
    assert "in 2 shards: maven-releases/com/acme/b/1.0/b-1.0.jar" in text
    out = tmp_path / "r.json"
    with pytest.raises(ReportInconsistent, match=r"2 asset\(s\) in more than one shard"):
        merge_report(paths, "json", out)
    assert not out.exists()


def test_a_missing_or_repeated_shard_and_a_shard_that_does_not_add_up(tmp_path):
    paths = three_shards(tmp_path)
    data = merge_status(paths[:2])
    assert "shard(s) 3/3 not given: the totals are of 2 of 3 shards" in data["problems"]
    assert data["missing_shards"] == ["3/3"]
    other = build_state(tmp_path / "x.sqlite", {"z": "verified"}, shard="1/2")
    problems = merge_status([*paths, other])["problems"]
    assert "the states are of different shardings: N = 2, 3" in problems
    twice = build_state(tmp_path / "y.sqlite", {"y": "verified"}, shard="2/3")
    assert any("shard(s) 2 given more than once" in p
               for p in merge_status([*paths, twice])["problems"])
    # a row the counting query cannot see (its repository gone): that shard is short
    con = sqlite3.connect(paths[1])
    con.execute("UPDATE assets SET repository_id = 999 WHERE id = 1")
    con.commit()
    con.close()
    data = merge_status(paths)
    assert f"{paths[1]}: its per-status counts sum to 3 assets, it holds 4" in \
        data["problems"][0]
    with pytest.raises(ReportInconsistent, match="count 3 assets, the state holds 4"):
        merge_report(paths, "json")


def test_the_shard_comes_from_the_file_name_when_meta_has_none(tmp_path):
    paths = [build_state(tmp_path / f"s.shard-{k}-of-2.sqlite", {f"p{k}": "verified"})
             for k in (1, 2)]
    data = merge_status(paths)
    assert [s["shard"] for s in data["shards"]] == ["1/2", "2/2"] and data["consistent"]
    plain = build_state(tmp_path / "plain.sqlite", {"q": "verified"})
    assert any("not a shard's state" in p for p in merge_status([*paths, plain])["problems"])


def test_merge_needs_two_distinct_states(tmp_path):
    paths = three_shards(tmp_path)
    with pytest.raises(ConfigError, match="two or more shards"):
        merge_status(paths[:1])
    with pytest.raises(ConfigError, match="given twice"):
        merge_status([paths[0], paths[0]])


def test_the_merged_report_in_every_format_agrees(tmp_path):
    paths = three_shards(tmp_path)
    data = json.loads(merge_report(paths, "json"))
    assert data["planned_assets"] == 18
    assert data["outcomes"] == {"done": 12, "excluded": 0, "problems": 2, "pending": 4}
    assert [m["shard"] for m in data["merged"]] == ["1/3", "2/3", "3/3"]
    assert sum(p["assets"] for p in data["throughput"]) == 12
    rows = list(csv.DictReader(io.StringIO(merge_report(paths, "csv"))))
    assert sorted(r["package"] for r in rows) == ["com.acme:c", "com.acme:c", "com.acme:e",
                                                  "com.acme:e", "com.acme:i", "com.acme:i"]
    text = merge_report(paths, "text")
    assert "planned assets: 18 = done 12 + excluded 0 + problems 2 + pending 4" in text
    html = merge_report(paths, "html")
    assert 'data-planned="18"' in html
    cert = tmp_path / "cert.jsonl"
    assert merge_report(paths, "certificate", cert) is None
    certificate = read_certificate(cert)
    assert len(certificate.entries) == 12
    assert sorted({e["path"].split("/")[2] for e in certificate.entries}) == [
        "a", "b", "d", "f", "g", "h"]


def test_the_cli_merges_status_and_report(tmp_path):
    paths = [str(p) for p in three_shards(tmp_path)]
    r = cli("status", "--merge", *paths)
    assert r.returncode == 0, r.stderr
    assert "3 shard states merged; 0 running" in r.stdout and "TOTAL" in r.stdout
    r = cli("status", "--merge", *paths, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["planned_assets"] == 18
    r = cli("report", "--merge", *paths, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outcomes"]["done"] == 12
    r = cli("status", "--merge", paths[0])
    assert r.returncode == 2 and "two or more shards" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli("status", paths[0], paths[1])
    assert r.returncode == 2 and "unexpected arguments" in r.stderr
    r = cli("report", "--merge", *paths, "--state", paths[0])
    assert r.returncode == 2 and "not --state" in r.stderr
    dup = build_state(tmp_path / "dup.sqlite", {"a": "verified"}, shard="3/3")
    r = cli("status", "--merge", paths[0], paths[1], str(dup))
    assert r.returncode == 1 and "!! THE SHARDS DO NOT ADD UP" in r.stdout
    r = cli("report", "--merge", paths[0], paths[1], str(dup))
    assert r.returncode == 2 and "do not add up" in r.stderr and "Traceback" not in r.stderr
