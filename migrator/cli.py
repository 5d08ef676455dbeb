"""The `migrator` command line: parse, call one library function, print. Errors end here.

Exit codes (for schedulers):
  0  everything asked for is done (verified, or identical already)
  1  finished, but with failures or conflicts (see `migrator status`)
  2  usage or configuration error: nothing was done
  3  interrupted (signal): the state is saved, `migrator resume` continues
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from migrator import __version__
from migrator.errors import ConfigError, MigratorError
from migrator.log import setup_logging
from migrator.manifest import Manifest, load_manifest

app = typer.Typer(
    name="migrator",
    help="Move private packages from Nexus 3 / Artifactory into AWS CodeArtifact, verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ManifestArg = Annotated[Path, typer.Argument(help="The migration manifest (TOML).",
                                             show_default=False)]
StateOpt = Annotated[Path | None, typer.Option(
    "--state", help="State file; default: <options.state_dir>/<manifest stem>.sqlite.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.callback()
def _global(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress",
                                              help="No progress bars.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    """Move private packages from Nexus 3 / Artifactory into AWS CodeArtifact, verified."""
    if version:
        print(f"migrator {__version__}")
        raise typer.Exit(0)
    setup_logging(verbose=verbose, quiet=quiet)
    ctx.obj = {"progress": not no_progress and sys.stderr.isatty(), "quiet": quiet}


def _manifest_checked(path: Path) -> Manifest:
    manifest = load_manifest(path)
    missing = manifest.missing_env()
    if missing:
        raise ConfigError(
            f"{path}: source credentials: environment variable(s) {', '.join(missing)} "
            "not set",
            hint=f"export {missing[0]}=... before running (the manifest names the variables; "
            "their values never go in the manifest)",
        )
    return manifest


def _state_path(manifest_path: Path | None, state: Path | None) -> Path:
    if state is not None:
        return state
    if manifest_path is None:
        raise ConfigError("no state given", hint="pass MANIFEST or --state PATH")
    return load_manifest(manifest_path).state_path


@app.command()
def validate(manifest: ManifestArg) -> None:
    """Check a manifest and the environment variables it names; no network.

    Example: migrator validate sample-manifests/nexus-demo.toml
    """
    m = _manifest_checked(manifest)
    print(f"{manifest}: ok ({m.source.kind} {m.source.url} -> CodeArtifact domain "
          f"{m.target.domain} in {m.target.region}; {len(m.repositories)} repositories; "
          f"state {m.state_path})")


@app.command()
def status(
    manifest: Annotated[Path | None, typer.Argument(help="Manifest (to find the state).",
                                                    show_default=False)] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts per repository and status, bytes, and failures; safe while a run is going.

    Example: migrator status --state state/nexus-demo.sqlite
    """
    from migrator.reports.status import render_status, status_data
    from migrator.state import WorkQueue

    with WorkQueue.open(_state_path(manifest, state), create=False) as q:
        data = status_data(q)
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(render_status(data))


@app.command()
def plan(manifest: ManifestArg, state: StateOpt = None, as_json: JsonOpt = False) -> None:
    """Crawl the source into the state and print what a run would do; writes nothing to the
    target (the dry run).

    Example: migrator plan sample-manifests/nexus-demo.toml
    """
    import anyio

    from migrator.pipeline.plan import plan as crawl_and_plan
    from migrator.pipeline.support import crash_point
    from migrator.state import WorkQueue

    m = _manifest_checked(manifest)
    with WorkQueue.open(state or m.state_path, lock_for="plan") as q:
        q.set_meta("manifest", m.text)
        q.set_meta("manifest_path", str(m.path.resolve()))
        summary = anyio.run(lambda: crawl_and_plan(m, q, on_page=lambda *_: crash_point("crawl")))
    print(json.dumps(summary.as_dict(), indent=2) if as_json else summary.render())


StageOpt = Annotated[int | None, typer.Option(
    "--stage", help="Only the repositories of this stage (a migration wave).")]


def _print_summary(summary, as_json: bool) -> None:
    print(json.dumps(summary.as_dict(), indent=2) if as_json else summary.render())


