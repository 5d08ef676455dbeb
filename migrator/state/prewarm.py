"""What pre-warming from lockfiles reads from a state: internal package names (never
pre-warmed), the target repository of each format's proxy caches, and the files already
queued for pre-warming (so a lockfile entry the proxy cache also holds is requested once).

Lockfile items themselves go into the state through `WorkQueue.record_page`, into one
repository row per format (`lockfiles:<format>`, mode prewarm), like a crawled proxy cache:
the same status machine, claims, counts and reports apply to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from migrator.models import Format
from migrator.state.queries import Queries

__all__ = ["LOCKFILE_REPOSITORY_PREFIX", "PackageUse", "internal_packages", "lockfile_repository",
           "package_uses", "prewarm_targets", "queued_prewarm_files"]

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


@dataclass(frozen=True, slots=True)
class PackageUse:
    """One package name of one copy or pre-warm repository of the state, and how far its
    versions got (what ordering the pre-warm before the publish needs to know)."""

    repository_id: int
    mode: str  # copy | prewarm
    target: str
    format: str
    namespace: str
    package: str  # PyPI's PEP 503-normalised
    #: copy: a version was claimed or attempted, so its origin configuration may already be
    #: upstream=BLOCK in the target; prewarm: a version still waits for its request or its
    #: ingestion (not final yet)
    open: bool


def package_uses(q: Queries, repository_ids: Sequence[int] | None = None) -> list[PackageUse]:
    """Every (repository, package) of the copy and pre-warm repositories with a target, among
    `repository_ids` (default: all); excluded versions do not count."""
    rows = q.conn.execute(
        "SELECT r.id, r.mode, r.target, r.format, v.namespace, v.package, MAX(CASE "
        "WHEN r.mode = 'copy' THEN (v.status != 'discovered' OR v.attempts > 0) "
        "ELSE v.status IN ('discovered', 'claimed', 'requested', 'failed_retryable') END) "
        "FROM versions v JOIN repositories r ON r.id = v.repository_id "
        "WHERE v.status != 'excluded' AND r.mode IN ('copy', 'prewarm') "
        "AND r.target IS NOT NULL AND r.target != '' AND v.package != '' "
        "GROUP BY r.id, v.namespace, v.package ORDER BY r.id, v.namespace, v.package"
    ).fetchall()
    keep = None if repository_ids is None else set(repository_ids)
    return [PackageUse(rid, mode, target, fmt, ns or "",
                       canonicalize_name(pkg) if fmt == "pypi" else pkg, bool(is_open))
            for rid, mode, target, fmt, ns, pkg, is_open in rows
            if keep is None or rid in keep]
