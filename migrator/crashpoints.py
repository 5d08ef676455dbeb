"""Deterministic crash points for the crash tests: kill this process at a named instant.

With `MIGRATOR_TEST_CRASH_AT=<point>:<n>[:<SIGNAL>]` in the environment the process kills
itself (SIGKILL, no clean-up; or sends itself SIGNAL) the n-th time it passes the named
point. Points: `crawl` (a page recorded), `mid-download` (a body written to its spool file,
before it is checked), `download` (an asset downloaded and checked, before it is published),
`recorded` / `recorded-<format>` (an asset's publish fact committed, before the next request
of its version, e.g. between the Maven jar PUT and the metadata PUT), `verify` (CodeArtifact's
facts read, before they are recorded), `lockfiles` (one format's lockfile items recorded,
before the next format's), `requested` (a pre-warm GET answered, before it is recorded),
`sync-page` (a sync's listing page compared and its changes recorded). Without the variable
a point costs one look-up.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "MIGRATOR_TEST_CRASH_AT"
_counts: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL the n-th time `name` is reached (tests only).

    `<point>:<n>:<SIGNAL>` sends that signal instead (e.g. `recorded:3:SIGTERM`), once, so a
    test of the graceful stop gets its signal at a known point rather than at a guessed time.
    """
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    nth, _, signame = rest.partition(":")
    _counts[name] += 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.Signals[signame or "SIGKILL"])
