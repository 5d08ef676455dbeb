"""What pre-warming from lockfiles reads from a state: internal package names (never
pre-warmed), the target repository of each format's proxy caches, and the files already
queued for pre-warming (so a lockfile entry the proxy cache also holds is requested once).

Lockfile items themselves go into the state through `WorkQueue.record_page`, into one
repository row per format (`lockfiles:<format>`, mode prewarm), like a crawled proxy cache:
the same status machine, claims, counts and reports apply to them.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from migrator.models import Format
from migrator.state.queries import Queries

__all__ = ["LOCKFILE_REPOSITORY_PREFIX", "internal_packages", "lockfile_repository",
           "prewarm_targets", "queued_prewarm_files"]

LOCKFILE_REPOSITORY_PREFIX = "lockfiles:"


def lockfile_repository(fmt: Format | str) -> str:
    """The state's repository row that holds the lockfile items of one format."""
    return f"{LOCKFILE_REPOSITORY_PREFIX}{fmt}"


def internal_packages(q: Queries) -> dict[tuple[str, str, str], str]:
    """(format, namespace, package) → source repository, for every package of a copy-mode
    repository: the organisation's own names (PyPI's normalised)."""
    rows = q.conn.execute(
        "SELECT DISTINCT r.format, v.namespace, v.package, r.source FROM versions v JOIN "
        "repositories r ON r.id = v.repository_id WHERE r.mode = 'copy' AND v.package != ''"
        " ORDER BY r.id").fetchall()
    out: dict[tuple[str, str, str], str] = {}
    for fmt, ns, pkg, source in rows:
        # PyPI names compare PEP 503-normalised (`Typing_Extensions` is typing-extensions)
        out.setdefault((fmt, ns, canonicalize_name(pkg) if fmt == "pypi" else pkg), source)
    return out


def prewarm_targets(q: Queries) -> dict[str, str]:
    """format → target repository of the first pre-warmed proxy cache of that format."""
    out: dict[str, str] = {}
    for r in q.repositories():
        if r["mode"] == "prewarm" and r["target"] and not str(r["source"]).startswith(
                LOCKFILE_REPOSITORY_PREFIX):
            out.setdefault(r["format"], r["target"])
    return out


def queued_prewarm_files(q: Queries, target: str, fmt: Format | str) -> set[str]:
    """Paths of the files proxy caches already queue for pre-warming into `target`."""
    rows = q.conn.execute(
        "SELECT a.path FROM assets a JOIN repositories r ON r.id = a.repository_id WHERE "
        "r.mode = 'prewarm' AND r.target = ? AND r.format = ? AND r.source NOT LIKE ?",
        (target, str(fmt), LOCKFILE_REPOSITORY_PREFIX + "%")).fetchall()
    return {row[0] for row in rows}
