"""Fault injection and the request log.

Faults (all drawn from one seeded RNG so a failing test can be replayed with the same seed):
latency per request, 5xx errors, 429 throttling (beside the real quotas), connection resets,
truncated bodies, and lost answers: a write (any native Maven/npm/PyPI write, or
PublishPackageVersion) that is applied and stored, after which the connection is reset
instead of the answer being sent, so the client cannot tell whether it landed. The request log
keeps
one entry per request with counts per operation and per asset, so tests can prove that an
asset was published exactly once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass


@dataclass
class FaultConfig:
    seed: int = 0
    latency: float = 0.0  # seconds added to every request
    latency_jitter: float = 0.0  # plus uniform(0, jitter)
    error_rate: float = 0.0  # fraction answered 500/503 before the handler runs
    reset_rate: float = 0.0  # fraction whose connection is reset without an answer
    truncate_rate: float = 0.0  # fraction of successful GET bodies cut in half
    throttle_rate: float = 0.0  # fraction answered 429 with Retry-After whatever the quotas say
    # fraction of successful writes (native PUT/POST/DELETE, PublishPackageVersion) that are
    # stored, then answered by a connection reset: the write landed, its answer is lost
    lost_answer_rate: float = 0.0
    lost_answers: int = 0  # the next N successful writes lose their answer (deterministic)
    # npm: the next N publishes of a version the package does not have yet answer 409, as when
    # another publish changed the package document meanwhile (npm merges and PUTs once more)
    npm_publish_conflicts: int = 0
    path_prefix: str = ""  # only requests under this path prefix are affected ("" = all)

    def update(self, changes: dict) -> None:
        for key, value in changes.items():
            if key not in self.__dataclass_fields__:
                raise KeyError(key)
            setattr(self, key, type(getattr(self, key))(value))


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.rng = random.Random(self.config.seed)
        self._lock = threading.Lock()

    def reconfigure(self, changes: dict) -> None:
        with self._lock:
            self.config.update(changes)
            if "seed" in changes:
                self.rng = random.Random(self.config.seed)

    def draw(self, path: str) -> dict:
        """Decide the faults of one request (one fixed number of RNG draws per request; a
        sixth only while `lost_answer_rate` is set, so older seeds replay as they did)."""
        c = self.config
        with self._lock:
            rolls = [self.rng.random() for _ in range(6 if c.lost_answer_rate else 5)]
        if c.path_prefix and not path.startswith(c.path_prefix):
            return {"delay": 0.0, "error": False, "reset": False, "truncate": False,
                    "throttle": False, "lose_answer": False}
        return {
            "delay": c.latency + rolls[0] * c.latency_jitter,
            "error": rolls[1] < c.error_rate,
            "reset": rolls[2] < c.reset_rate,
            "truncate": rolls[3] < c.truncate_rate,
            "throttle": rolls[4] < c.throttle_rate,
            "lose_answer": len(rolls) > 5 and rolls[5] < c.lost_answer_rate,
        }

    def take(self, counter: str) -> bool:
        """Use one of a deterministic counter (`lost_answers`, `npm_publish_conflicts`):
        True, and one fewer left, when any is left."""
        with self._lock:
            left = getattr(self.config, counter)
            if left <= 0:
                return False
            setattr(self.config, counter, left - 1)
            return True

    def snapshot(self) -> dict:
        return asdict(self.config)


class RequestLog:
    """Counts over the whole run plus the most recent entries (bounded, for long runs).

    Entry: {seq, time, method, path, operation, status, write, asset?, repository?, fault?};
    status is -1 for an injected connection reset.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.entries: deque[dict] = deque(maxlen=self.max_entries)
            self.seq = 0
            self.by_operation: Counter = Counter()
            self.by_status: Counter = Counter()
            self.by_asset: dict[str, dict[str, int]] = {}

    def add(self, entry: dict) -> None:
        with self._lock:
            entry["seq"] = self.seq
            self.seq += 1
            self.entries.append(entry)
            _count(entry, self.by_operation, self.by_status, self.by_asset)

    def count(self, operation: str | None = None, status: int | None = None) -> int:
        if status is None:
            return self.by_operation[operation] if operation else self.seq
        with self._lock:
            return sum(1 for e in self.entries
                       if (operation is None or e["operation"] == operation)
                       and e["status"] == status)

    def asset_writes(self, ok_only: bool = True) -> Counter:
        """Asset key → number of write requests that stored (or re-confirmed) it."""
        key = "writes_ok" if ok_only else "writes"
        with self._lock:
            return Counter({a: c[key] for a, c in self.by_asset.items() if c[key]})

    def summary(self, since: int = 0, include_entries: bool = True) -> dict:
        with self._lock:
            if since <= 0:
                by_op, by_status = Counter(self.by_operation), Counter(self.by_status)
                assets = {k: dict(v) for k, v in self.by_asset.items()}
                entries = list(self.entries)
                total = self.seq
            else:
                entries = [e for e in self.entries if e["seq"] >= since]
                by_op, by_status, assets = Counter(), Counter(), {}
                for e in entries:
                    _count(e, by_op, by_status, assets)
                total = len(entries)
            out = {"total": total, "next": self.seq, "by_operation": by_op,
                   "by_status": by_status, "by_asset": assets}
        if include_entries:
            out["entries"] = entries
        return out


def _count(entry: dict, by_op: Counter, by_status: Counter, assets: dict) -> None:
    by_op[entry["operation"]] += 1
    by_status[str(entry["status"])] += 1
    if entry.get("asset"):
        slot = assets.setdefault(entry["asset"], {"writes": 0, "writes_ok": 0, "reads": 0})
        if entry["write"]:
            slot["writes"] += 1
            slot["writes_ok"] += 0 < entry["status"] < 300
        else:
            slot["reads"] += 1
