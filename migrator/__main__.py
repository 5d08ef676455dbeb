"""`python -m migrator` runs the CLI."""

from migrator.cli import main

main()