@app.command()
def run(
    ctx: typer.Context,
    manifest: ManifestArg,
    state: StateOpt = None,
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan (if the state has no finished crawl), publish, verify and finalize; safe to
    repeat: what is done stays done.

    Example: migrator run sample-manifests/nexus-to-codeartifact.toml --stage 1
    """
    from migrator.pipeline.run import run as run_migration

    m = _manifest_checked(manifest)
    summary = run_migration(m, state or m.state_path, stage=stage,
                            progress=ctx.obj["progress"])
    _print_summary(summary, as_json)
    raise typer.Exit(summary.exit_code)


@app.command()
def resume(
    ctx: typer.Context,
    manifest: Annotated[Path | None, typer.Argument(
        help="Manifest (only to find the state; the state holds its own copy).",
        show_default=False)] = None,
    state: StateOpt = None,
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continue an interrupted run from the state alone; same end as an uninterrupted run.

    Example: migrator resume --state state/wave1.sqlite
    """
    from migrator.pipeline.run import resume as resume_migration

    summary = resume_migration(_state_path(manifest, state), stage=stage,
                               progress=ctx.obj["progress"])
    _print_summary(summary, as_json)
    raise typer.Exit(summary.exit_code)


@app.command()
def verify(
    manifest: Annotated[Path | None, typer.Argument(
        help="Manifest (target settings); default: the copy stored in the state.",
        show_default=False)] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-check every verified asset against CodeArtifact (read-only) and report drift.

    Example: migrator verify wave1.toml
    """
    from migrator.pipeline.verify import verify as verify_state

    report = verify_state(manifest, state)
    _print_summary(report, as_json)
    raise typer.Exit(report.exit_code)


@app.command()
def retry(
    manifest: Annotated[Path | None, typer.Argument(help="Manifest (to find the state).",
                                                    show_default=False)] = None,
    state: StateOpt = None,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Which problems to send back: failed_permanent (default) and/or "
        "conflict (only useful once the target's different version was removed).")] = None,
    repository: Annotated[str | None, typer.Option(
        "--repository", help="Only this source repository.")] = None,
) -> None:
    """Send failed (or conflicting) versions back to the queue after the cause was fixed;
    the next `run` or `resume` processes them.

    Example: migrator retry wave1.toml --status failed_permanent --repository npm-internal
    """
    from migrator.state import WorkQueue
    from migrator.state import status as st

    statuses = status or [st.FAILED_PERMANENT]
    allowed = (st.FAILED_PERMANENT, st.CONFLICT)
    for s in statuses:
        if s not in allowed:
            raise ConfigError(f"--status {s}: only {' and '.join(allowed)} can be retried",
                              hint="verified and excluded items are not problems to retry")
    with WorkQueue.open(_state_path(manifest, state), create=False, lock_for="retry") as q:
        if repository and repository not in {r["source"] for r in q.repositories()}:
            raise ConfigError(f"--repository {repository}: not in this state",
                              hint="`migrator status` lists the repositories")
        n = q.requeue(statuses, repository=repository)
    print(f"{n} package version(s) back in the queue; `migrator resume` processes them "
          "(run `migrator plan` first if files or checksums changed at the source)")


def _mount_sandbox() -> None:
    try:
        from migrator_sandbox.serve import sandbox_app
    except ImportError as exc:
        missing = exc.name or "starlette"

        @app.command(name="sandbox", context_settings={"allow_extra_args": True,
                                                       "ignore_unknown_options": True})
        def sandbox_unavailable() -> None:
            """Local CodeArtifact, Nexus and Artifactory emulators (needs the sandbox extra)."""
            raise ConfigError(f"the sandbox needs {missing}, which is not installed",
                              hint="pip install 'migrator[sandbox]'")
    else:
        app.add_typer(sandbox_app, name="sandbox",
                      help="Local CodeArtifact, Nexus and Artifactory emulators.")


_mount_sandbox()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every MigratorError becomes one message and an exit code."""
    # Typer handles usage errors itself (exit 2); everything migrator raises on purpose is
    # turned into one line on stderr and the exit code its class carries.
    try:
        app(args=argv, prog_name="migrator")
    except MigratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
