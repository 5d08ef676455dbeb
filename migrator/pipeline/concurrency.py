"""How many versions the engine keeps in flight: Little's law over what the run observes.

A fixed number of workers reaches the write quota only at one latency: with 8 versions in
flight and a version needing about eight requests one after the other, 25 ms per request
gives 40 versions/s, 100 ms (another continent) only 10. Little's law says how many must be
in flight to sustain a throughput: L = lambda * W. The throughput wanted is the rate budget in
writes per second; W is the time a claim spends in the engine per write it makes, observed as
the run goes (decayed sums of claim seconds and of the writes those claims made, so a change
in latency or in the corpus is followed within some tens of versions):

    in flight = budget * (claim seconds / writes) * headroom, within [floor, cap]

`floor` is the manifest's `options.concurrency` (the run starts there, and never goes below
it); `cap` bounds what a slow target could make it grow to. Claims that wait in the rate
buckets take longer, so at the ceiling the estimate can only grow, which costs idle tasks
but never a request: the buckets, not the number in flight, pace the writes.
"""

from __future__ import annotations

import math

__all__ = ["LittlesLaw"]


class LittlesLaw:
    def __init__(self, budget: float, *, floor: int, cap: int, headroom: float = 1.5,
                 decay: float = 0.05) -> None:
        self.budget = budget
        self.floor = max(1, floor)
        self.cap = max(self.floor, cap)
        self.headroom = headroom
        self.decay = decay
        self._seconds = 0.0
        self._writes = 0.0

    def observe(self, seconds: float, writes: float) -> None:
        """One finished claim: how long it took and how many writes it made."""
        keep = 1.0 - self.decay
        self._seconds = self._seconds * keep + max(0.0, seconds)
        self._writes = self._writes * keep + max(0.0, writes)

    @property
    def limit(self) -> int:
        """Versions to keep in flight now."""
        if self._writes <= 1e-9:
            return self.floor
        need = self.budget * self._seconds / self._writes * self.headroom
        return int(min(self.cap, max(self.floor, math.ceil(need - 1e-6))))  # float dust
