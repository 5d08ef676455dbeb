"""`migrator status`: the numbers of a state, and while a run is going, how fast it goes.

Everything is read through a read-only connection (`mode=ro`, WAL): the writer is never
blocked and the run lock is never taken, so it is safe from another terminal at any time.
The counts come from the state's one counting query (`WorkQueue.counts`); the live part from
the samples the running process records (`migrator.pipeline.stats.Sampler`):

- running or not: whether a live process holds the run lock (`lock_holder`), else "not
  running" with how the last run ended;
- rates over the last `WINDOW_SECONDS`: assets put into the target and verified, bytes, write
  requests against the budget (and the pace the rate limiter allows now), throttled answers (429s);
- an ETA: the pending assets at the settle rate and the bytes still to publish at the byte
  rate, whichever is later;
- the last errors (the problem assets recorded most recently).

`watch` redraws the view every few seconds: in place (ANSI cursor moves) on a terminal, a
block per interval otherwise; Ctrl-C ends it with exit 0.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from migrator.errors import StateError
from migrator.models import RunSample, human_bytes
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.lock import lock_holder

__all__ = ["WINDOW_SECONDS", "live_data", "render_live", "render_status", "status",
           "status_data", "watch"]

#: Problems listed by the text table; `--json` lists every one.
SHOWN = 20
#: The rates are the work of the last this many seconds (or since the run started).
WINDOW_SECONDS = 30.0
#: The last errors shown.
LAST_ERRORS = 5
#: Statuses of work a run has still to do.
PENDING = (st.DISCOVERED, st.CLAIMED, st.PUBLISHED, st.FAILED_RETRYABLE, st.REQUESTED)
#: Statuses of assets whose bytes are still to be put into the target.
TO_PUBLISH = (st.DISCOVERED, st.CLAIMED, st.FAILED_RETRYABLE)


def status(state_path: str | Path, *, all_failures: bool = False,
           clock: Callable[[], float] = time.time,
           held_by: Callable[[Path], dict[str, Any] | None] = lock_holder) -> dict[str, Any]:
    """`migrator status`: read the state (read-only, no lock: safe while a run is going).
    `held_by`: who runs on it (default: the local run lock's holder; for a copy of an S3
    state, its lease's, with `clock` at the copy's save time)."""
    p = Path(state_path)
    with WorkQueue.open(p, create=False) as q, q.read_snapshot():
        # One read transaction: the counts and the samples are of the same moment.
        now = clock()
        data = status_data(q, failures=None if all_failures else SHOWN)
        holder = held_by(p)
        try:
            data["live"] = live_data(q, holder=holder, now=now, totals=data["totals"])
        except StateError as exc:
            # The counts are what status is for; damage in the run log or the samples
            # costs the live view only.
            data["live"] = {"running": holder is not None, "unavailable": exc.message}
        data["now"] = now
        data["planned_assets"] = q.asset_total()
        data["shard"] = q.get_meta("shard")
    return data


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
        "by_stage": group_counts(repos, "stage"),
        "by_format": group_counts(repos, "format"),
        "failures": [f.as_dict() for f in listed],
        "failures_total": total,
        "stages": q.stage_counts(),
        "exclusions": [{"repository": r, "reason": why, "assets": n}
                       for r, why, n in q.exclusion_reasons()],
    }


def group_counts(repos: dict[str, dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Asset and byte counts by status summed per value of a repository's `key` (its stage
    or format), in the order the repositories come."""
    out: dict[str, dict[str, Any]] = {}
    for r in repos.values():
        slot = out.setdefault(str(r[key]), {"assets": {}, "bytes": {}})
        for part in ("assets", "bytes"):
            c = Counter(slot[part])
            c.update(r[part])
            slot[part] = dict(c)
    return out


def _breakdown(title: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"by {title}:"]
    for name, g in groups.items():
        parts = ", ".join(f"{n} {s}" for s in st.ALL if (n := g["assets"].get(s, 0)))
        lines.append(f"  {name}: {sum(g['assets'].values())} assets, "
                     f"{human_bytes(sum(g['bytes'].values()))} ({parts or 'none'})")
    return lines


def _rate(new: float, old: float, seconds: float) -> float:
    return max(0.0, new - old) / seconds if seconds > 0 else 0.0


