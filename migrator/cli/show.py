"""The commands that read or shape around a migration: status (live, merged shards), verify,
report, cutover, state backup, target init. Each parses, calls one library function,
prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from migrator.cli.common import (
    JsonOpt,
    ManifestArg,
    OptionalManifest,
    StateOpt,
    _checkpoint_note,
    _show,
    _state_file,
    app,
)
from migrator.errors import ConfigError
from migrator.manifest import load_manifest

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


