"""What every command shares: the typer app, the global options, the option types, and the
helpers that open a state (a file or an s3:// object) and print results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from migrator import __version__
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


