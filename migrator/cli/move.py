"""The commands that move packages: validate, doctor, plan, run, prewarm, resume, sync,
retry. Each parses, calls one library function, prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migrator.cli.common import (
    JsonOpt,
    ManifestArg,
    OptionalManifest,
    RateShareOpt,
    RunStateOpt,
    ShardOpt,
    ShardsOpt,
    StageOpt,
    StateOpt,
    _shard,
    _show,
    _state_file,
    app,
)
from migrator.manifest import load_manifest


@app.command()
def validate(manifest: ManifestArg) -> None:
    """Check a manifest and the environment variables it names; no network.

    Example: migrator validate sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.statefile import locate_state

    m = load_manifest(manifest)
    m.require_credentials()
    loc = locate_state(m, None)  # options.state_url when set: where the state really is
    print(f"{manifest}: ok ({m.source.kind} {m.source.url} -> CodeArtifact domain "
          f"{m.target.domain} in {m.target.region}; {len(m.repositories)} repositories; "
          f"state {loc}; spool {m.spool_path(loc.local)})")


@app.command()
def doctor(manifest: ManifestArg, stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """Check both systems before a run, online: the source and its credentials, every mapped
    repository, the AWS credentials, domain, repositories, token and endpoints; one line per
    problem with its fix. Changes nothing.

    Example: migrator doctor sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.preflight import run_preflight

    m = load_manifest(manifest)
    m.require_credentials()
    report = run_preflight(m, stage=stage)
    _show(report, as_json)
    raise typer.Exit(report.exit_code)



@app.command()
def plan(manifest: ManifestArg, state: RunStateOpt = None, as_json: JsonOpt = False,
         stage: StageOpt = None, shard: ShardOpt = None, shards: ShardsOpt = None,
         rate_share: RateShareOpt = None) -> None:
    """Crawl the source into the state and print what a run would do; writes nothing to the
    target (the dry run).

    Example: migrator plan sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.manifest import parse_stage
    from migrator.pipeline.plan import plan_manifest

    summary = plan_manifest(load_manifest(manifest), state, shard=_shard(shard, shards),
                            rate_share=rate_share, stage=parse_stage(stage))
    _show(summary, as_json)
    raise typer.Exit(summary.exit_code)


OnlyFailedOpt = Annotated[Path | None, typer.Option(
    "--only-failed", metavar="FILE.csv",
    help="Send back to the queue exactly the versions of this CSV's rows (`migrator report "
    "--format csv`, also of `report --merge`: with --shard, rows of other shards are "
    "skipped and counted) and run.")]


@app.command()
def run(ctx: typer.Context, manifest: ManifestArg, state: RunStateOpt = None,
        stage: StageOpt = None, as_json: JsonOpt = False,
        only_failed: OnlyFailedOpt = None, shard: ShardOpt = None, shards: ShardsOpt = None,
        rate_share: RateShareOpt = None) -> None:
    """Plan (if the state has no finished crawl), publish, verify and finalize; safe to
    repeat: what is done stays done.

    Example: migrator run sample-manifests/nexus-to-codeartifact.toml --stage 1
    """
    from migrator.pipeline.run import run as run_migration
    from migrator.pipeline.run import run_only_failed

    if only_failed is not None:
        summary = run_only_failed(load_manifest(manifest), only_failed, state, stage=stage,
                                  progress=ctx.obj["progress"], shard=_shard(shard, shards),
                                  rate_share=rate_share)
    else:
        summary = run_migration(load_manifest(manifest), state, stage=stage,
                                progress=ctx.obj["progress"], shard=_shard(shard, shards),
                                rate_share=rate_share)
    _show(summary, as_json)
    raise typer.Exit(summary.exit_code)


# -- prewarm ----------------------------------------------------------------------------------

@app.command()
def prewarm(ctx: typer.Context, manifest: ManifestArg,
            lockfiles: Annotated[list[Path] | None, typer.Argument(
                help="Lockfiles whose public packages to pre-warm (package-lock.json, "
                "npm-shrinkwrap.json, pnpm-lock.yaml, yarn.lock, requirements*.txt, "
                "poetry.lock, uv.lock, pylock*.toml, gradle.lockfile, or the output of "
                "`mvn dependency:list -DoutputFile=FILE`), besides [prewarm] lockfiles.",
                metavar="[LOCKFILE...]", show_default=False)] = None,
            state: StateOpt = None,
            dry_run: Annotated[bool, typer.Option(
                "--dry-run", help="Count what would be requested (and the read requests it "
                "takes); record and request nothing.")] = False,
            as_json: JsonOpt = False) -> None:
    """Request the public packages of the proxy caches and of lockfiles through the target
    repositories' upstreams, and confirm each is in CodeArtifact with origin EXTERNAL.

    Example: migrator prewarm sample-manifests/nexus-to-codeartifact.toml api/poetry.lock
    """
    from migrator.pipeline.prewarm import prewarm as prewarm_packages

    summary = prewarm_packages(load_manifest(manifest), lockfiles or [], state,
                               dry_run=dry_run, progress=ctx.obj["progress"])
    _show(summary, as_json)
    raise typer.Exit(summary.exit_code)


@app.command()
def resume(ctx: typer.Context, manifest: OptionalManifest = None, state: RunStateOpt = None,
           stage: StageOpt = None, as_json: JsonOpt = False, shard: ShardOpt = None,
           shards: ShardsOpt = None, rate_share: RateShareOpt = None) -> None:
    """Continue an interrupted run; same end as an uninterrupted run. With MANIFEST, a changed
    manifest (a fixed domain, variable name or mapping) is applied; with only --state, the copy
    stored in the state is used.

    Example: migrator resume sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.run import resume as resume_migration

    m = load_manifest(manifest) if manifest is not None else None
    summary = resume_migration(state, m, stage=stage, progress=ctx.obj["progress"],
                               shard=_shard(shard, shards), rate_share=rate_share)
    _show(summary, as_json)
    raise typer.Exit(summary.exit_code)


@app.command()
def sync(ctx: typer.Context, manifest: ManifestArg, state: RunStateOpt = None,
         stage: StageOpt = None, as_json: JsonOpt = False, shard: ShardOpt = None,
         shards: ShardsOpt = None, rate_share: RateShareOpt = None) -> None:
    """Copy what changed at the source since the last run or sync (a scheduled mirror sync):
    new versions are published, files changed after migration are reported as conflicts,
    deletions at the source are reported (never propagated), npm dist-tags and deprecations
    are kept in step. Exit 0 also when nothing changed, 1 when changes could not be applied.

    Example: migrator sync sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.sync import sync as sync_migration

    summary = sync_migration(load_manifest(manifest), state, stage=stage,
                             progress=ctx.obj["progress"], shard=_shard(shard, shards),
                             rate_share=rate_share)
    _show(summary, as_json)
    raise typer.Exit(summary.exit_code)



@app.command()
def retry(
    manifest: OptionalManifest = None,
    state: StateOpt = None,
    status: Annotated[list[str] | None, typer.Option(
        "--status", metavar="STATUS",
        help="Which problems to send back: failed_permanent (default) and/or conflict (only "
        "useful once the target's different version was removed); pre-warm items: "
        "not_found_upstream, blocked_by_origin_control.")] = None,
    repository: Annotated[str | None, typer.Option(
        "--repository", metavar="NAME", help="Only this source repository.")] = None,
) -> None:
    """Send failed (or conflicting) versions back to the queue after the cause was fixed;
    the next `run` or `resume` processes them.

    Example: migrator retry sample-manifests/nexus-to-codeartifact.toml --repository npm-internal
    """
    from migrator.pipeline.run import retry as requeue

    with _state_file(manifest, state, "retry", writes=True) as sf:
        n = requeue(sf.path, status or ["failed_permanent"], repository=repository)
    again = f"migrator resume {manifest}" if manifest else f"migrator resume --state {state}"
    print(f"{n} package version(s) back in the queue; `{again}` processes them with the "
          "manifest as it is now (run `migrator plan` first if files or checksums changed at "
          "the source)")


