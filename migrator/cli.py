"""The `migrator` command line: parse, call one library function, print. Errors end here.

Exit codes (for schedulers):
  0  everything asked for is done (verified, or identical already)
  1  finished, but with failures or conflicts (see `migrator status`)
  2  usage or configuration error: nothing was done
  3  interrupted (signal): the state is saved, `migrator resume` continues

The global options (`--verbose`, `--quiet`, `--no-progress`) may stand before or after the
command: `main` moves them in front before typer parses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from migrator import __version__
from migrator.errors import ConfigError, MigratorError
from migrator.log import LOG_FORMATS, setup_logging
from migrator.manifest import Manifest, load_manifest

app = typer.Typer(
    name="migrator",
    help="Move private packages from Nexus 3 / Artifactory into AWS CodeArtifact, verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no box drawing, no "<bool>" after every flag
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Options of the whole program, accepted anywhere on the command line (before `--`).
GLOBAL_FLAGS = ("--verbose", "-v", "--quiet", "-q", "--no-progress")
GLOBAL_OPTIONS = ("--log-format",)  # ... and those that take a value

ManifestArg = Annotated[Path, typer.Argument(help="The migration manifest (TOML).",
                                             metavar="MANIFEST", show_default=False)]
OptionalManifest = Annotated[Path | None, typer.Argument(
    help="The manifest (to find the state).", metavar="[MANIFEST]", show_default=False)]
StateOpt = Annotated[str | None, typer.Option(
    "--state", metavar="PATH|s3://BUCKET/KEY",
    help="State file, or an S3 object (a command that only reads it reads its last "
    "checkpoint; one that writes holds its lease); default: options.state_url, else "
    "<options.state_dir>/<manifest stem>.sqlite, beside the manifest.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
StageOpt = Annotated[str | None, typer.Option(
    "--stage", metavar="STAGE",
    help="Only the repositories of this stage (one migration wave: its number or name).")]

# -- shards and remote states (migrator.pipeline.shard, migrator.pipeline.statefile) --------
RunStateOpt = Annotated[str | None, typer.Option(
    "--state", metavar="PATH|s3://BUCKET/KEY",
    help="State file, or an S3 object (restored at start, saved at checkpoints and at the "
    "end, held by a lease); default: options.state_url, else <options.state_dir>/<manifest "
    "stem>.sqlite beside the manifest (with .shard-K-of-N before .sqlite for a shard).")]
ShardOpt = Annotated[str | None, typer.Option(
    "--shard", metavar="K/N|auto",
    help="Only shard K of N (1-based; a stable hash of each package's name), in its own "
    "state at 1/N of options.rate_budget. auto: K from JOB_COMPLETION_INDEX (Kubernetes "
    "Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job), plus one.")]
ShardsOpt = Annotated[int | None, typer.Option(
    "--shards", metavar="N", help="N for --shard auto; default: $MIGRATOR_SHARDS, else "
    "$AWS_BATCH_JOB_ARRAY_SIZE.")]
RateShareOpt = Annotated[float | None, typer.Option(
    "--rate-share", metavar="WRITES/S",
    help="This process's share of options.rate_budget (default with --shard: budget / N).")]


def _shard(spec: str | None, shards: int | None):  # -> Shard | None
    from migrator.pipeline.shard import resolve_shard

    return resolve_shard(spec, shards=shards)


def _print_version(value: bool) -> None:
    if value:
        print(f"migrator {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress",
                                              help="No progress bars.")] = False,
    log_format: Annotated[str, typer.Option(
        "--log-format", metavar="text|json",
        help="Log lines for people (text) or aggregators (json: one object a line).")
    ] = "text",
    version: Annotated[bool, typer.Option("--version", help="Print the version.",
                                          is_eager=True, callback=_print_version)] = False,
) -> None:
    """Move private packages from Nexus 3 / Artifactory into AWS CodeArtifact, verified."""
    if log_format not in LOG_FORMATS:
        raise typer.BadParameter(f"--log-format {log_format}: use text or json")
    setup_logging(verbose=verbose, quiet=quiet, log_format=log_format)
    ctx.obj = {"progress": not no_progress and sys.stderr.isatty(), "quiet": quiet}


def _state_file(manifest: Path | Manifest | None, state: str | None, command: str, *,
                writes: bool, missing_ok: bool = False):  # -> ContextManager[StateFile]
    """The state a command works on (a local file, or an S3 state: a read-only copy of its
    last checkpoint, or held by its lease), from --state or the manifest
    (migrator.pipeline.statefile.state_file)."""
    from migrator.pipeline.statefile import state_file

    m = load_manifest(manifest) if isinstance(manifest, Path) else manifest
    return state_file(m, state, command=command, writes=writes, missing_ok=missing_ok)


def _checkpoint_note(sf: Any, *, to_stdout: bool) -> None:
    """Say that an S3 state read here is its last checkpoint, and of when: first on stdout
    before a text output, on stderr before a machine-readable one (which it would break)."""
    note = sf.note()
    if note is not None:
        print(note, file=sys.stdout if to_stdout else sys.stderr, flush=True)


def _show(result: Any, as_json: bool) -> None:
    print(json.dumps(result.as_dict(), indent=2, default=str) if as_json else result.render())


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


# -- live status and merged shard states ------------------------------------------------------
MergeOpt = Annotated[bool, typer.Option(
    "--merge", help="The arguments are the state files of the shards of one migration "
    "(`--shard K/N`): show them as one, checked to add up, no asset in two shards.")]
MoreStates = Annotated[list[str] | None, typer.Argument(
    metavar="[STATE...]", help="With --merge: the shards' state files (or s3:// states).",
    show_default=False)]
# A word, not a Path: with --merge it may be an s3:// URL (a Path would fold its `//`).
ManifestOrState = Annotated[str | None, typer.Argument(
    help="The manifest (to find the state); with --merge, the first shard's state.",
    metavar="[MANIFEST]", show_default=False)]
WatchOpt = Annotated[float | None, typer.Option(
    "--watch", metavar="[SECONDS]", flag_value=2.0,
    help="Refresh every SECONDS (default 2) until Ctrl-C: in place on a terminal, a block "
    "per refresh otherwise (with --json: one object a line). Put it last or write "
    "--watch=5.")]


def _merged(merge: bool, manifest: str | None, more: list[str] | None,
            state: str | None = None) -> list[str] | None:
    """The shard states of `--merge` (every positional argument), or None without it."""
    if merge and state is not None:
        raise ConfigError("--merge takes the shards' states as arguments, not --state",
                          hint="migrator status --merge STATE STATE ...")
    if not merge:
        if more:
            raise ConfigError(f"unexpected arguments: {' '.join(map(str, more))}",
                              hint="pass one MANIFEST, or --merge and the shards' states")
        return None
    shards = [p for p in (manifest, *(more or [])) if p is not None]
    urls = [p for p in shards if p.startswith("s3://")]
    twice = sorted({u for u in urls if urls.count(u) > 1})
    if twice:  # a local path given twice is found by the merge itself
        raise ConfigError(f"--merge: {twice[0]} is given twice",
                          hint="pass each shard's state once")
    return shards


def _merge_files(stack: Any, shards: list[str], command: str) -> list[Any]:
    """Each shard's state for --merge, read-only (an S3 one as its last checkpoint)."""
    return [stack.enter_context(_state_file(None, s, command, writes=False)) for s in shards]


