"""Docs and code cannot drift: every command has help and is in the README, which opens with
the two commands that matter; the Makefile and CI run what the README says."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from migrator.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_readme_opens_with_demo_and_test():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_documented(name):
    assert f"`migrator {name}" in README


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    command = typer.main.get_command(app).commands[name]
    assert (command.help or "").strip()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
