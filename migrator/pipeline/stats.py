"""What a run did (`Stats`, per worker, summed) and how it ended (`RunSummary`, from the state).

The summary's counts come from the state's one counting query (`WorkQueue.counts`), the same
one `migrator status` prints, so the two never disagree.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from migrator.errors import StateError, shorten
from migrator.models import AssetUpdate, RunSample, VersionResult
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.queries import Failure, RepositoryCounts

__all__ = ["FAILURES_SHOWN", "SAMPLE_SECONDS", "RunSummary", "Sampler", "Sampling", "Stats",
           "summarise"]

logger = logging.getLogger(__name__)

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
    #: Source repositories whose listing failed for good (name, reason): the others were
    #: migrated, these were not (or only what an earlier listing recorded); exit 1.
    crawl_failures: list[tuple[str, str]] = field(default_factory=list)

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
        return 1 if self.problems or self.pending or self.crawl_failures else 0

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
            "crawl_failures": crawl_failure_dicts(self.crawl_failures),
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
        lines += crawl_failure_lines(self.crawl_failures)
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


# -- live samples: what `migrator status` reads while a run is going --------------------------

#: How often, at most, the writer records a sample of the run's cumulative work. A sample is
#: one small insert; at 2 s a week-long run writes ~300k rows (about 20 MB).
SAMPLE_SECONDS = 2.0
_ON_TARGET = frozenset({st.PUBLISHED, st.SKIPPED_IDENTICAL, st.REQUESTED})
_VERIFIED = frozenset({st.VERIFIED, st.INGESTED})
_SETTLED = st.DONE | st.PROBLEMS


class Sampler:
    """The run's cumulative work, from the facts the engine's writer commits, recorded into
    the state every `every` seconds (`WorkQueue.record_sample`), so that another process can
    compute rates, throttling and an ETA without touching this one.

    Called only from the writer (through `Sampling`), so the state keeps one writer. `limits`
    is the target's `RateLimits` when it has them (requests sent, 429s met, the adaptive pace, the
    budget); without them those fields stay empty.
    """

    def __init__(self, queue: WorkQueue, run_id: int | None, *, limits: Any = None,
                 budget: float | None = None, clock: Callable[[], float] = time.time,
                 every: float = SAMPLE_SECONDS) -> None:
        self.queue = queue
        self.run_id = run_id
        self.limits = limits
        self.budget = budget
        self.clock = clock
        self.every = every
        self.published_assets = self.published_bytes = 0
        self.verified_assets = self.verified_bytes = 0
        self.settled_assets = 0
        self._last = float("-inf")
        self._broken = False

    def committed(self, updates: Iterable[AssetUpdate]) -> None:
        """Asset facts the writer has committed (of claims in progress or ending)."""
        updates = [u for u in updates if u.status in _ON_TARGET | _VERIFIED]
        if not updates:
            return
        sizes = self.queue.asset_sizes(u.asset_id for u in updates)
        for u in updates:
            size = sizes.get(u.asset_id, 0)
            if u.status in _ON_TARGET:
                self.published_assets += 1
                self.published_bytes += size
            else:
                self.verified_assets += 1
                self.verified_bytes += size

    def settled(self, results: Iterable[tuple[VersionResult, int]]) -> None:
        """Versions whose claim ended (committed), each with its number of assets."""
        for r, assets in results:
            self.committed(a for a in r.assets if a.status in _VERIFIED)
            if r.status in _SETTLED:
                self.settled_assets += assets

    def sample(self) -> RunSample:
        """The cumulative work now."""
        writes = reads = throttled = 0
        rate: float | None = None
        budget = self.budget
        if self.limits is not None:
            writes = int(self.limits.writes.acquired)
            reads = int(self.limits.reads.acquired)
            # Every request takes a token from the account-wide read or write bucket (and
            # maybe its own quota's too), so these two count each 429 exactly once.
            throttled = int(self.limits.writes.throttled) + int(self.limits.reads.throttled)
            rate = float(self.limits.writes.rate)
            budget = float(self.limits.writes.ceiling)
        return RunSample(at=self.clock(), published_assets=self.published_assets,
                         published_bytes=self.published_bytes,
                         verified_assets=self.verified_assets,
                         verified_bytes=self.verified_bytes,
                         settled_assets=self.settled_assets, writes=writes, reads=reads,
                         throttled=throttled, write_rate=rate, budget=budget)

    def maybe_record(self, *, force: bool = False) -> None:
        """Record a sample when `every` seconds have passed since the last (or `force`)."""
        now = self.clock()
        if self._broken or not (force or now - self._last >= self.every):
            return
        self._last = now
        try:
            self.queue.record_sample(self.run_id, self.sample())
        except StateError as exc:
            # The live view is a convenience: a state that cannot take a sample must not
            # stop the transfer (the next real write reports the problem the run's way).
            self._broken = True
            logger.warning("live status samples stopped: %s", exc)


class Sampling:
    """The engine's `progress` hook with a `Sampler` beside it: every committed fact goes to
    both, and the sampler records when its interval has passed. (The hook is the writer's own
    path, so no other task writes the state.)"""

    def __init__(self, progress: Any, sampler: Sampler) -> None:
        self.progress = progress
        self.sampler = sampler

    def add_bytes(self, n: int) -> None:
        self.progress.add_bytes(n)

    def committed(self, facts: Iterable[AssetUpdate]) -> None:
        facts = list(facts)
        self.progress.committed(facts)
        self.sampler.committed(facts)
        self.sampler.maybe_record()

    def settled(self, results: Iterable[tuple[VersionResult, int]]) -> None:
        results = list(results)
        self.progress.settled(results)
        self.sampler.settled(results)
        self.sampler.maybe_record()

    def close(self) -> None:
        self.sampler.maybe_record(force=True)
        self.progress.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else the engine asks of its progress hook is the progress bar's.
        return getattr(self.progress, name)


def crawl_failure_lines(failures: Iterable[tuple[str, str]], others: str = "") -> list[str]:
    """The lines a summary (run or plan) gives the repositories whose listing failed for
    good: each with its reason, then what to do; `others` says where the rest stands."""
    failures = list(failures)
    lines = [f"  listing failed: {name}: {shorten(why)}" for name, why in failures]
    if failures:
        lines.append(f"the listing of {len(failures)} repositor"
                     f"{'y' if len(failures) == 1 else 'ies'} failed{others}; fix what the "
                     "reason says on the source server, then run the same command again: it "
                     "lists only what is missing")
    return lines


def crawl_failure_dicts(failures: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """The same for `--json`."""
    return [{"repository": name, "reason": shorten(why)} for name, why in failures]