@app.command()
def status(manifest: ManifestOrState = None, state: StateOpt = None,
           as_json: JsonOpt = False, watch: WatchOpt = None, merge: MergeOpt = False,
           more: MoreStates = None) -> None:
    """Counts per repository and status, bytes, and failures; while a run is going (from
    another terminal: read-only, never in its way) its rates against the budget, throttled
    requests, ETA and last errors (--json lists every failure). An S3 state is read as its
    last checkpoint (the time it was saved is shown; --watch reads each new one).

    Example: migrator status sample-manifests/nexus-to-codeartifact.toml --watch
    Shards of one migration, as one: `migrator status --merge S.shard-1-of-2.sqlite
    S.shard-2-of-2.sqlite` (exit 1 when they do not add up or an asset is in two shards).
    """
    from contextlib import ExitStack

    from migrator.reports.merge import merge_status, render_merged_status
    from migrator.reports.status import render_status
    from migrator.reports.status import status as read_status
    from migrator.reports.status import watch as watch_status
    from migrator.state.lock import lock_holder

    if watch is not None and watch <= 0:
        raise ConfigError(f"--watch {watch:g}: must be a number of seconds above 0")
    shards = _merged(merge, manifest, more, state)
    with ExitStack() as stack:
        if shards is not None:
            files = _merge_files(stack, shards, "status")

            def read() -> dict[str, Any]:
                by_path = {f.path: f for f in files}
                return merge_status(
                    [f.path for f in files], all_failures=as_json,
                    names=[str(f.location) for f in files], clocks=[f.clock for f in files],
                    held_by=lambda p: by_path[p].held_by() if by_path[p].remote
                    else lock_holder(p))
            render = render_merged_status
        else:
            files = [stack.enter_context(_state_file(
                Path(manifest) if manifest is not None else None, state, "status",
                writes=False))]

            def read() -> dict[str, Any]:
                f = files[0]
                data = read_status(f.path, all_failures=as_json, clock=f.clock,
                                   held_by=f.held_by if f.remote else lock_holder)
                data["state"] = str(f.location)
                return data
            render = render_status
        fresh = [True]

        def read_latest() -> dict[str, Any]:
            # Each refresh of --watch reads the newest checkpoint (a GET only if it changed).
            if not fresh[0]:
                for f in files:
                    f.refresh()
            fresh[0] = False
            data = read()
            checkpoints = [c for c in (f.as_dict() for f in files) if c is not None]
            if checkpoints:
                data["checkpoints"] = checkpoints
            return data

        def render_noted(data: dict[str, Any]) -> str:
            notes = [n for n in (f.note() for f in files) if n is not None]
            return "\n".join([*notes, render(data)])

        if watch is not None:
            raise typer.Exit(watch_status(read_latest, every=watch, as_json=as_json,
                                          render=render_noted))
        data = read_latest()
        print(json.dumps(data, indent=2, sort_keys=True) if as_json else render_noted(data))
    raise typer.Exit(data.get("exit_code", 0))


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

    _show(plan_manifest(load_manifest(manifest), state, shard=_shard(shard, shards),
                        rate_share=rate_share, stage=parse_stage(stage)), as_json)


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
def verify(
    manifest: Annotated[Path | None, typer.Argument(
        help="Manifest (target settings); default: the copy stored in the state.",
        metavar="[MANIFEST]", show_default=False)] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    certificate: Annotated[Path | None, typer.Option(
        "--certificate", metavar="FILE",
        help="Re-check a completeness certificate instead of the state: its digest, then "
        "every asset it lists (exit 1 on drift, 2 if the file was edited).")] = None,
) -> None:
    """Re-check every verified asset against CodeArtifact (read-only) and report drift.

    Example: migrator verify sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.verify import verify as verify_state
    from migrator.pipeline.verify import verify_certificate

    if certificate is not None:
        if manifest is None:
            raise ConfigError("--certificate needs MANIFEST (the target's settings)")
        report = verify_certificate(manifest, certificate)
    else:
        m = load_manifest(manifest) if manifest is not None else None
        with _state_file(m, state, "verify", writes=False) as sf:
            _checkpoint_note(sf, to_stdout=not as_json)
            report = verify_state(m, sf.path)
    _show(report, as_json)
    raise typer.Exit(report.exit_code)


@app.command()
def report(
    manifest: ManifestOrState = None,
    state: StateOpt = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT",
        help="text (default), json, csv (the problems, for `run --only-failed`), html (one "
        "self-contained page) or certificate (JSON Lines, needs --out).")] = "text",
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="PATH", help="Write here instead of to stdout.")] = None,
    merge: MergeOpt = False,
    more: MoreStates = None,
) -> None:
    """What the state proves: every planned asset in one final state, totals that add up,
    failures, conflicts and exclusions with reasons and hashes; or the completeness
    certificate that `verify --certificate` re-checks. The shards of one migration as one
    report: `migrator report --merge S.shard-1-of-2.sqlite S.shard-2-of-2.sqlite`.

    Example: migrator report sample-manifests/nexus-to-codeartifact.toml --format html --out r.html
    """
    from contextlib import ExitStack

    from migrator.reports.merge import merge_report
    from migrator.reports.report import report as write_report

    shards = _merged(merge, manifest, more, state)
    # The checkpoint note goes first on stdout only before a text report printed there.
    on_stdout = fmt == "text" and out is None
    with ExitStack() as stack:
        if shards is not None:
            files = _merge_files(stack, shards, "report")
            for f in files:
                _checkpoint_note(f, to_stdout=on_stdout)
            text = merge_report([f.path for f in files], fmt, out,
                                names=[str(f.location) for f in files])
        else:
            path = Path(manifest) if manifest is not None else None
            sf = stack.enter_context(_state_file(path, state, "report", writes=False))
            _checkpoint_note(sf, to_stdout=on_stdout)
            text = write_report(sf.path, fmt, out, name=str(sf.location),
                                manifest_text=path.read_text(encoding="utf-8")
                                if path is not None and path.is_file() else None)
    if text is not None:
        print(text)


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


@app.command()
def cutover(
    manifest: ManifestArg,
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Folder to write the kit into.")],
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the cut-over kit: Maven/Gradle, npm, pip/Poetry/uv configuration and IAM
    policies for every migrated repository, from the endpoints CodeArtifact reports; the token
    is always ${CODEARTIFACT_AUTH_TOKEN}, never its value.

    Example: migrator cutover sample-manifests/nexus-to-codeartifact.toml --out cutover/
    """
    from migrator.cutover import write_kit

    m = load_manifest(manifest)
    with _state_file(m, state, "cutover", writes=False) as sf:
        _checkpoint_note(sf, to_stdout=not as_json)
        kit = write_kit(m, sf.path, out)
    _show(kit, as_json)


