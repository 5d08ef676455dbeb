"""Every `migrator` command line in jobs/ is one the real CLI accepts: the command exists and
each option it passes is an option of that command (or a global one), checked against the
typer app itself, and the whole line parses (`--help` appended: the parser reads every
argument before printing the help, so an unknown option still fails)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from migrator.cli import app, hoist_global_flags

from .conftest import CommandLine, job_command_lines

LINES = job_command_lines()
ROOT_COMMAND = typer.main.get_command(app)


# Typer's commands and options are click's, through its own copy of click: so they are told
# apart by what they have (param_type_name, commands), not by isinstance.
def _options(cmd: Any) -> dict[str, Any]:
    return {name: p for p in cmd.params if p.param_type_name == "option"
            for name in (*p.opts, *p.secondary_opts)}


def _takes_value(opt: Any) -> bool:
    return not opt.is_flag and not opt.count


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def problems(line: CommandLine) -> list[str]:
    """What the CLI would refuse in this line, each said as a sentence; [] if none."""
    words = list(line.argv[1:])
    out: list[str] = []
    cmd: Any = ROOT_COMMAND
    path = ["migrator"]
    global_opts = _options(ROOT_COMMAND)
    while _is_group(cmd):
        while words and words[0].startswith("-"):
            flag = words.pop(0).split("=", 1)[0]
            opt = global_opts.get(flag)
            if opt is None:
                out.append(f"`{' '.join(path)}` has no option {flag}")
            elif _takes_value(opt) and "=" not in flag and words:
                words.pop(0)
        if not words:
            out.append(f"`{' '.join(path)}` is given no command")
            return out
        name = words.pop(0)
        sub = cmd.commands.get(name)
        if sub is None:
            out.append(f"`{' '.join(path)}` has no command {name!r}")
            return out
        cmd, path = sub, [*path, name]
    opts = {**global_opts, **_options(cmd)}
    while words:
        word = words.pop(0)
        if not word.startswith("--"):
            continue
        flag, eq, inline = word.partition("=")
        opt = opts.get(flag)
        if opt is None:
            out.append(f"`{' '.join(path)}` has no option {flag}")
        elif _takes_value(opt) and (eq or words):
            value = inline if eq else words.pop(0)
            owner = ROOT_COMMAND if flag in global_opts else cmd
            out += _value_problems(path, flag, owner, opt, value)
    return out


def _value_problems(path: list[str], flag: str, cmd: Any, opt: Any, value: str) -> list[str]:
    """The option's own conversion of the value: refused, or (an s3:// URL given to an
    option that takes a local path) changed on the way."""
    if "$" in value:  # left for the shell or a scheduler to fill in: nothing to convert
        return []
    try:
        ctx = cmd.make_context(path[-1], [], resilient_parsing=True)
        converted = opt.process_value(ctx, value)
    except Exception as exc:  # click's BadParameter (from typer's copy of click)
        return [f"`{' '.join(path)} {flag}` refuses {value!r}: {exc}"]
    if value.startswith("s3://") and str(converted) != value:
        return [f"`{' '.join(path)} {flag}` takes a local path: {value!r} becomes "
                f"{str(converted)!r}"]
    return []


def _command(line: CommandLine) -> str:
    """The command word: the first word after the global options (which all take a value
    except --no-progress)."""
    words = list(line.argv[1:])
    while words[0].startswith("-"):
        flag = words.pop(0)
        if flag == "--log-format":
            words.pop(0)
    return words[0]


def test_the_job_files_run_the_commands_they_are_for():
    # the extraction itself: a file whose command line was missed would pass vacuously
    by_file: dict[str, list[str]] = {}
    for line in LINES:
        by_file.setdefault(line.source.split(":")[0], []).append(_command(line))
    assert by_file == {
        "cronjob-sync.yaml": ["sync"],
        "indexed-job-shards.yaml": ["run"],
        "migrator-batch.yaml": ["run"],
        "migrator-sync.yml": ["sync", "report"],
        "migrator-sync.gitlab-ci.yml": ["sync", "report"],
        "migrator-sync.service": ["sync"],
    }, by_file


def test_the_problem_finder_finds_problems():
    bad = CommandLine("x", ("migrator", "--no-progress", "run", "m.toml", "--no-such-flag"))
    assert problems(bad) == ["`migrator run` has no option --no-such-flag"]
    assert problems(CommandLine("x", ("migrator", "nope"))) == ["`migrator` has no command 'nope'"]
    ok = CommandLine("x", ("migrator", "--log-format", "json", "status", "--json"))
    assert problems(ok) == []
    # an option that takes a local path turns an S3 URL into a file name `s3:/b/k.csv`
    s3 = problems(CommandLine("x", ("migrator", "run", "m.toml", "--only-failed",
                                    "s3://b/k.csv")))
    assert s3 == ["`migrator run --only-failed` takes a local path: 's3://b/k.csv' becomes "
                  "'s3:/b/k.csv'"]


@pytest.mark.parametrize("line", LINES, ids=str)
def test_every_option_exists(line: CommandLine):
    found = problems(line)
    assert not found, f"{line}\n  " + "\n  ".join(found)


@pytest.mark.parametrize("line", LINES, ids=str)
def test_the_whole_line_parses(line: CommandLine):
    # as the console entry point does: global flags may stand after the command too
    result = CliRunner().invoke(app, hoist_global_flags([*line.argv[1:], "--help"]))
    assert result.exit_code == 0, f"{line}\n{result.output}"
    assert "Usage: migrator" in result.output
