"""`verify`: re-check every verified asset against CodeArtifact, read-only, and report drift.

For each package version the state holds as verified (or skipped_identical), read what
CodeArtifact reports now (status, origin, every asset's size and hashes) and compare it with
the hashes recorded when the asset was verified and with the source's checksums. Nothing in
the state changes: drift is reported (exit code 1), for a person to look at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from migrator.manifest import Manifest, load_manifest
from migrator.models import HASH_ALGORITHMS, ClaimedAsset, ClaimedVersion, Format
from migrator.pipeline.support import (
    VISIBLE_STATUSES,
    TargetAccess,
    compare_asset,
    target_asset_name,
)
from migrator.state import WorkQueue
from migrator.state import status as st

__all__ = ["VerifyReport", "verify", "verify_state"]


@dataclass
class VerifyReport:
    versions: int = 0
    assets: int = 0
    drift: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.drift else 0

    def as_dict(self) -> dict[str, Any]:
        return {"versions": self.versions, "assets": self.assets, "drift": self.drift,
                "exit_code": self.exit_code}

    def render(self) -> str:
        lines = [f"verified again: {self.versions} versions, {self.assets} assets; "
                 f"{len(self.drift)} drifted"]
        for d in self.drift:
            lines.append(f"  {d['repository']}: {d['version']} {d.get('asset') or ''}: "
                         f"{d['problem']}")
        return "\n".join(lines)


def _versions(q: WorkQueue, repo_ids: list[int] | None) -> list[ClaimedVersion]:
    """Verified versions with their assets, read like a claim but without one."""
    repos = {r["id"]: r for r in q.repositories()
             if r["mode"] == "copy" and (repo_ids is None or r["id"] in repo_ids)}
    out: dict[int, ClaimedVersion] = {}
    for vid, rid, fmt, ns, pkg, ver, extra in q.conn.execute(
            "SELECT id, repository_id, format, namespace, package, version, extra FROM versions"
            " WHERE status IN ('verified', 'skipped_identical') AND repository_id IN "
            "(SELECT value FROM json_each(?)) ORDER BY id", (json.dumps(list(repos)),)):
        r = repos[rid]
        out[vid] = ClaimedVersion(
            id=vid, repository_id=rid, source_repository=r["source"],
            target_repository=r["target"], mode=r["mode"], format=Format(fmt), namespace=ns,
            package=pkg, version=ver, claimed_from=st.VERIFIED, attempts=0,
            extra=json.loads(extra) if extra else {})
    cols = ", ".join(f"{p}_{a}" for p in ("src", "dl", "tgt") for a in HASH_ALGORITHMS)
    n = len(HASH_ALGORITHMS)
    for row in q.conn.execute(
            f"SELECT id, version_id, path, filename, kind, size, status, extra, {cols} FROM "
            f"assets WHERE version_id IN (SELECT value FROM json_each(?)) AND status IN "
            f"('verified', 'skipped_identical') ORDER BY id", (json.dumps(list(out)),)):
        h = row[8:]

        def pick(i: int, h: tuple = h) -> dict[str, str]:
            return {a: v for a, v in zip(HASH_ALGORITHMS, h[i * n:(i + 1) * n], strict=True)
                    if v}

        out[row[1]].assets.append(ClaimedAsset(
            id=row[0], path=row[2], filename=row[3], kind=row[4], size=row[5], status=row[6],
            source_hashes=pick(0), downloaded_hashes=pick(1), target_hashes=pick(2),
            extra=json.loads(row[7]) if row[7] else {}))
    return list(out.values())


async def verify_state(q: WorkQueue, target: TargetAccess, repo_ids: list[int] | None = None,
                       *, concurrency: int = 8) -> VerifyReport:
    """Compare every verified version with CodeArtifact; the state is only read."""
    report = VerifyReport()
    versions = _versions(q, repo_ids)
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(v: ClaimedVersion) -> None:
        async with limiter:
            check = await target.check_version(v)
        label = f"{v.namespace + ':' if v.namespace else ''}{v.package}@{v.version}"

        def drift(problem: str, asset: str | None = None) -> None:
            report.drift.append({"repository": v.source_repository, "version": label,
                                 "asset": asset, "problem": problem})

        report.versions += 1
        if check.status not in VISIBLE_STATUSES:
            drift(f"status is {check.status or 'absent'} in CodeArtifact")
            return
        if check.origin not in (None, "INTERNAL"):
            drift(f"origin is {check.origin}, not INTERNAL")
        for a in v.assets:
            report.assets += 1
            name = target_asset_name(v, a)
            facts = check.assets.get(name)
            if facts is None:
                drift("missing in CodeArtifact", name)
                continue
            now = {k: str(facts[k]).lower() for k in HASH_ALGORITHMS if facts.get(k)}
            problem = compare_asset(a, facts, now)
            if problem is None:
                for alg, was in a.target_hashes.items():
                    if now.get(alg) and now[alg] != was:
                        problem = f"{alg}: verified {was}, CodeArtifact now {now[alg]}"
                        break
            if problem:
                drift(problem, name)

    async with anyio.create_task_group() as tg:
        for v in versions:
            tg.start_soon(one, v)
    report.drift.sort(key=lambda d: (d["repository"], d["version"], d["asset"] or ""))
    return report


def verify(manifest: Manifest | str | Path | None = None,
           state_path: str | Path | None = None, *, target: TargetAccess | None = None
           ) -> VerifyReport:
    """Re-check everything verified in the state against CodeArtifact; changes nothing.

    The manifest (for the target's settings) is `manifest`, or the one stored in the state.
    :raises StateError: no state. :raises TargetAuthError: AWS refused the credentials.
    """
    from migrator.pipeline.run import load_manifest_text

    m: Manifest | None = None
    if isinstance(manifest, Manifest):
        m = manifest
    elif manifest is not None:
        m = load_manifest(manifest)
    path = Path(state_path) if state_path else (m.state_path if m else None)
    if path is None:
        from migrator.errors import ConfigError

        raise ConfigError("verify needs MANIFEST or --state PATH")
    with WorkQueue.open(path, create=False) as q:
        if m is None:
            text = q.get_meta("manifest")
            if not text:
                from migrator.errors import StateError

                raise StateError(f"{path} holds no manifest", hint="pass MANIFEST")
            m = load_manifest_text(text, q.get_meta("manifest_path") or "state:manifest")

        async def go() -> VerifyReport:
            from migrator.target.access import CodeArtifactTarget

            t = target or CodeArtifactTarget.from_manifest(m)
            try:
                return await verify_state(q, t)
            finally:
                if target is None:
                    await t.aclose()

        return anyio.run(go)
