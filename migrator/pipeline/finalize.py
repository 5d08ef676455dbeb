"""Finalize: what a package needs once all its versions are settled (npm dist-tags and
deprecations today)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from migrator.errors import FATAL_ERRORS
from migrator.state import WorkQueue
from migrator.target.access import TargetAccess

__all__ = ["finalize_npm"]

logger = logging.getLogger(__name__)


async def finalize_npm(q: WorkQueue, target: TargetAccess, repository_ids: Sequence[int]
                       ) -> dict[str, Any]:
    """Restore dist-tags and deprecations once per npm package whose versions are all done.

    A package is done again (and restored again) only when its set of finished versions
    changed since the last restore (a fingerprint recorded in the state's meta).
    """
    out: dict[str, Any] = {}
    for pkg in q.settled_npm_packages(repository_ids):
        fingerprint = hashlib.sha256(",".join(pkg.versions).encode()).hexdigest()
        key = f"finalize.npm.{pkg.repository_id}.{pkg.name}"
        if q.get_meta(key) == fingerprint:
            continue
        try:
            done = await target.restore_npm(pkg.target, pkg.source, pkg.name)
        except FATAL_ERRORS:
            raise
        except Exception as exc:  # a tag is not worth failing the run: report it
            logger.warning("%s: dist-tags of %s not restored: %s", pkg.source, pkg.name, exc)
            out[f"{pkg.source}/{pkg.name}"] = {"error": str(exc)}
            continue
        q.set_meta(key, fingerprint)
        out[f"{pkg.source}/{pkg.name}"] = dict(done)
    return out
