"""`verify`: re-check every verified asset against CodeArtifact, read-only, and report drift.

For each package version the state holds as verified (or skipped_identical), read what
CodeArtifact reports now (status, origin, every asset's size and hashes) and judge it with the
one verification rule (`migrator.verification`), including the hashes recorded when the asset
was verified. Nothing in the state changes: drift is reported (exit code 1), for a person to
look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from migrator.certificate import read_certificate
from migrator.errors import ConfigError
from migrator.manifest import Manifest, Options, load_manifest
from migrator.models import ClaimedAsset, ClaimedVersion, Format
from migrator.pipeline.plan import stored_manifest
from migrator.state import WorkQueue
from migrator.target.access import TargetAccess
from migrator.verification import VISIBLE_STATUSES, verify_version

__all__ = ["VerifyReport", "certificate_versions", "verify", "verify_certificate",
           "verify_certificate_entries", "verify_state"]


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


async def verify_state(q: WorkQueue, target: TargetAccess, repo_ids: list[int] | None = None,
                       *, concurrency: int = Options.concurrency) -> VerifyReport:
    """Compare every verified version with CodeArtifact; the state is only read."""
    report = VerifyReport()
    versions = q.verified_versions(repo_ids)
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(v: ClaimedVersion) -> None:
        async with limiter:
            check = await target.check_version(v)
        label = f"{v.namespace + ':' if v.namespace else ''}{v.package}@{v.version}"
        verdict = verify_version(v, check, v.assets, recorded=True)
        report.versions += 1
        for problem in verdict.version_problems:
            report.drift.append({"repository": v.source_repository, "version": label,
                                 "asset": None, "problem": problem})
        if check.status not in VISIBLE_STATUSES:
            return
        report.assets += len(v.assets)
        for asset_id, problem in verdict.asset_problems.items():
            report.drift.append({"repository": v.source_repository, "version": label,
                                 "asset": verdict.names[asset_id], "problem": problem})

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
    m: Manifest | None = None
    if isinstance(manifest, Manifest):
        m = manifest
    elif manifest is not None:
        m = load_manifest(manifest)
    path = Path(state_path) if state_path else (m.state_path if m else None)
    if path is None:
        raise ConfigError("verify needs MANIFEST or --state PATH")
    with WorkQueue.open(path, create=False) as q:
        if m is None:
            m = stored_manifest(q)
        chosen = m

        async def go() -> VerifyReport:
            from migrator.target.access import CodeArtifactTarget

            t = target or CodeArtifactTarget.from_manifest(chosen)
            try:
                return await verify_state(q, t, concurrency=chosen.options.concurrency)
            finally:
                if target is None:
                    await t.aclose()

        return anyio.run(go)


# -- the completeness certificate, re-checked --------------------------------------------------

def certificate_versions(entries: list[dict[str, Any]]) -> list[ClaimedVersion]:
    """The certificate's entries grouped into package versions, shaped like a claim (as
    `WorkQueue.verified_versions` shapes the state's), with the recorded hashes."""
    out: dict[tuple, ClaimedVersion] = {}
    for n, e in enumerate(entries, 1):
        key = (e["repository"], e["target_repository"], e["format"], e["namespace"],
               e["package"], e["version"], e["origin"])
        v = out.get(key)
        if v is None:
            v = out[key] = ClaimedVersion(
                id=len(out) + 1, repository_id=0, source_repository=e["repository"],
                target_repository=e["target_repository"],
                mode="prewarm" if e["origin"] == "EXTERNAL" else "copy",
                format=Format(e["format"]), namespace=e["namespace"], package=e["package"],
                version=e["version"], claimed_from="certificate", attempts=0,
                extra=dict(e["version_extra"] or {}))
        v.assets.append(ClaimedAsset(
            id=n, path=e["path"], filename=e["filename"], kind=e["kind"], size=e["size"],
            status=e["status"], source_hashes=dict(e["source_hashes"] or {}),
            downloaded_hashes=dict(e["downloaded_hashes"] or {}),
            target_hashes=dict(e["target_hashes"] or {}), extra=dict(e["extra"] or {})))
    return list(out.values())


async def verify_certificate_entries(entries: list[dict[str, Any]], target: TargetAccess, *,
                                     concurrency: int = Options.concurrency) -> VerifyReport:
    """Every asset of the certificate still in CodeArtifact with the recorded hashes (the
    one verification rule, `recorded=True`; pre-warmed versions must be EXTERNAL)."""
    report = VerifyReport()
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(v: ClaimedVersion) -> None:
        async with limiter:
            check = await target.check_version(v)
        label = f"{v.namespace + ':' if v.namespace else ''}{v.package}@{v.version}"
        origin = "EXTERNAL" if v.mode == "prewarm" else "INTERNAL"
        verdict = verify_version(v, check, v.assets, recorded=True, origin=origin)
        report.versions += 1
        report.assets += len(v.assets)
        for problem in verdict.version_problems:
            report.drift.append({"repository": v.source_repository, "version": label,
                                 "asset": None, "problem": problem})
        for asset_id, problem in verdict.asset_problems.items():
            report.drift.append({"repository": v.source_repository, "version": label,
                                 "asset": verdict.names[asset_id], "problem": problem})

    async with anyio.create_task_group() as tg:
        for v in certificate_versions(entries):
            tg.start_soon(one, v)
    report.drift.sort(key=lambda d: (d["repository"], d["version"], d["asset"] or ""))
    return report


def verify_certificate(manifest: Manifest | str | Path, certificate: str | Path, *,
                       target: TargetAccess | None = None) -> VerifyReport:
    """`migrator verify MANIFEST --certificate FILE`: check the certificate's own digest,
    then every asset it lists against CodeArtifact, read-only (no state is needed).

    :raises CertificateInvalid: (exit 2) the file was edited, cut short or is not one.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    cert = read_certificate(certificate)

    async def go() -> VerifyReport:
        from migrator.target.access import CodeArtifactTarget

        t = target or CodeArtifactTarget.from_manifest(m)
        try:
            return await verify_certificate_entries(cert.entries, t,
                                                    concurrency=m.options.concurrency)
        finally:
            if target is None:
                await t.aclose()

    return anyio.run(go)
