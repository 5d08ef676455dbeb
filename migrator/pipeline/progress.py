"""The progress of a run, as facts are committed: assets published, assets verified, bytes.

Two bars: `published` (an asset's bytes are in the target: published, or found identical, or
requested from an upstream) and `verified` (an asset checked against CodeArtifact's hashes, or
ingested). Each advances when the writer has committed the fact to the state, never before, so
what the bar shows is what a resume would find. The first bar also shows the megabytes
downloaded, the failures so far and the floor the rate budget puts on the time left.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migrator.models import AssetUpdate, VersionResult
from migrator.state import status as st

__all__ = ["Progress"]

_ON_TARGET = frozenset({st.PUBLISHED, st.SKIPPED_IDENTICAL, st.REQUESTED})
# Versions whose assets are all checked when their claim ends (identical bytes found at
# publish time were compared hash for hash: nothing is left to verify).
_CHECKED = frozenset({st.VERIFIED, st.INGESTED, st.SKIPPED_IDENTICAL})


class Progress:
    """tqdm bars of one run; silent (no bar at all) when disabled. The CLI disables them
    when stderr is not a terminal or with --no-progress; log lines go through
    `logging_redirect_tqdm` around the run."""

    def __init__(self, to_publish: int, to_verify: int | None = None, *, enabled: bool = True,
                 file: Any = None, writes_per_second: float | None = None,
                 refresh_every: float = 0.1) -> None:
        self.enabled = enabled
        self.bytes = 0
        self.failures = 0
        self.published = 0
        self.verified = 0
        self.to_publish = to_publish
        self.writes_per_second = writes_per_second
        self.bars: list[Any] = []
        if enabled:
            from tqdm import tqdm

            common = {"unit": "asset", "dynamic_ncols": True, "smoothing": 0.1, "file": file,
                      "mininterval": refresh_every}
            self.bars = [
                tqdm(total=to_publish, desc="published", position=0, **common),
                tqdm(total=to_publish if to_verify is None else to_verify, desc="verified ",
                     position=1, **common),
            ]

    @property
    def bar(self) -> Any:
        """The first bar (None when disabled)."""
        return self.bars[0] if self.bars else None

    def add_bytes(self, n: int) -> None:
        self.bytes += n

    def committed(self, facts: Iterable[AssetUpdate]) -> None:
        """Asset facts of claims in progress that the writer has just committed."""
        published = sum(1 for u in facts if u.status in _ON_TARGET)
        self.published += published
        if self.bars and published:
            self.bars[0].set_postfix_str(self._postfix(), refresh=False)
            self.bars[0].update(published)

    def settled(self, results: Iterable[tuple[VersionResult, int]]) -> None:
        """Versions whose claim ended (committed), each with its number of assets."""
        verified = 0
        for r, assets in results:
            if r.status in _CHECKED:
                verified += assets
            elif r.status in (st.FAILED_PERMANENT, st.CONFLICT):
                self.failures += 1
        self.verified += verified
        if self.bars:
            self.bars[0].set_postfix_str(self._postfix())
            self.bars[1].update(verified)

    def _postfix(self) -> str:
        text = f"{self.bytes / 1e6:.1f} MB, {self.failures} failed"
        left = self.to_publish - self.published
        if self.writes_per_second and left > 0:
            # at least one write per asset: the quota puts a floor under the time left
            text += f", ≥ {left / self.writes_per_second:.0f} s at the rate budget"
        return text

    def close(self) -> None:
        for bar in self.bars:
            bar.close()
