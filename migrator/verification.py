"""The one verification rule: when is a package version in CodeArtifact what the source holds?

A version is **verified** when CodeArtifact reports it with a visible status (Published, or
Unlisted: an older Maven SNAPSHOT build once a newer one exists), origin INTERNAL (it came from
this migration, not from an upstream), and every expected asset listed under the name
CodeArtifact gives it with

- the size the source listed (when it listed one),
- a SHA-256 (CodeArtifact always computes one: its absence means the listing is incomplete),
- every hash CodeArtifact reports equal to the hash of the bytes we downloaded and to the
  checksum the source reported for that algorithm (when either is known),
- and, for a re-check of a version verified earlier (`recorded=True`, `migrator verify`),
  equal to the hashes recorded when it was verified (drift behind the tool's back).

The run (`migrator.pipeline.engine`), `migrator verify` and the contract tests all call
`verify_version`; 409 resolution compares a spool file with the target through
`compare_hashes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.models import (
    HASH_ALGORITHMS,
    ClaimedAsset,
    ClaimedVersion,
    Format,
    SpooledFile,
    VersionCheck,
)

__all__ = [
    "MAVEN_METADATA",
    "NPM_ASSET",
    "ON_TARGET",
    "VISIBLE_STATUSES",
    "Verdict",
    "asset_name",
    "asset_problem",
    "compare_hashes",
    "expected_assets",
    "normal_hashes",
    "verify_version",
]

#: Target statuses a verified version may have (Unlisted: an older Maven SNAPSHOT build).
VISIBLE_STATUSES = ("Published", "Unlisted")
#: Asset statuses whose bytes are in the target (and so are checked).
ON_TARGET = ("published", "skipped_identical", "verified")
NPM_ASSET = "package.tgz"
MAVEN_METADATA = "maven-metadata.xml"

_ALIASES = {"sha-1": "sha1", "sha-256": "sha256", "sha-512": "sha512"}


def asset_name(version: ClaimedVersion, asset: ClaimedAsset) -> str:
    """The name CodeArtifact gives this asset: `package.tgz` for every npm version, the
    generic asset name, else the file name."""
    if version.format is Format.NPM:
        return NPM_ASSET
    if version.format is Format.GENERIC:
        return str(asset.extra.get("asset") or asset.filename)
    return asset.filename


def normal_hashes(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """`{"SHA-256": "AB.."}`, `{"sha256": ...}` or `{"sha-256": ...}` → `{"sha256": "ab.."}`:
    only the four algorithms, lowercase hex; anything else (size, unknown names) dropped."""
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        name = _ALIASES.get(str(key).lower(), str(key).lower())
        if name in HASH_ALGORITHMS and value:
            out[name] = str(value).lower()
    return out


def compare_hashes(ours: Mapping[str, Any], theirs: Mapping[str, Any]
                   ) -> tuple[bool | None, str]:
    """(True, "") when every algorithm both sides know agrees (and the size, when both give
    one); (False, reason) on the first difference; (None, reason) when nothing is comparable."""
    a, b = normal_hashes(ours), normal_hashes(theirs)
    common = [alg for alg in ("sha256", "sha512", "sha1", "md5") if alg in a and alg in b]
    for alg in common:
        if a[alg] != b[alg]:
            shown = "sha256" if "sha256" in common else alg  # the reason names sha256 first
            return False, f"ours {shown}={a[shown]}, target {shown}={b[shown]}"
    if ours.get("size") is not None and theirs.get("size") is not None \
            and int(ours["size"]) != int(theirs["size"]):
        return False, f"ours size={ours['size']}, target size={theirs['size']}"
    if not common:
        return None, "no hash algorithm in common with the target"
    return True, ""


def asset_problem(asset: ClaimedAsset, facts: Mapping[str, Any], *,
                  recorded: bool = False) -> str | None:
    """Why CodeArtifact's `facts` about one asset differ from what we know of it, or None."""
    size = facts.get("size")
    if asset.size is not None and size is not None and int(size) != asset.size:
        return f"size: source {asset.size}, CodeArtifact {size}"
    target = normal_hashes(facts)
    if "sha256" not in target:
        return "CodeArtifact reported no SHA-256"
    for alg, theirs in target.items():
        known = [("downloaded", asset.downloaded_hashes.get(alg)),
                 ("source", asset.source_hashes.get(alg))]
        if recorded:
            known.append(("verified", asset.target_hashes.get(alg)))
        for label, ours in known:
            if ours and ours.lower() != theirs:
                return f"{alg}: {label} {ours.lower()}, CodeArtifact {theirs}"
    return None


