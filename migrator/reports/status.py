"""Summaries of a state: the numbers `migrator status` prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from migrator.models import human_bytes
from migrator.state import WorkQueue
from migrator.state import status as st

__all__ = ["render_status", "status", "status_data"]

#: Problems listed by the text table; `--json` lists every one.
SHOWN = 20


def status(state_path: str | Path, *, all_failures: bool = False) -> dict[str, Any]:
    """`migrator status`: read the state (no lock: safe while a run is going)."""
    with WorkQueue.open(state_path, create=False) as q:
        return status_data(q, failures=None if all_failures else SHOWN)


def status_data(q: WorkQueue, *, failures: int | None = SHOWN) -> dict[str, Any]:
    """Everything `migrator status` shows, as plain data (also its --json output), from the
    state's one counting query."""
    repos = {name: r.as_dict() for name, r in q.counts().items()}
    totals: dict[str, dict[str, int]] = {}
    for key in ("assets", "versions", "bytes"):
        c: Counter[str] = Counter()
        for r in repos.values():
            c.update(r[key])
        totals[key] = dict(c)
    listed, total = q.failures(failures if failures is not None else -1)
    return {
        "state": str(q.path),
        "repositories": repos,
        "totals": totals,
        "failures": [f.as_dict() for f in listed],
        "failures_total": total,
        "stages": q.stage_counts(),
        "exclusions": [{"repository": r, "reason": why, "assets": n}
                       for r, why, n in q.exclusion_reasons()],
    }




def render_status(data: dict[str, Any]) -> str:
    """A terminal table: one row per repository, then totals and the first failures."""
    order = [s for s in st.ALL if any(s in r["assets"] or s in r["versions"]
                                      for r in data["repositories"].values())]
    head = ["repository", "format", "mode", "crawl", "versions", "assets", "bytes", *order]
    rows = []
    for name, r in data["repositories"].items():
        rows.append([name, r["format"], r["mode"], r["crawl"],
                     str(sum(r["versions"].values())), str(sum(r["assets"].values())),
                     human_bytes(sum(r["bytes"].values())),
                     *(str(r["assets"].get(s, 0)) for s in order)])
    t = data["totals"]
    rows.append(["TOTAL", "", "", "", str(sum(t["versions"].values())),
                 str(sum(t["assets"].values())), human_bytes(sum(t["bytes"].values())),
                 *(str(t["assets"].get(s, 0)) for s in order)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = [f"state: {data['state']}   (status columns count assets)",
             "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if data["failures"]:
        lines.append("")
        lines.append("problems:")
        for f in data["failures"]:
            lines.append(f"  {f['status']:<17} {f['repository']}/{f['path']}: {f['reason']}")
        more = data.get("failures_total", 0) - len(data["failures"])
        if more > 0:
            lines.append(f"  ... and {more} more; `migrator status --json` lists them all")
    lines += render_stages(data.get("stages") or {}) + render_exclusions(
        data.get("exclusions") or [])
    return "\n".join(lines)


def render_exclusions(exclusions: list[dict[str, Any]], shown: int = SHOWN) -> list[str]:
    """What is left out and why, most first (`--json` lists every reason)."""
    if not exclusions:
        return []
    out = ["", "left out (assets, by reason):"]
    out += [f"  {e['assets']:>6}  {e['repository']}: {e['reason']}" for e in exclusions[:shown]]
    if len(exclusions) > shown:
        out.append(f"  ... and {len(exclusions) - shown} more reasons; `migrator status --json`")
    return out


def render_stages(stages: dict[str, dict[str, int]]) -> list[str]:
    """Assets per wave and status, when the state holds more than one wave."""
    if len(stages) < 2:
        return []
    out = ["", "by stage (assets):"]
    for stage, counts in stages.items():
        parts = ", ".join(f"{s} {counts[s]}" for s in st.ALL if s in counts)
        out.append(f"  stage {stage}: {sum(counts.values())} ({parts})")
    return out
