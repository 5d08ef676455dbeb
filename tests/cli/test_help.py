"""Help that can be trusted: every command's `Example:` runs a command that exists on files
that exist, and the help shows no internal metavars."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from migrator.cli import app

ROOT = Path(__file__).resolve().parents[2]
GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)
# Every leaf command as its words: ("run",), ("state", "backup"), ...
LEAVES = sorted(
    (name, *((sub,) if sub else ()))
    for name, command in GROUP.commands.items() if name != "sandbox"
    for sub in (sorted(getattr(command, "commands", {})) or [None]))


def help_text(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "migrator", *args, "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_every_example_names_a_command_and_files_that_exist(words):
    text = help_text(*words)
    examples = [line.split("Example:", 1)[1].strip() for line in text.splitlines()
                if "Example:" in line]
    assert examples, f"`migrator {' '.join(words)} --help` shows no example"
    for example in examples:
        said = shlex.split(example)
        assert said[:1 + len(words)] == ["migrator", *words]
        for word in said[1 + len(words):]:
            if word.endswith((".toml", ".sqlite", ".csv", ".json")):
                assert (ROOT / word).is_file(), f"{example}: {word} does not exist"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_no_internal_metavars(name):
    text = help_text(name)
    assert "<bool>" not in text and "BOOLEAN" not in text
