"""The progress bar of a run: assets settled, bytes downloaded, failures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migrator.models import VersionResult
from migrator.state import status as st

__all__ = ["Progress"]

_FINAL = frozenset({*st.DONE, *st.PROBLEMS})


class Progress:
    """A tqdm bar of assets brought to a final status, with bytes, rate, ETA and failures.

    Silent (no bar at all) when disabled; the CLI disables it when stderr is not a TTY or
    with --no-progress. Log lines go through `logging_redirect_tqdm` around the run.
    """

    def __init__(self, total: int, *, enabled: bool = True, file: Any = None) -> None:
        self.enabled = enabled
        self.bytes = 0
        self.failures = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="asset", dynamic_ncols=True, smoothing=0.1,
                            desc="migrating", file=file)

    def add_bytes(self, n: int) -> None:
        self.bytes += n

    def settled(self, results: Iterable[tuple[VersionResult, int]]) -> None:
        """Versions that ended their claim, each with its number of assets."""
        done = 0
        for r, assets in results:
            if r.status in _FINAL:
                done += assets
            if r.status in (st.FAILED_PERMANENT, st.CONFLICT):
                self.failures += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.bytes / 1e6:.1f} MB, {self.failures} failed",
                                     refresh=False)
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
