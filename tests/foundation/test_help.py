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


def help_text(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "migrator", *args, "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("name", [c for c in COMMANDS if c != "sandbox"])
def test_every_example_names_a_command_and_files_that_exist(name):
    text = help_text(name)
    examples = [line.split("Example:", 1)[1].strip() for line in text.splitlines()
                if "Example:" in line]
    assert examples, f"`migrator {name} --help` shows no example"
    for example in examples:
        words = shlex.split(example)
        assert words[:2] == ["migrator", name]
        for word in words[2:]:
            if word.endswith((".toml", ".sqlite", ".csv", ".json")):
                assert (ROOT / word).is_file(), f"{example}: {word} does not exist"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_no_internal_metavars(name):
    text = help_text(name)
    assert "<bool>" not in text and "BOOLEAN" not in text
