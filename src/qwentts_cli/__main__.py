"""`python -m qwentts_cli` runs the CLI."""

from qwentts_cli.cli import main

main()