def live_data(q: WorkQueue, *, holder: dict[str, Any] | None, now: float,
              totals: dict[str, dict[str, int]], window: float = WINDOW_SECONDS
              ) -> dict[str, Any]:
    """Whether a run is going and, if so, its rates, throttling and ETA; else how the last
    run ended. `totals` are `status_data`'s (the remaining work)."""
    runs = q.runs(1)
    last = runs[0] if runs else None
    assets, size = totals.get("assets", {}), totals.get("bytes", {})
    pending = sum(assets.get(s, 0) for s in PENDING)
    to_publish = sum(size.get(s, 0) for s in TO_PUBLISH)
    done = sum(assets.get(s, 0) for s in st.DONE)
    out: dict[str, Any] = {
        "running": holder is not None,
        "holder": None if holder is None else {k: holder.get(k) for k in
                                                ("pid", "host", "command", "started")},
        "window_seconds": window,
        "pending_assets": pending,
        "bytes_to_publish": to_publish,
        # What is to be in the target: every byte but the excluded ones.
        "bytes_total": sum(n for s, n in size.items() if s != st.EXCLUDED),
        "bytes_excluded": size.get(st.EXCLUDED, 0),
        "bytes_done": sum(size.get(s, 0) for s in st.DONE),
        "assets_done": done,
        "last_run": last,
        "last_errors": [f.as_dict() for f in q.recent_problems(LAST_ERRORS)],
    }
    if holder is None:
        return out
    # The run holding the lock is the last one recorded (a run records itself under the lock).
    run_id = last["id"] if last is not None and last["finished_at"] is None else None
    samples = q.samples(run_id, since=now - window) if run_id is not None else []
    if run_id is not None and not samples:
        # Nothing recorded within the window (nothing committed: throttled, or waiting for
        # retries): the rate over the window is measured from the last sample before it.
        samples = q.samples(run_id, last=True)
    out.update(_rates(samples, now, pending, to_publish))
    return out


def _rates(samples: list[RunSample], now: float, pending: int, to_publish: int
           ) -> dict[str, Any]:
    if not samples:
        return {"sampled_at": None, "rates": None, "eta_seconds": None}
    base, end = samples[0], samples[-1]
    span = now - base.at
    rates = {
        "published_assets_per_s": _rate(end.published_assets, base.published_assets, span),
        "published_bytes_per_s": _rate(end.published_bytes, base.published_bytes, span),
        "verified_assets_per_s": _rate(end.verified_assets, base.verified_assets, span),
        "settled_assets_per_s": _rate(end.settled_assets, base.settled_assets, span),
        "writes_per_s": _rate(end.writes, base.writes, span),
        "reads_per_s": _rate(end.reads, base.reads, span),
        "throttled_in_window": max(0, end.throttled - base.throttled),
        "throttled_total": end.throttled,
        "write_budget_per_s": end.budget,
        "write_pace_per_s": end.write_rate,
        "measured_seconds": round(span, 1),
    }
    etas = []
    if pending:
        if rates["settled_assets_per_s"] > 0:
            etas.append(pending / rates["settled_assets_per_s"])
        else:
            etas.append(None)
    if to_publish:
        etas.append(to_publish / rates["published_bytes_per_s"]
                    if rates["published_bytes_per_s"] > 0 else None)
    eta = None if None in etas else (max(etas) if etas else 0.0)
    return {"sampled_at": end.at, "rates": rates,
            "eta_seconds": None if eta is None else round(eta, 1)}


# -- rendering -------------------------------------------------------------------------------

