"""`migrator status --merge STATE...` and `migrator report --merge STATE...`: the shards of
one migration (each `--shard K/N` keeps its own state file) seen as one.

The merged numbers are sums of each shard's one counting query, and they are checked in
code before anything is shown as a total:

- each shard adds up: its per-status counts sum to the assets it holds (its plan);
- the merged per-status counts sum to the sum of the shards' plans;
- no asset (source repository + path) is in two shards (`migrator.state.union`): an overlap
  means two processes migrated the same file, and the totals would count it twice;
- the shards are one set: the same N, no K twice, none missing (from `meta.shard`, `K/N`, or
  failing that the `<stem>.shard-K-of-N.sqlite` file name).

`status --merge` shows every finding loudly and exits 1 when one is found; `report --merge`
refuses to write a report whose totals would not add up (`ReportInconsistent`, exit 2).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from migrator.errors import ConfigError, ReportInconsistent
from migrator.models import human_bytes
from migrator.reports import report as rp
from migrator.reports.status import PENDING, group_counts, render_status, status
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.union import overlapping_assets

__all__ = ["merge_report", "merge_status", "merged_report_data", "render_merged_status"]

#: Overlapping assets listed (all are counted).
OVERLAPS_SHOWN = 50
_SHARD_NAME = re.compile(r"\.shard-(\d+)-of-(\d+)\.")
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _paths(states: Sequence[str | Path]) -> list[Path]:
    paths = [Path(s) for s in states]
    if len(paths) < 2:
        raise ConfigError(f"--merge needs the state files of two or more shards, got "
                          f"{len(paths)}", hint="pass every shard's state: migrator status "
                          "--merge STATE.shard-1-of-3.sqlite STATE.shard-2-of-3.sqlite ...")
    seen: set[Path] = set()
    for p in paths:
        if p.resolve() in seen:
            raise ConfigError(f"--merge: {p} is given twice",
                              hint="pass each shard's state file once")
        seen.add(p.resolve())
    return paths


def _shard_of(spec: str | None, path: Path) -> str | None:
    """Which shard a state is (`K/N`): its `meta.shard`, else its file name."""
    m = _SPEC.match(spec) if spec else None
    if m is None:
        m = _SHARD_NAME.search(path.name)
    return f"{int(m.group(1))}/{int(m.group(2))}" if m else None


def _sum_repositories(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per-repository counts summed over shards (each shard's state lists every mapping)."""
    out: dict[str, dict[str, Any]] = {}
    for repos in parts:
        for name, r in repos.items():
            slot = out.setdefault(name, {**r, "assets": {}, "bytes": {}, "versions": {},
                                         "pages": 0, "crawls": []})
            slot["pages"] += r.get("pages", 0)
            slot["crawls"].append(r.get("crawl"))
            for key in ("assets", "bytes", "versions"):
                c = Counter(slot[key])
                c.update(r[key])
                slot[key] = dict(sorted(c.items()))
    for slot in out.values():
        crawls = slot.pop("crawls")
        # Complete only when every shard's crawl is.
        slot["crawl"] = crawls[0] if len(set(crawls)) == 1 else "partial"
    return out


