"""How the engine paces itself: the manifest's options plus the timings tests shorten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrator.manifest import Manifest, Options
from migrator.retry import VERSION_RETRY, VersionBackoff

__all__ = ["EngineOptions"]

_MANIFEST = Options()  # the manifest's defaults, written once in migrator.manifest


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """The engine's knobs. The first four and `rate_budget` come from the manifest's
    `[options]` (and default to its defaults); the rest are timings with no manifest key."""

    concurrency: int = _MANIFEST.concurrency
    source_concurrency: int = _MANIFEST.source_concurrency
    max_attempts: int = _MANIFEST.max_attempts
    # "block-upstream": publish=ALLOW, upstream=BLOCK on every package before its first
    # version is published; "leave": never touch origin configuration.
    origin_control: str = _MANIFEST.origin_control
    lease_seconds: float = 300.0
    backoff: VersionBackoff = VERSION_RETRY  # when a failed version is claimed again
    verify_timeout: float = 60.0  # polling for eventual consistency, per claim
    verify_first_wait: float = 0.1
    # A published version is verified from this many seconds after its publish, while the
    # rest of the run goes on (the reads have quotas of their own, so verification rides
    # beside the writes instead of after them). CodeArtifact's reads lag its writes by
    # "usually under 1 s" (UG packages-overview): one look then mostly finds it complete.
    verify_after: float = 0.5
    # Pre-warm: ingestion takes about 3 minutes on AWS. One claim polls this long; a version
    # not ingested by then is retried with back-off (the GET repeated) until max_attempts.
    confirm_timeout: float = 60.0
    grace_seconds: float = 20.0  # after SIGINT/SIGTERM, for versions in flight
    # Versions in a row failing with the same whole-system error (an endpoint unreachable)
    # after which the run stops instead of failing everything else the same way.
    fail_fast_after: int = 5
    batch: int = 500
    stage: int | None = None
    # CodeArtifact's asset size quota (5 GB by default, adjustable per account): larger files
    # fail at once, before a download that could only be refused. None: no check.
    max_asset_bytes: int | None = 5 * 1024**3
    # Versions in flight follow Little's law (migrator.pipeline.concurrency): from
    # `concurrency` up to `max_concurrency`, sized so `rate_budget` writes/s are reached at
    # the latency the run observes. False: exactly `concurrency` (a number in the manifest).
    adaptive_concurrency: bool = _MANIFEST.concurrency_auto
    max_concurrency: int = 128
    rate_budget: float = _MANIFEST.rate_budget

    @property
    def workers(self) -> int:
        """Worker tasks to start: enough for the most versions ever in flight."""
        if not self.adaptive_concurrency:
            return self.concurrency
        return max(self.concurrency, self.max_concurrency)

    @classmethod
    def from_manifest(cls, manifest: Manifest, **overrides: Any) -> EngineOptions:
        o = manifest.options
        return cls(**{"concurrency": o.concurrency, "source_concurrency": o.source_concurrency,
                      "max_attempts": o.max_attempts, "origin_control": o.origin_control,
                      "rate_budget": o.rate_budget,
                      "adaptive_concurrency": o.concurrency_auto, **overrides})
