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

import contextlib
import logging
import os
import sys

import typer

# Importing them registers their commands on `app`, in this order (the order of --help).
from migrator.cli import move as _move  # noqa: F401
from migrator.cli import show as _show  # noqa: F401
from migrator.cli.common import GLOBAL_FLAGS, GLOBAL_OPTIONS, app
from migrator.errors import ConfigError, MigratorError

__all__ = ["app", "entry", "hoist_global_flags", "main"]


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


def entry() -> None:
    """The `migrator` program (and `python -m migrator`): `main`, then the process ends at
    once with its exit code. When `main` returns, every file, the state and every connection
    is closed and nothing is left to do; the interpreter's own teardown of a long run (a
    last collection of everything the run allocated, module clean-up) took a third of a
    second more, paid by every scheduled job. An unexpected exception is not caught here:
    its traceback and exit code stay Python's."""
    try:
        main()
        code = 0
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:  # a message: Python prints it and exits 1
            print(done.code, file=sys.stderr)
            code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to say
            stream.flush()
    os._exit(code)