def _sum_totals(repos: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for key in ("assets", "versions", "bytes"):
        c: Counter[str] = Counter()
        for r in repos.values():
            c.update(r[key])
        totals[key] = dict(sorted(c.items()))
    return totals


def _set_findings(shards: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Whether the states are one set of shards: problems, and the shards missing."""
    problems: list[str] = []
    specs = [s["shard"] for s in shards]
    unknown = [s["state"] for s in shards if s["shard"] is None]
    if unknown:
        problems.append(f"not a shard's state (no meta.shard, no .shard-K-of-N. in the name): "
                        f"{', '.join(unknown)}")
    known = [tuple(map(int, x.split("/"))) for x in specs if x]
    counts = sorted({n for _, n in known})
    if len(counts) > 1:
        problems.append(f"the states are of different shardings: N = "
                        f"{', '.join(map(str, counts))}")
    twice = sorted(k for k, n in Counter(k for k, _ in known).items() if n > 1)
    if twice:
        problems.append(f"shard(s) {', '.join(map(str, twice))} given more than once (two "
                        "state files claim the same K)")
    missing: list[str] = []
    if len(counts) == 1:
        n = counts[0]
        have = {k for k, _ in known}
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in have]
        if missing:
            problems.append(f"shard(s) {', '.join(missing)} not given: the totals are of "
                            f"{len(have)} of {n} shards")
    return problems, missing


def _overlaps(paths: list[Path], labels: list[str]) -> tuple[list[dict[str, Any]], int]:
    listed, total = overlapping_assets(paths, OVERLAPS_SHOWN)
    return [{"repository": repo, "path": path, "states": [labels[i] for i in where]}
            for repo, path, where in listed], total


# -- status --merge --------------------------------------------------------------------------

def merge_status(states: Sequence[str | Path], *, all_failures: bool = False,
                 clock: Callable[[], float] = time.time,
                 names: Sequence[str] | None = None,
                 held_by: Callable[[Path], dict[str, Any] | None] | None = None,
                 clocks: Sequence[Callable[[], float]] | None = None) -> dict[str, Any]:
    """`migrator status --merge`: each shard's status (read-only, safe while they run) and
    the checked totals of all of them. `names`: how to call each state (an s3:// URL read
    from a local copy), default its path; `held_by` and `clocks` (one per state) as
    `status` takes them."""
    paths = _paths(states)
    labels = list(names) if names is not None else [str(p) for p in paths]
    label = dict(zip(paths, labels, strict=True))
    shards: list[dict[str, Any]] = []
    parts: list[dict[str, dict[str, Any]]] = []
    failures: list[dict[str, Any]] = []
    failures_total = 0
    problems: list[str] = []
    extra: dict[str, Any] = {} if held_by is None else {"held_by": held_by}
    for i, p in enumerate(paths):
        data = status(p, all_failures=all_failures,
                      clock=clock if clocks is None else clocks[i], **extra)
        planned = data["planned_assets"]  # read in the same snapshot as the counts
        counted = sum(data["totals"]["assets"].values())
        if counted != planned:
            problems.append(f"{label[p]}: its per-status counts sum to {counted} assets, it holds "
                            f"{planned} (a run changed it while it was read? read again)")
        live = data["live"]
        rates = live.get("rates") or {}
        shards.append({
            "state": label[p], "shard": _shard_of(data.get("shard"), p),
            "planned_assets": planned, "counted_assets": counted,
            "assets": data["totals"]["assets"], "bytes": data["totals"]["bytes"],
            "running": live["running"], "rates": live.get("rates"),
            "live_unavailable": live.get("unavailable"),
            "eta_seconds": live.get("eta_seconds"), "last_run": live.get("last_run"),
            "pending_assets": sum(data["totals"]["assets"].get(x, 0) for x in PENDING),
            "writes_per_s": rates.get("writes_per_s"),
            "write_budget_per_s": rates.get("write_budget_per_s"),
        })
        parts.append(data["repositories"])
        failures += [{**f, "state": label[p]} for f in data["failures"]]
        failures_total += data["failures_total"]
    set_problems, missing = _set_findings(shards)
    problems += set_problems
    repos = _sum_repositories(parts)
    totals = _sum_totals(repos)
    planned = sum(s["planned_assets"] for s in shards)
    merged = sum(totals["assets"].values())
    groups = {"by_stage": group_counts(repos, "stage"),
              "by_format": group_counts(repos, "format")}
    if merged != planned:
        problems.append(f"the merged per-status counts sum to {merged} assets, the shards "
                        f"hold {planned}")
    overlaps, overlap_total = _overlaps(paths, labels)
    if overlap_total:
        problems.append(f"{overlap_total} asset(s) are in more than one shard: they were "
                        "migrated by two processes and the totals count them twice")
    running = [s for s in shards if s["running"]]
    etas = [s["eta_seconds"] for s in running]
    return {
        "merged": labels,
        "state": ", ".join(labels),
        "shards": shards,
        "planned_assets": planned,
        "repositories": repos,
        "totals": totals,
        **groups,
        "failures": failures if all_failures else failures[:20],
        "failures_total": failures_total,
        "overlaps": overlaps,
        "overlaps_total": overlap_total,
        "missing_shards": missing,
        "problems": problems,
        "consistent": not problems,
        "running_shards": len(running),
        "writes_per_s": sum(s["writes_per_s"] or 0.0 for s in running),
        "write_budget_per_s": sum(s["write_budget_per_s"] or 0.0 for s in running),
        # The migration ends with its slowest shard.
        "eta_seconds": None if not running or None in etas else max(etas),
        "exit_code": 1 if problems else 0,
    }


def render_merged_status(data: dict[str, Any]) -> str:
    lines = [f"{len(data['shards'])} shard states merged; {data['running_shards']} running"]
    head = ("shard", "state", "planned", "done", "pending", "problems", "running", "rate",
            "ETA")
    rows = [head]
    for s in data["shards"]:
        a = s["assets"]
        r = s["rates"] or {}
        rows.append((s["shard"] or "?", s["state"], str(s["planned_assets"]),
                     str(sum(a.get(x, 0) for x in st.DONE)), str(s["pending_assets"]),
                     str(sum(a.get(x, 0) for x in (*st.PROBLEMS, st.FAILED_RETRYABLE))),
                     "yes" if s["running"] else "no",
                     f"{r['settled_assets_per_s']:.1f}/s" if r else "-",
                     "-" if s["eta_seconds"] is None else f"{s['eta_seconds']:.0f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    if data["running_shards"]:
        eta = data["eta_seconds"]
        lines.append(f"writes {data['writes_per_s']:.1f}/s of the running shards' "
                     f"{data['write_budget_per_s']:g}/s budget; ETA "
                     f"{'unknown' if eta is None else f'{eta:.0f} s'} (the slowest shard)")
    lines.append(f"bytes: {human_bytes(sum(data['totals']['bytes'].values()))} planned in "
                 f"all shards")
    lines.append("")
    lines.append(render_status({**data, "state": f"merged ({len(data['shards'])} shards)"}))
    if data["problems"]:
        lines += ["", "!! THE SHARDS DO NOT ADD UP:"]
        lines += [f"!!   {p}" for p in data["problems"]]
        for o in data["overlaps"]:
            lines.append(f"!!   in {len(o['states'])} shards: {o['repository']}/{o['path']} "
                         f"({', '.join(o['states'])})")
        more = data["overlaps_total"] - len(data["overlaps"])
        if more > 0:
            lines.append(f"!!   ... and {more} more assets in more than one shard")
    else:
        lines.append(f"check: every shard adds up to its plan, the merged totals add up to "
                     f"{data['planned_assets']} assets, no asset is in two shards")
    return "\n".join(lines)


# -- report --merge --------------------------------------------------------------------------

def merged_report_data(queues: Sequence[WorkQueue], *, manifest_text: str | None = None,
                       names: Sequence[str] | None = None) -> dict[str, Any]:
    """`report_data` of every shard (each checked to add up), merged and checked again.

    :raises ReportInconsistent: a shard does not add up, the merged totals do not, an asset
        is in two shards, or the states are not one complete set of shards.
    """
    paths = [q.path for q in queues]
    labels = list(names) if names is not None else [str(p) for p in paths]
    parts = [rp.report_data(q, manifest_text=manifest_text) for q in queues]
    shards = [{"state": name, "shard": _shard_of(q.get_meta("shard"), q.path),
               "planned_assets": d["planned_assets"], "outcomes": d["outcomes"]}
              for q, d, name in zip(queues, parts, labels, strict=True)]
    problems, _ = _set_findings(shards)
    overlaps, overlap_total = _overlaps(paths, labels)
    if overlap_total:
        shown = "; ".join(f"{o['repository']}/{o['path']} in {', '.join(o['states'])}"
                          for o in overlaps[:3])
        problems.append(f"{overlap_total} asset(s) in more than one shard ({shown})")
    if problems:
        raise ReportInconsistent("the shard states do not add up: " + "; ".join(problems),
                                 hint="no report was written; pass exactly one state per "
                                 "shard of one sharding (`migrator status --merge` lists "
                                 "what is wrong)")
    repos = _sum_repositories([d["repositories"] for d in parts])
    totals = _sum_totals(repos)
    planned = sum(d["planned_assets"] for d in parts)
    outcomes: Counter[str] = Counter()
    for d in parts:
        outcomes.update(d["outcomes"])
    by_outcome = {k: outcomes.get(k, 0) for k in ("done", "excluded", "problems", "pending")}
    if sum(totals["assets"].values()) != planned or sum(by_outcome.values()) != planned:
        raise ReportInconsistent(
            f"the merged totals count {sum(totals['assets'].values())} assets in "
            f"{sum(by_outcome.values())} outcomes, the shards hold {planned}",
            hint="no report was written; run it again once no shard is running")
    done_times = [r.updated_at for q in queues for r in q.asset_rows(sorted(st.DONE))]
    if len(done_times) != by_outcome["done"]:
        raise ReportInconsistent("the migrated assets changed during the report",
                                 hint="run it again once no shard is running")
    step, throughput = rp._throughput(done_times)  # the single-state report's own buckets
    return {
        "report": "migrator-report/1",
        "state": ", ".join(labels),
        "merged": shards,
        "generated_at": parts[0]["generated_at"],
        "planned_assets": planned,
        "outcomes": by_outcome,
        "complete": by_outcome["done"] + by_outcome["excluded"] == planned,
        "totals": totals,
        "repositories": repos,
        "problems": [p for d in parts for p in d["problems"]],
        "exclusions": [e for d in parts for e in d["exclusions"]],
        "throughput": throughput,
        "throughput_step": step,
        "configuration": parts[0]["configuration"],
    }


def _entries(queues: Sequence[WorkQueue]) -> Iterator[dict[str, Any]]:
    for q in queues:
        yield from rp.certificate_entries(q)


def merge_report(states: Sequence[str | Path], fmt: str = "text",
                 out: str | Path | None = None, *, manifest_text: str | None = None,
                 names: Sequence[str] | None = None) -> str | None:
    """`migrator report --merge`: one report (any format, the certificate too) of all the
    shards, or nothing written when their totals do not add up."""
    if fmt not in rp.FORMATS:
        raise ConfigError(f"--format {fmt}: not one of {', '.join(rp.FORMATS)}")
    paths = _paths(states)
    with ExitStack() as stack:
        queues = [stack.enter_context(WorkQueue.open(p, create=False)) for p in paths]
        data = merged_report_data(queues, manifest_text=manifest_text, names=names)
        if fmt == "certificate":
            if out is None:
                raise ConfigError("--format certificate needs --out FILE")
            rp.save_certificate(Path(out), _entries(queues), data["outcomes"]["done"])
            return None
    text = rp.render(data, fmt)
    if out is None:
        return text
    Path(out).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return None
