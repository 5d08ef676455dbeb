"""Preflight: before anything is crawled or written, check that the run can succeed.

    preflight(manifest, *, stage=None, checks=CHECKS) -> PreflightReport      (async)
    run_preflight(manifest, *, stage=None, checks=CHECKS) -> PreflightReport  (`migrator doctor`)
    ensure_ready(manifest, *, stage=None, checks=CHECKS) -> PreflightReport   (before plan/run)

Checks, each one line (ok / warning / failure) that names the system, the object and the fix:

- source: the credentials' environment variables are set, the server answers, it accepts the
  credentials, every mapped repository (mode != skip, within `stage`) exists with the
  expected format and is not a group, and whether the crawl identity can be seen to read each
  one fully (`Crawler.probe`, in the source's own module);
- target: AWS credentials found (which part of botocore's chain), the domain exists for the
  owner in the region, every mapped target repository exists, a token can be obtained, and
  the native endpoint of each format a repository needs resolves; pre-warmed repositories
  reach an external connection of their format (`CodeArtifactClient.probe_access` and
  `probe_endpoints`).

Every probe uses short timeouts and `migrator.retry.PREFLIGHT`: a refused connection or a name
that does not resolve is an answer at the first attempt, so the whole preflight takes seconds
even when an endpoint is down; a 5xx or 429 on the way is tried again a few times. The source
and the account are checked at the same time. A failure does not stop the other system's
checks: the report lists every problem at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from migrator.errors import MigratorError, PreflightFailed, describe
from migrator.manifest import (
    Manifest,
    RepositoryMapping,
    SourceSettings,
    parse_stage,
    stage_label,
)
from migrator.models import Check, CheckStatus, Format, RepoType, SourceRepository
from migrator.sources import Crawler, SourceProbe, crawler_class, make_probe_crawler
from migrator.target.codeartifact import CodeArtifactClient

__all__ = ["CHECKS", "CRAWL_CAVEATS", "PreflightReport", "ensure_ready", "ensure_ready_async",
           "preflight", "run_preflight", "selected_mappings"]

logger = logging.getLogger(__name__)

#: The groups of checks; `checks=("source",)` checks only the source.
CHECKS = ("source", "target")
#: Kinds of warning (a check's subject less its last word) that concern what a crawl can see
#: (Nexus and Artifactory: may the crawl user read every file of a repository?).
CRAWL_CAVEATS = frozenset({"read access"})
#: Seconds one probe may take (connect, read, DNS).
PROBE_SECONDS = 5.0
#: Seconds after which a whole side of the preflight gives up (a guard: the probes' own
#: timeouts end it long before).
DEADLINE_SECONDS = 60.0

CrawlerFactory = Callable[[SourceSettings], Crawler]
TargetFactory = Callable[[Manifest], CodeArtifactClient]

_MARKS = {CheckStatus.OK: "ok  ", CheckStatus.WARNING: "warn", CheckStatus.FAILURE: "FAIL"}


@dataclass(slots=True)
class PreflightReport:
    """Every check line, in order: the source's, then the target's."""

    manifest: str
    stage: int | str | None
    checks: list[Check] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.FAILURE]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.WARNING]

    @property
    def ok(self) -> bool:
        """No failures (warnings allowed)."""
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 2 otherwise (configuration, credentials, unreachable)."""
        return 0 if self.ok else PreflightFailed.exit_code

    def raise_for_failures(self) -> None:
        """:raises PreflightFailed: carrying every failure line (and the warnings)."""
        if self.failures:
            raise PreflightFailed([c.message for c in self.failures],
                                  warnings=[c.message for c in self.warnings])

    def render(self) -> str:
        """The checklist: a heading, then one `ok` / `warn` / `FAIL` line per check."""
        scope = f" (stage {self.stage})" if self.stage is not None else ""
        counts = {s: sum(1 for c in self.checks if c.status is s) for s in CheckStatus}
        n_warn, n_fail = counts[CheckStatus.WARNING], counts[CheckStatus.FAILURE]
        head = (f"preflight of {self.manifest}{scope}: {counts[CheckStatus.OK]} ok, "
                f"{n_warn} warning{'' if n_warn == 1 else 's'}, "
                f"{n_fail} failure{'' if n_fail == 1 else 's'} ({self.elapsed:.1f} s)")
        return "\n".join([head, *(f"  {_MARKS[c.status]}  {c.message}" for c in self.checks)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest, "stage": self.stage, "ok": self.ok,
            "exit_code": self.exit_code, "elapsed_seconds": round(self.elapsed, 2),
            "checks": [{"system": c.system, "subject": c.subject, "status": str(c.status),
                        "message": c.message} for c in self.checks],
        }


def selected_mappings(manifest: Manifest, stage: int | str | None = None
                      ) -> list[RepositoryMapping]:
    """The mappings a command works on: mode != skip, and of the wave `stage` when given."""
    return [m for m in manifest.repositories
            if m.mode != "skip" and (stage is None or m.stage == parse_stage(stage))]


async def preflight(
    manifest: Manifest,
    *,
    stage: int | str | None = None,
    checks: Collection[str] = CHECKS,
    crawler_factory: CrawlerFactory | None = None,
    target_factory: TargetFactory | None = None,
    deadline: float = DEADLINE_SECONDS,
) -> PreflightReport:
    """Run the checks and return every line; never raises for what it finds.

    `crawler_factory(manifest.source)` and `target_factory(manifest)` build the clients
    (tests inject in-process ones); by default one-attempt, short-timeout clients
    (`make_probe_crawler`, `CodeArtifactClient.for_preflight`).
    """
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown preflight checks {sorted(unknown)}; expected {CHECKS}")
    started = time.monotonic()
    report = PreflightReport(manifest=str(manifest.path), stage=stage)
    selected = selected_mappings(manifest, stage)
    if not selected:
        scope = (f" at stage {stage} (its stages: "
                 f"{stage_label(r.stage for r in manifest.repositories)})"
                 if stage is not None else "")
        report.checks.append(Check.failure(
            "manifest", "repositories",
            f"{manifest.path}: no [[repositories]] with mode copy or prewarm{scope}: nothing "
            f"to check or migrate; add a mapping, or pass another --stage"))
        report.elapsed = time.monotonic() - started
        return report
    source = SourceProbe()
    target: list[Check] = []
    client: CodeArtifactClient | None = None

    async def check_source() -> None:
        nonlocal source
        source = await _bounded(
            _check_source(manifest, selected, crawler_factory or make_probe_crawler),
            deadline, _system_of(manifest.source), "source")

    async def check_account() -> None:
        nonlocal client
        client, checks_ = await _bounded(
            _check_account(manifest, selected, target_factory or _preflight_client),
            deadline, "CodeArtifact", "target")
        target.extend(checks_)

    try:
        async with anyio.create_task_group() as tg:
            if "source" in checks:
                tg.start_soon(check_source)
            if "target" in checks:
                tg.start_soon(check_account)
        if client is not None and not _blocked(target):
            target.extend(await _bounded(
                _check_endpoints(client, selected, target, source.repositories),
                deadline, "CodeArtifact", "endpoints"))
    finally:
        if client is not None:
            await client.aclose()
    report.checks = [*source.checks, *target]
    report.elapsed = time.monotonic() - started
    return report


def run_preflight(manifest: Manifest, *, stage: int | str | None = None,
                  checks: Collection[str] = CHECKS, **kwargs: Any) -> PreflightReport:
    """`migrator doctor`: run the checks and return the report (print `render()`, exit with
    `exit_code`); raises nothing for what it finds."""
    return anyio.run(lambda: preflight(manifest, stage=stage, checks=checks, **kwargs))


def ensure_ready(manifest: Manifest, *, stage: int | str | None = None,
                 checks: Collection[str] = CHECKS, **kwargs: Any) -> PreflightReport:
    """Before plan/run/resume: run the checks, log the warnings, and stop on failures.

    :raises PreflightFailed: (exit code 2) carrying every failure line.
    """
    return anyio.run(lambda: ensure_ready_async(manifest, stage=stage, checks=checks,
                                                **kwargs))


async def ensure_ready_async(manifest: Manifest, *, stage: int | str | None = None,
                             checks: Collection[str] = CHECKS, crawling: bool = True,
                             **kwargs: Any) -> PreflightReport:
    """`ensure_ready` inside a running event loop. `crawling=False`: the command does not
    crawl (the state holds a finished crawl), so the caveats about what a crawl can see
    (`CRAWL_CAVEATS`) are logged at info level, not as warnings on every scheduled run.

    :raises PreflightFailed: (exit code 2) carrying every failure line.
    """
    report = await preflight(manifest, stage=stage, checks=checks, **kwargs)
    # One line per kind of warning (the same caveat for eight repositories is one line);
    # `migrator doctor` prints every one.
    kinds: dict[tuple[str, str], list[Check]] = {}
    for check in report.warnings:
        kinds.setdefault((check.system, check.subject.rsplit(" ", 1)[0]), []).append(check)
    for (_, kind), same in kinds.items():
        more = (f" (the same for {len(same) - 1} more: "
                f"{', '.join(c.subject.rsplit(' ', 1)[-1] for c in same[1:])}; "
                f"`migrator doctor` lists each)") if len(same) > 1 else ""
        if kind in CRAWL_CAVEATS and not crawling:
            logger.info("preflight (this run does not crawl): %s%s", same[0].message, more)
        else:
            logger.warning("preflight: %s%s", same[0].message, more)
    report.raise_for_failures()
    logger.info("preflight: %d checks passed in %.1f s", len(report.checks), report.elapsed)
    return report


# -- the two sides ---------------------------------------------------------------------------


def _system_of(source: SourceSettings) -> str:
    try:
        return str(crawler_class(source.kind).system)
    except ValueError:
        return source.kind


def _credentials_text(source: SourceSettings) -> str:
    if source.token_env:
        return f"{source.token_env}"
    if source.username_env:
        return f"{source.username_env}/{source.password_env}"
    return "no credentials (anonymous)"


async def _check_source(manifest: Manifest, selected: Sequence[RepositoryMapping],
                        factory: CrawlerFactory) -> SourceProbe:
    settings, system = manifest.source, _system_of(manifest.source)
    missing = manifest.missing_env()
    if missing:
        names = ", ".join(missing)
        return SourceProbe(checks=[Check.failure(
            system, "credentials",
            f"{system} credentials: environment variable{'s' if len(missing) > 1 else ''} "
            f"{names} not set; export {missing[0]}=... before running ([source] names the "
            f"variables; their values never go in the manifest)")])
    crawler = factory(settings)
    try:
        probe = await crawler.probe(selected, credentials=_credentials_text(settings))
    except MigratorError as exc:  # a probe reports what it finds; this is a safety net
        probe = SourceProbe(checks=[Check.failure(system, "source", describe(exc))])
    finally:
        await crawler.aclose()
    if not settings.env_names():
        probe.checks.insert(0, Check.warning(
            system, "credentials",
            f"{system}: [source] names no credentials, so the crawl sees only what anonymous "
            f"users may read; set username_env/password_env (or token_env)"))
    return probe


def _preflight_client(manifest: Manifest) -> CodeArtifactClient:
    return CodeArtifactClient.for_preflight(manifest, timeout=PROBE_SECONDS)


async def _check_account(manifest: Manifest, selected: Sequence[RepositoryMapping],
                         factory: TargetFactory
                         ) -> tuple[CodeArtifactClient | None, list[Check]]:
    try:
        client = factory(manifest)
    except MigratorError as exc:
        return None, [Check.failure("AWS", "credentials", _one_line(exc))]
    try:
        checks = await client.probe_access(m.target for m in selected if m.target)
    except MigratorError as exc:
        checks = [Check.failure("CodeArtifact", "target", _one_line(exc))]
    return client, checks


def _blocked(target: list[Check]) -> bool:
    """A failure beyond one missing repository (credentials, domain, token, unreachable)."""
    return any(c.status is CheckStatus.FAILURE and not c.subject.startswith("repository ")
               for c in target)


async def _check_endpoints(client: CodeArtifactClient, selected: Sequence[RepositoryMapping],
                           target: list[Check], found: dict[str, SourceRepository]
                           ) -> list[Check]:
    """Endpoints of the formats each existing target repository receives (generic copies use
    PublishPackageVersion, no endpoint); upstream chains of pre-warmed ones."""
    missing = {c.subject.removeprefix("repository ") for c in target
               if c.status is CheckStatus.FAILURE}
    needs: dict[str, set[Format]] = {}
    prewarm: dict[str, set[Format]] = {}
    for mapping in selected:
        repo = found.get(mapping.source)
        fmt = mapping.format or (repo.format if repo else None)
        if fmt is None or not mapping.target or mapping.target in missing:
            continue  # the format is unknown until the source answers
        if repo is not None and repo.type is RepoType.GROUP:
            continue  # plan skips groups
        mode = "prewarm" if repo is not None and repo.type is RepoType.PROXY else mapping.mode
        if fmt is not Format.GENERIC or mode == "prewarm":
            needs.setdefault(mapping.target, set()).add(fmt)
        if mode == "prewarm":
            prewarm.setdefault(mapping.target, set()).add(fmt)
    try:
        return await client.probe_endpoints(needs, prewarm=prewarm)
    except MigratorError as exc:
        return [Check.failure("CodeArtifact", "endpoints", _one_line(exc))]


async def _bounded(coro: Any, seconds: float, system: str, what: str) -> Any:
    """Await `coro`; after `seconds` give up with one failure line instead."""
    with anyio.move_on_after(seconds) as scope:
        return await coro
    assert scope.cancelled_caught
    line = Check.failure(system, what, f"{system}: the {what} checks did not finish within "
                         f"{seconds:g} s; check the network path to it")
    if what == "source":
        return SourceProbe(checks=[line])
    if what == "target":
        return None, [line]
    return [line]


def _one_line(exc: MigratorError) -> str:
    return exc.message + (f"; {exc.hint}" if exc.hint else "")
