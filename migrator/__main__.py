"""`python -m migrator` runs the CLI."""

from migrator.cli import entry

entry()