def _when(t: float | None) -> str:
    if t is None:
        return "?"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def render_live(live: dict[str, Any], now: float | None = None) -> list[str]:
    """The lines above the table: running or not, rates, budget, throttling, ETA, errors."""
    lines: list[str] = []
    if "unavailable" in live:
        return [f"{'running' if live['running'] else 'not running'}; the live view cannot be "
                f"read: {live['unavailable']}"]
    last = live.get("last_run")
    if not live["running"]:
        if last is None:
            lines.append("not running (no run recorded yet)")
        elif last["finished_at"] is None:
            lines.append(f"not running: the last run ({last['command']}, pid {last['pid']} on "
                         f"{last['host']}, started {_when(last['started_at'])}) ended without "
                         "recording its end (killed?); `migrator resume` continues")
        else:
            lines.append(f"not running: the last run ({last['command']}) ended "
                         f"{_when(last['finished_at'])} with exit code {last['exit_code']}")
    else:
        h = live["holder"] or {}
        lines.append(f"running: {h.get('command')} (pid {h.get('pid')} on {h.get('host')}, "
                     f"since {_when(h.get('started'))})")
        r = live.get("rates")
        if r is None:
            lines.append("  rates: no sample recorded yet (crawling, or a run of a migrator "
                         "without live samples)")
        else:
            budget = r["write_budget_per_s"]
            pace = r["write_pace_per_s"]
            lines.append(
                f"  last {r['measured_seconds']:g} s: {r['published_assets_per_s']:.1f} "
                f"assets/s into the target ({human_bytes(r['published_bytes_per_s'])}/s), "
                f"{r['verified_assets_per_s']:.1f} verified/s, "
                f"{r['settled_assets_per_s']:.1f} settled/s")
            writes = f"  writes {r['writes_per_s']:.1f}/s"
            if budget:
                writes += f" of a {budget:g}/s budget ({100 * r['writes_per_s'] / budget:.0f} %)"
            if pace is not None and budget and pace < budget:
                writes += f", paced down to {pace:.1f}/s after throttling"
            writes += (f"; throttled: {r['throttled_in_window']} in the window, "
                       f"{r['throttled_total']} in this run")
            lines.append(writes)
            eta = live.get("eta_seconds")
            left = (f"{live['pending_assets']} assets, "
                    f"{human_bytes(live['bytes_to_publish'])} to publish")
            if eta is None:
                lines.append(f"  left: {left}; ETA unknown (no progress in the window)")
            else:
                lines.append(f"  left: {left}; ETA {_duration(eta)}")
            if now is not None and live.get("sampled_at") is not None and \
                    now - live["sampled_at"] > 3 * live["window_seconds"]:
                lines.append(f"  nothing committed for {_duration(now - live['sampled_at'])}")
    lines.append(f"bytes: {human_bytes(live['bytes_done'])} done of "
                 f"{human_bytes(live['bytes_total'])} to migrate ("
                 f"{human_bytes(live.get('bytes_excluded', 0))} excluded)")
    if live.get("last_errors"):
        lines.append("last errors:")
        for f in live["last_errors"]:
            lines.append(f"  {f['status']:<17} {f['repository']}/{f['path']}: {f['reason']}")
    return lines


def render_status(data: dict[str, Any]) -> str:
    """A terminal table: one row per repository, then totals and the first failures; with
    the live view above it when `data` has one."""
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
    lines = [f"state: {data['state']}   (status columns count assets)"]
    if data.get("live") is not None:
        lines[1:1] = render_live(data["live"], data.get("now"))
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    for title, key in (("stage", "by_stage"), ("format", "by_format")):
        if len(data.get(key) or {}) > 1:
            lines += _breakdown(title, data[key])
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


# -- --watch ---------------------------------------------------------------------------------

def watch(read: Callable[[], dict[str, Any]], *, every: float, as_json: bool = False,
          render: Callable[[dict[str, Any]], str] = render_status,
          out: TextIO = sys.stdout, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.time, rounds: int | None = None) -> int:
    """Show `read()` every `every` seconds until Ctrl-C (or `rounds` views): redrawn in place
    on a terminal (cursor up and clear: ANSI), one block per view otherwise, one JSON object
    a line with `as_json`. Returns the exit code: 0 (Ctrl-C is how one stops watching)."""
    tty = out.isatty() and not as_json
    drawn = 0
    shown = 0
    try:
        while rounds is None or shown < rounds:
            data = read()
            data["now"] = clock()
            if as_json:
                out.write(json.dumps(data, sort_keys=True) + "\n")
            else:
                text = render(data)
                stamp = f"-- {_when(data['now'])} (every {every:g} s; Ctrl-C to stop)"
                if tty:
                    # Back to the first line of the previous view, clear it and below; a
                    # view taller than the terminal scrolled its top away: redraw the screen.
                    if drawn >= shutil.get_terminal_size().lines:
                        out.write("\x1b[H")
                    elif drawn:
                        out.write(f"\x1b[{drawn}F")
                    out.write("\x1b[J")
                    out.write(f"{stamp}\n{text}\n")
                    drawn = text.count("\n") + 2
                else:
                    out.write(f"{stamp}\n{text}\n\n")
            out.flush()
            shown += 1
            if rounds is not None and shown >= rounds:
                break
            sleep(every)
    except KeyboardInterrupt:
        if tty:
            out.write("\n")
    return 0


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
