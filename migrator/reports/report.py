"""`migrator report`: what a state proves, in one data structure rendered as text, JSON, CSV,
HTML or the completeness certificate.

Every number comes from the state's one counting query (`WorkQueue.counts()`), and
`report_data` checks, before anything is written, that the per-status totals add up to the
assets the state holds (the plan) and that the listed problems and exclusions are exactly the
counted ones; otherwise it raises `ReportInconsistent`. So the formats cannot disagree: they
render the same `data`.

Outcomes (every asset in exactly one): `done` (verified, skipped_identical, ingested),
`excluded` (with the reason), `problems` (conflict, failed_permanent, failed_retryable and
the pre-warm refusals not_found_upstream, blocked_by_origin_control: with the reason and the
hashes) and `pending` (discovered, claimed, published, requested: a run
that has not finished). The CSV holds one row per problem or pending asset, the rows to feed
back to `migrator run MANIFEST --only-failed FILE.csv`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migrator.certificate import write_certificate
from migrator.errors import ConfigError, ReportInconsistent
from migrator.log import redact_text
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.queries import AssetRow

__all__ = ["CSV_COLUMNS", "FORMATS", "OUTCOMES", "redact", "render", "report", "report_data"]

FORMATS = ("text", "json", "csv", "html", "certificate")
#: Each status's outcome in a report.
OUTCOMES = {
    st.VERIFIED: "done", st.SKIPPED_IDENTICAL: "done", st.INGESTED: "done",
    st.EXCLUDED: "excluded",
    st.CONFLICT: "problems", st.FAILED_PERMANENT: "problems", st.FAILED_RETRYABLE: "problems",
    st.DISCOVERED: "pending", st.CLAIMED: "pending", st.PUBLISHED: "pending",
    st.REQUESTED: "pending",
    st.NOT_FOUND_UPSTREAM: "problems", st.BLOCKED_BY_ORIGIN_CONTROL: "problems",
    # No longer at the source (`migrator sync`): out of what is left to migrate, listed with
    # the exclusions, its reason saying what it was; CodeArtifact keeps what it holds.
    st.DELETED_AT_SOURCE: "excluded",
}
CSV_COLUMNS = ("repository", "path", "status", "reason", "target_repository", "format",
               "package", "version", "size", "source_sha256", "downloaded_sha256",
               "codeartifact_sha256", "source_sha1", "downloaded_sha1", "codeartifact_sha1")
REDACTED = "***redacted***"
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|api[_-]?key|access[_-]?key",
                         re.IGNORECASE)
# Beside what every log line loses (migrator.log.redact_text: registered credentials, auth
# headers, URL passwords, tokens), a manifest may hold values that look like AWS keys.
_SECRET_VALUE = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_.-]+"),  # JWTs (Artifactory tokens)
    re.compile(r"\b[A-Za-z0-9+/]{40}\b"),  # AWS secret access keys
]


def redact(value: Any, key: str = "") -> Any:
    """The manifest with anything that looks like a credential replaced: values of keys
    named like secrets (except `*_env`, which hold variable names), passwords in URLs,
    AWS keys and tokens anywhere."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and not key.endswith("_env"):
            return REDACTED
        value = redact_text(value)
        for pattern in _SECRET_VALUE:
            value = pattern.sub(REDACTED, value)
    return value