state_app = typer.Typer(help="The state file itself: backups.", rich_markup_mode=None,
                        no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("backup")
def state_backup(
    manifest: OptionalManifest = None,
    state: StateOpt = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="PATH|s3://BUCKET/KEY", help="Where to write the copy (never "
        "overwritten; a local path also for an S3 state); default: <state>.<UTC "
        "time>.bak.sqlite beside the state (on S3 for an S3 state).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the state with SQLite's online backup (safe while a run is going) and check the
    copy; do it before a risky step.

    Example: migrator state backup sample-manifests/nexus-to-codeartifact.toml
    """
    from migrator.pipeline.statefile import backup_state

    with _state_file(manifest, state, "state backup", writes=True) as sf:
        result = backup_state(sf, to)
    _show(result, as_json)


target_app = typer.Typer(help="The CodeArtifact side itself: provisioning.",
                         rich_markup_mode=None, no_args_is_help=True)
app.add_typer(target_app, name="target")


@target_app.command("init")
def target_init(
    manifest: ManifestArg,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the difference and the request counts; write nothing.")
    ] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Also apply changes that break existing repositories (reordered or "
        "removed upstreams, a removed external connection).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the domain, repositories, upstreams, external connections and package groups
    the manifest's [target] describes: the difference first, then only what is missing.

    Example: migrator target init sample-manifests/topology.toml --dry-run
    """
    from migrator.pipeline.provision import init_target

    # The difference is printed before anything is written; the outcome after.
    result = init_target(load_manifest(manifest), dry_run=dry_run, force=force,
                         on_diff=None if as_json else lambda r: print(r.render_diff(),
                                                                      flush=True))
    if as_json:
        _show(result, as_json)
    elif result.changes:
        print(result.render_outcome())
    raise typer.Exit(result.exit_code)


def _mount_sandbox() -> None:
    """`migrator sandbox ...`: the sandbox is a separate package, imported only when this
    command runs, so no other command loads it (or needs the sandbox extra)."""

    @app.command(name="sandbox", add_help_option=False,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def sandbox(ctx: typer.Context) -> None:
        """Local CodeArtifact, Nexus and Artifactory emulators."""
        try:
            from migrator_sandbox.serve import sandbox_app
        except ImportError as exc:
            missing = exc.name or "starlette"
            raise ConfigError(f"the sandbox needs {missing}, which is not installed",
                              hint="pip install 'migrator[sandbox]'") from None
        # Its own command group parses the rest (--help included) and exits with its code.
        typer.main.get_group(sandbox_app).main(args=list(ctx.args), prog_name=ctx.command_path,
                                               help_option_names=ctx.help_option_names)


_mount_sandbox()


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`argv` with the global flags moved in front of the command, wherever they stood
    (up to a `--`, after which everything is an argument)."""
    end = argv.index("--") if "--" in argv else len(argv)
    front: list[str] = []
    rest: list[str] = []
    words = iter(argv[:end])
    for word in words:
        if word in GLOBAL_FLAGS or (word.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in word):
            front.append(word)
        elif word in GLOBAL_OPTIONS:
            front += [word, next(words, "")]
        else:
            rest.append(word)
    return [*front, *rest, *argv[end:]]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every MigratorError becomes one message and an exit code."""
    # Typer handles usage errors itself (exit 2); everything migrator raises on purpose is
    # turned into one line on stderr and the exit code its class carries.
    args = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="migrator")
    except MigratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
