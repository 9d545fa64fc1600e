"""The command line: presents what the library computes."""

from featmech.cli.main import cli, main

__all__ = ["cli", "main"]
