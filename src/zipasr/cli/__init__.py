"""The ``zipasr`` command line: each command parses its arguments and calls the library."""

from zipasr.cli.main import main

__all__ = ["main"]
