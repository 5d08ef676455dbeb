"""Fault injection and the request log.

Faults (all drawn from one seeded RNG so a failing test can be replayed with the same seed):
latency per request, 5xx errors, connection resets, truncated bodies. The request log keeps
one entry per request with counts per operation and per asset, so tests can prove that an
asset was published exactly once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class FaultConfig:
    seed: int = 0
    latency: float = 0.0  # seconds added to every request
    latency_jitter: float = 0.0  # plus uniform(0, jitter)
    error_rate: float = 0.0  # fraction answered 500/503 before the handler runs
    reset_rate: float = 0.0  # fraction whose connection is reset without an answer
    truncate_rate: float = 0.0  # fraction of successful GET bodies cut in half
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
        """Decide the faults of one request (one fixed number of RNG draws per request)."""
        c = self.config
        with self._lock:
            rolls = [self.rng.random() for _ in range(4)]
        if c.path_prefix and not path.startswith(c.path_prefix):
            return {"delay": 0.0, "error": False, "reset": False, "truncate": False}
        return {
            "delay": c.latency + rolls[0] * c.latency_jitter,
            "error": rolls[1] < c.error_rate,
            "reset": rolls[2] < c.reset_rate,
            "truncate": rolls[3] < c.truncate_rate,
        }

    def snapshot(self) -> dict:
        return asdict(self.config)


@dataclass
class RequestLog:
    entries: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict) -> None:
        with self._lock:
            entry["seq"] = len(self.entries)
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def count(self, operation: str | None = None, status: int | None = None) -> int:
        return sum(1 for e in list(self.entries)
                   if (operation is None or e["operation"] == operation)
                   and (status is None or e["status"] == status))

    def asset_writes(self, ok_only: bool = True) -> Counter:
        """Asset key → number of write requests that stored or confirmed it."""
        return Counter(e["asset"] for e in list(self.entries)
                       if e.get("asset") and e["write"] and (not ok_only or e["status"] < 300))

    def summary(self, since: int = 0, include_entries: bool = True) -> dict:
        entries = list(self.entries)[since:]
        by_op = Counter(e["operation"] for e in entries)
        by_status = Counter(str(e["status"]) for e in entries)
        assets: dict[str, dict[str, int]] = {}
        for e in entries:
            if e.get("asset"):
                slot = assets.setdefault(e["asset"], {"writes": 0, "writes_ok": 0, "reads": 0})
                if e["write"]:
                    slot["writes"] += 1
                    slot["writes_ok"] += e["status"] < 300
                else:
                    slot["reads"] += 1
        out = {"total": len(entries), "next": since + len(entries), "by_operation": by_op,
               "by_status": by_status, "by_asset": assets}
        if include_entries:
            out["entries"] = entries
        return out
