"""What a run did (`Stats`, per worker, summed) and how it ended (`RunSummary`, from the state).

The summary's counts come from the state's one counting query (`WorkQueue.counts`), the same
one `migrator status` prints, so the two never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.queries import Failure, RepositoryCounts

__all__ = ["FAILURES_SHOWN", "RunSummary", "Stats", "summarise"]

#: Problem assets listed by a summary; the rest are counted, and `migrator status --json`
#: lists them all.
FAILURES_SHOWN = 50
#: Statuses of work not finished yet (a retry is waiting, a claim is open).
PENDING = (st.DISCOVERED, st.CLAIMED, st.PUBLISHED, st.FAILED_RETRYABLE, st.REQUESTED)


@dataclass(slots=True)
class Stats:
    """What one worker did; `a + b` sums them."""

    versions: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    published: int = 0
    identical: int = 0
    verified: int = 0
    requested: int = 0
    ingested: int = 0
    conflicts: int = 0
    retryable: int = 0
    permanent: int = 0

    def __add__(self, other: Stats) -> Stats:
        return Stats(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                        for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def totals(repositories: dict[str, RepositoryCounts], key: str) -> dict[str, int]:
    """Counts by status summed over repositories (`key`: assets, versions or bytes)."""
    out: Counter[str] = Counter()
    for r in repositories.values():
        out.update(getattr(r, key))
    return dict(out)


@dataclass
class RunSummary:
    """The end of a run, read from the state: per repository and status, plus this run's work.

    `assets` counts every asset of the repositories in scope by status; they add up to
    `planned` (what the crawl recorded). `exit_code`: 0 when nothing is pending and nothing
    failed, 1 when something failed, conflicts or is still pending, 3 when interrupted.
    """

    repositories: dict[str, RepositoryCounts]
    stats: Stats = field(default_factory=Stats)
    failures: list[Failure] = field(default_factory=list)
    failures_total: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    finalize: dict[str, Any] = field(default_factory=dict)

    @property
    def assets(self) -> dict[str, int]:
        return totals(self.repositories, "assets")

    @property
    def versions(self) -> dict[str, int]:
        return totals(self.repositories, "versions")

    @property
    def planned(self) -> int:
        return sum(self.assets.values())

    @property
    def pending(self) -> int:
        return sum(n for s, n in self.assets.items() if s in PENDING) + sum(
            n for s, n in self.versions.items() if s in PENDING)

    @property
    def problems(self) -> int:
        return sum(n for s, n in self.assets.items() if s in st.PROBLEMS) + sum(
            n for s, n in self.versions.items() if s in st.PROBLEMS)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 3
        return 1 if self.problems or self.pending else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "interrupted": self.interrupted,
            "elapsed_seconds": round(self.elapsed, 2),
            "planned_assets": self.planned,
            "totals": {"assets": self.assets, "versions": self.versions,
                       "bytes": totals(self.repositories, "bytes")},
            "assets": self.assets,
            "versions": self.versions,
            "this_run": self.stats.as_dict(),
            "repositories": {k: r.as_dict() for k, r in self.repositories.items()},
            "failures": [f.as_dict() for f in self.failures],
            "failures_total": self.failures_total,
            "finalize": self.finalize,
        }

    def render(self) -> str:
        order = [s for s in st.ALL if s in self.assets]
        head = ("repository", *order, "total")
        rows = [head]
        for name, r in self.repositories.items():
            a = r.assets
            rows.append((name, *(str(a.get(s, 0)) for s in order), str(sum(a.values()))))
        all_assets = self.assets
        rows.append(("TOTAL", *(str(all_assets.get(s, 0)) for s in order), str(self.planned)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        s = self.stats
        lines.append(f"this run: {s.published} published, {s.identical} already there, "
                     f"{s.verified} verified, {s.ingested} pre-warmed, "
                     f"{s.bytes_downloaded / 1e6:.1f} MB downloaded in {self.elapsed:.1f} s")
        if self.finalize:
            tags = sum(len(f.get("set") or {}) for f in self.finalize.values())
            lines.append(f"npm: dist-tags restored on {len(self.finalize)} package(s) "
                         f"({tags} tags)")
            for name, f in self.finalize.items():
                for tag, why in (f.get("skipped") or {}).items():
                    lines.append(f"  {name}: dist-tag {tag} not set: {why}")
                if f.get("error"):
                    lines.append(f"  {name}: dist-tags not restored: {f['error']}")
        for f in self.failures:
            lines.append(f"  {f.status}: {f.repository}/{f.path}: {f.reason}")
        more = self.failures_total - len(self.failures)
        if more > 0:
            lines.append(f"  ... and {more} more; `migrator status --json` lists them all")
        if self.interrupted:
            lines.append("interrupted: the state is saved; `migrator resume` continues")
        elif self.pending:
            lines.append(f"{self.pending} items still pending (retry times not reached); run "
                         "again to continue")
        return "\n".join(lines)


def summarise(queue: WorkQueue, repository_ids: list[int] | None, stats: Stats | None = None,
              *, elapsed: float = 0.0, interrupted: bool = False,
              finalize: dict[str, Any] | None = None) -> RunSummary:
    """The run's summary, read from the state (numbers add up to the plan)."""
    failures, total = queue.failures(FAILURES_SHOWN, repository_ids)
    return RunSummary(repositories=queue.counts(repository_ids), stats=stats or Stats(),
                      failures=failures, failures_total=total, elapsed=elapsed,
                      interrupted=interrupted, finalize=finalize or {})