def _configuration(q: WorkQueue, manifest_text: str | None) -> dict[str, Any]:
    text = q.get_meta("manifest") or manifest_text
    if not text:
        return {}
    try:
        return redact(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return {"error": "the stored manifest is not valid TOML"}


def _row(r: AssetRow) -> dict[str, Any]:
    return {"repository": r.repository, "target_repository": r.target, "format": r.format,
            "mode": r.mode, "namespace": r.namespace, "package": r.package,
            "version": r.version, "path": r.path, "size": r.size, "status": r.status,
            "outcome": OUTCOMES.get(r.status, "pending"), "reason": r.reason,
            "attempts": r.attempts, "source_hashes": r.source_hashes,
            "downloaded_hashes": r.downloaded_hashes, "codeartifact_hashes": r.target_hashes}


#: Throughput buckets, smallest first: (seconds, name); the first giving at most 60 is used.
_BUCKETS = ((1, "second"), (10, "10 s"), (60, "minute"), (600, "10 min"), (3600, "hour"),
            (86400, "day"))


def _throughput(done_times: list[float]) -> tuple[str, list[dict[str, Any]]]:
    """Assets finished (their last update) per time bucket, oldest first, and the bucket."""
    if not done_times:
        return "minute", []
    first, last = min(done_times), max(done_times)
    size, name = next(((s, n) for s, n in _BUCKETS if (last - first) / s <= 60),
                      _BUCKETS[-1])
    per: Counter[int] = Counter(int(t // size) for t in done_times)
    fmt = "%Y-%m-%dT%H:%M:%SZ" if size < 60 else "%Y-%m-%dT%H:%MZ"
    return name, [{"at": datetime.fromtimestamp(b * size, UTC).strftime(fmt),
                   "assets": per.get(b, 0)} for b in range(min(per), max(per) + 1)]


def report_data(q: WorkQueue, *, manifest_text: str | None = None) -> dict[str, Any]:
    """Everything a report shows, from one read of the state.

    :raises ReportInconsistent: the per-status totals do not add up to the state's assets,
        or the assets listed per outcome differ from the counted ones.
    """
    counts = q.counts()
    repos = {name: r.as_dict() for name, r in counts.items()}
    totals: dict[str, dict[str, int]] = {}
    for key in ("assets", "versions", "bytes"):
        c: Counter[str] = Counter()
        for r in repos.values():
            c.update(r[key])
        totals[key] = dict(sorted(c.items()))
    planned = q.asset_total()
    counted = sum(totals["assets"].values())
    if counted != planned:
        raise ReportInconsistent(
            f"the per-status totals count {counted} assets, the state holds {planned}",
            hint="no report was written; run it again once no run is going, and report a "
            "bug if it persists")
    outcomes: Counter[str] = Counter()
    for status, n in totals["assets"].items():
        outcomes[OUTCOMES.get(status, "pending")] += n
    listed: dict[str, list[dict[str, Any]]] = {"problems": [], "pending": [], "excluded": []}
    done_times: list[float] = []
    seen: Counter[str] = Counter()
    for row in q.asset_rows():
        outcome = OUTCOMES.get(row.status, "pending")
        seen[outcome] += 1
        if outcome == "done":
            done_times.append(row.updated_at)
        else:
            listed[outcome].append(_row(row))
    if seen != outcomes:
        raise ReportInconsistent(
            f"the assets listed per outcome ({dict(seen)}) differ from the counted ones "
            f"({dict(outcomes)})", hint="the state changed during the report: run it again")
    step, throughput = _throughput(done_times)
    by_outcome = {k: outcomes.get(k, 0) for k in ("done", "excluded", "problems", "pending")}
    assert sum(by_outcome.values()) == planned
    return {
        "report": "migrator-report/1",
        "state": str(q.path),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "planned_assets": planned,
        "outcomes": by_outcome,
        "complete": by_outcome["done"] + by_outcome["excluded"] == planned,
        "totals": totals,
        "repositories": repos,
        "problems": listed["problems"] + listed["pending"],
        "exclusions": listed["excluded"],
        "throughput": throughput,
        "throughput_step": step,
        "configuration": _configuration(q, manifest_text),
        # Internal names a public registry also offers, and what protects each.
        "dependency_confusion": q.confusion_findings(),
    }


# -- renderers -------------------------------------------------------------------------------

def render_text(data: dict[str, Any]) -> str:
    from migrator.reports.status import render_status

    o = data["outcomes"]
    lines = [f"migration report ({data['generated_at']})",
             f"planned assets: {data['planned_assets']} = done {o['done']} + excluded "
             f"{o['excluded']} + problems {o['problems']} + pending {o['pending']}",
             "complete: " + ("yes" if data["complete"] else "no"), ""]
    status = {"state": data["state"], "repositories": data["repositories"],
              "totals": data["totals"], "failures": [], "failures_total": 0}
    lines.append(render_status(status))
    if data["problems"]:
        lines += ["", f"problems and pending ({len(data['problems'])}):"]
        for p in data["problems"]:
            lines.append(f"  {p['status']:<17} {p['repository']}/{p['path']}: "
                         f"{p['reason'] or ''}")
            hashes = _hash_line(p)
            if hashes:
                lines.append(f"  {'':<17} {hashes}")
    if data["exclusions"]:
        reasons: Counter[tuple[str, str]] = Counter(
            (e["repository"], e["reason"] or "excluded") for e in data["exclusions"])
        lines += ["", f"exclusions ({len(data['exclusions'])}):"]
        for (repo, reason), n in sorted(reasons.items()):
            lines.append(f"  {n:>6}  {repo}: {reason}")
    findings = data.get("dependency_confusion") or []
    if findings:
        lines += ["", f"dependency-confusion findings ({len(findings)}):"]
        for f in findings:
            lines.append(f"  {'' if f['protected'] else '! '}{f['display']} ({f['format']}, "
                         f"{f['repository']}): also in {f['connection']} (public versions "
                         f"{', '.join(f['public_versions'][:5])}); {f['protection']}")
    return "\n".join(lines)


def _hash_line(p: dict[str, Any]) -> str:
    parts = [f"{label} sha256={p[key]['sha256']}" for label, key in (
        ("source", "source_hashes"), ("downloaded", "downloaded_hashes"),
        ("CodeArtifact", "codeartifact_hashes")) if p[key].get("sha256")]
    return ", ".join(parts)


def render_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in data["problems"]:
        pkg = f"{p['namespace']}:{p['package']}" if p["namespace"] else p["package"]
        w.writerow([p["repository"], p["path"], p["status"], p["reason"] or "",
                    p["target_repository"] or "", p["format"], pkg, p["version"],
                    "" if p["size"] is None else p["size"],
                    *(p[k].get(alg, "") for alg in ("sha256", "sha1") for k in (
                        "source_hashes", "downloaded_hashes", "codeartifact_hashes"))])
    return out.getvalue()


def render(data: dict[str, Any], fmt: str) -> str:
    """`data` (from `report_data`) as text, json, csv or html."""
    if fmt == "text":
        return render_text(data)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    if fmt == "csv":
        return render_csv(data)
    if fmt == "html":
        from migrator.reports.html import render_html

        return render_html(data)
    raise ConfigError(f"--format {fmt}: not one of {', '.join(FORMATS)}")


def certificate_entries(q: WorkQueue) -> Iterator[dict[str, Any]]:
    """One certificate entry per migrated asset (verified, skipped_identical, ingested)."""
    for r in q.asset_rows(sorted(st.DONE)):
        yield {"repository": r.repository, "target_repository": r.target,
               "format": r.format, "namespace": r.namespace, "package": r.package,
               "version": r.version, "path": r.path, "filename": r.filename, "kind": r.kind,
               "size": r.size, "status": r.status,
               "origin": "EXTERNAL" if r.status == st.INGESTED else "INTERNAL",
               "source_hashes": r.source_hashes, "downloaded_hashes": r.downloaded_hashes,
               "target_hashes": r.target_hashes, "extra": r.extra,
               "version_extra": r.version_extra}


def report(state_path: str | Path, fmt: str = "text", out: str | Path | None = None, *,
           manifest_text: str | None = None, name: str | None = None) -> str | None:
    """`migrator report`: render the state as `fmt` into `out` (returns None), or return the
    text when `out` is None (not for the certificate, which is always a file). `name`: what
    the report calls the state (an s3:// URL read from a local copy), default its path.

    :raises ReportInconsistent: the totals do not add up (nothing is written).
    :raises ConfigError: an unknown format, or a certificate without --out.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    with WorkQueue.open(state_path, create=False) as q:
        data = report_data(q, manifest_text=manifest_text)
        if name is not None:
            data["state"] = name
        if fmt == "certificate":
            if out is None:
                raise ConfigError("--format certificate needs --out FILE")
            if data["outcomes"]["done"] != sum(1 for _ in q.asset_rows(sorted(st.DONE))):
                raise ReportInconsistent("the migrated assets changed during the report")
            save_certificate(Path(out), certificate_entries(q), data["outcomes"]["done"])
            return None
    text = render(data, fmt)
    if out is None:
        return text
    Path(out).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return None


def save_certificate(path: Path, entries: Any, expected: int) -> None:
    """Write the certificate of `entries` to `path` (through a temporary file, so a reader
    never sees half of one), checked to list exactly `expected` migrated assets.

    :raises ReportInconsistent: the entries and the counts disagree (nothing is written).
    """
    tmp = path.with_name(path.name + ".tmp")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with tmp.open("wb") as fh:
        n = write_certificate(fh, entries, generated_at=stamp)
    if n != expected:
        tmp.unlink()
        raise ReportInconsistent(f"the certificate lists {n} assets, the counts say "
                                 f"{expected} were migrated")
    tmp.replace(path)