def expected_assets(version: ClaimedVersion) -> list[ClaimedAsset]:
    """The assets of `version` whose bytes should be in the target."""
    return [a for a in version.assets if a.status in ON_TARGET]


@dataclass
class Verdict:
    """The outcome of `verify_version`.

    `complete`: CodeArtifact shows the version with a visible status and lists every expected
    asset (until then, eventual consistency may still be at work: poll again). `problems`:
    version-level ones (status, origin) under None, per-asset ones under the asset's id.
    `target_hashes`: what CodeArtifact reports for each asset it lists, to record.
    """

    complete: bool
    version_problems: list[str] = field(default_factory=list)
    asset_problems: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    target_hashes: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.complete and not self.version_problems and not self.asset_problems

    def messages(self) -> list[str]:
        """Every problem as one line (`<asset name>: <problem>` for assets)."""
        return [*self.version_problems,
                *(f"{self.names[i]}: {p}" for i, p in self.asset_problems.items())]


def verify_version(version: ClaimedVersion, check: VersionCheck,
                   assets: Sequence[ClaimedAsset] | None = None, *,
                   files: Iterable[SpooledFile] = (), recorded: bool = False,
                   origin: str = "INTERNAL") -> Verdict:
    """Judge `check` (what CodeArtifact reports now) against `assets` (default:
    `expected_assets(version)`). `files` supplies the hashes of bytes just downloaded, for
    assets whose downloaded hashes are not recorded yet. `origin` is the origin the version
    must have: INTERNAL (migrated), or EXTERNAL for the re-check of a pre-warmed version
    (`verify --certificate`)."""
    chosen = expected_assets(version) if assets is None else list(assets)
    spooled = {f.asset.id: f for f in files}
    verdict = Verdict(complete=check.status in VISIBLE_STATUSES)
    if check.status is None:
        verdict.version_problems.append(
            f"{version.package} {version.version} is not in CodeArtifact")
        return verdict
    if check.status not in VISIBLE_STATUSES:
        verdict.version_problems.append(
            f"status is {check.status}, expected {' or '.join(VISIBLE_STATUSES)}")
    if check.origin not in (None, origin):
        verdict.version_problems.append(
            f"origin is {check.origin}, not INTERNAL: the version came from an upstream, not "
            "from this migration" if origin == "INTERNAL" else
            f"origin is {check.origin}, not {origin}")
    for a in chosen:
        name = asset_name(version, a)
        verdict.names[a.id] = name
        facts = check.assets.get(name)
        if facts is None:
            verdict.complete = False
            verdict.asset_problems[a.id] = "missing in CodeArtifact"
            continue
        verdict.target_hashes[a.id] = normal_hashes(facts)
        f = spooled.get(a.id)
        if f is not None and not a.downloaded_hashes:
            a = _with_downloaded(a, f)
        problem = asset_problem(a, facts, recorded=recorded)
        if problem:
            verdict.asset_problems[a.id] = problem
    return verdict


def _with_downloaded(a: ClaimedAsset, f: SpooledFile) -> ClaimedAsset:
    return ClaimedAsset(id=a.id, path=a.path, filename=a.filename, kind=a.kind,
                        size=a.size if a.size is not None else f.size, status=a.status,
                        source_hashes=a.source_hashes, downloaded_hashes=dict(f.hashes),
                        target_hashes=a.target_hashes, extra=a.extra)
