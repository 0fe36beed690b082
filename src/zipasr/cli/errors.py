"""How ``zipasr`` commands fail: one message format and a documented exit code for each outcome.

Every anticipated failure reaches the user as one line, ``zipasr: error: <what, where, what to
do>``, on standard error. The traceback is shown only with ``zipasr --debug ...`` or
``ZIPASR_DEBUG=1``. The exit codes:

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      success
1      an error the user can fix: bad input, bad option, unreadable or corrupt file
2      the command line does not parse (argparse's own code)
3      the command needs an optional dependency that is not installed
4      a batch command finished, but some of its inputs failed (each one reported)
70     a bug in zipasr (an unexpected exception): please report it with ``--debug``
130    interrupted (Ctrl-C)
=====  ==========================================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MISSING_EXTRA = 3
EXIT_PARTIAL = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

#: Setting this environment variable to a non-empty value other than "0" shows tracebacks.
DEBUG_ENV = "ZIPASR_DEBUG"


class CliError(Exception):
    """An anticipated failure of a command: its message is all the user sees.

    >>> CliError("--batch-size must be at least 1, got 0").code
    1
    """

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts that must be at least 1 (a bad value is a usage error).

    >>> positive_int("4")
    4
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` for a finite quantity above 0 (seconds, hours).

    >>> positive_float("1.5")
    1.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse ``type`` for a finite weight or margin that may be 0.

    >>> non_negative_float("0")
    0.0
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type`` for a share between 0 and 1, both included.

    >>> fraction("0.2")
    0.2
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one ``zipasr: error: ...`` line (exit 2)
    pointing to ``--help``, as every other error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"zipasr: error: {message} (see: {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but an unknown option is reported by the sub-command it was given
        to, so that the message points to that command's ``--help``."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                    action.choices[command].error(f"unrecognized arguments: {' '.join(extras)}")
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def non_negative_int(text: str) -> int:
    """An argparse ``type`` for counts that may be 0.

    >>> non_negative_int("0")
    0
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def check_output_dir(path: str | os.PathLike[str], option: str = "--out") -> None:
    """Raises CliError, before any work starts, unless ``path`` is or can become a writable
    folder (it, or the nearest of its parents that exists, must be a writable folder)."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == target:
            raise CliError(f"{option} {target}: is a file, not a folder")
        raise CliError(f"{option} {target}: cannot be a folder ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"{option} {target}: {existing} is not writable")


def debug_requested(flag: bool = False) -> bool:
    """Whether tracebacks should be shown: the ``--debug`` flag or ``ZIPASR_DEBUG``."""
    value = os.environ.get(DEBUG_ENV, "")
    return flag or value not in ("", "0")


def error(message: str) -> None:
    """Prints ``zipasr: error: <message>`` on standard error."""
    print(f"zipasr: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Prints ``zipasr: warning: <message>`` on standard error."""
    print(f"zipasr: warning: {message}", file=sys.stderr)


class _UserHandler(logging.Handler):
    """``zipasr: warning: <message>`` on whatever ``sys.stderr`` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"zipasr: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except Exception:
            self.handleError(record)


def show_warnings() -> None:
    """Shows zipasr's log warnings on standard error as ``zipasr: warning: ...`` lines (the
    commands that log their progress, ``train`` and ``demo``, set up their own logging).
    Records still propagate to the root logger, so an application's own logging sees them."""
    library = logging.getLogger("zipasr")
    if not any(isinstance(h, _UserHandler) for h in library.handlers):
        handler = _UserHandler(logging.WARNING)
        library.addHandler(handler)


#: Exceptions whose message is written for the user: the library raises these for bad input
#: (ValueError and its subclasses, e.g. zipasr.audio.AudioError) and the OS for files.
ANTICIPATED: tuple[type[BaseException], ...] = (CliError, ValueError, OSError)


def report(exc: BaseException, *, debug: bool) -> int:
    """Prints ``exc`` the way a user should see it and returns the exit code for it."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        error("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, CliError):
        error(str(exc))
        return exc.code
    if isinstance(exc, ANTICIPATED):
        error(_describe(exc))
        return EXIT_ERROR
    worker = _worker_error(exc)
    if worker is not None:  # a training process failed: its own exception's last line
        error(worker)
        return EXIT_ERROR
    error(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in zipasr: please report "
        "it with the output of the same command run as `zipasr --debug <command> ...`"
    )
    return EXIT_INTERNAL


def _worker_error(exc: BaseException) -> str | None:
    """The user-facing line of an anticipated exception raised in a worker process (torch's
    ``ProcessRaisedException`` carries the worker's traceback as text), or None."""
    if type(exc).__name__ != "ProcessRaisedException":
        return None
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    kind, _, message = last.partition(": ")
    anticipated = {t.__name__ for t in (ValueError, OSError, FileNotFoundError, CliError)}
    if kind.rsplit(".", 1)[-1] in anticipated | {"AudioError", "CorruptFileError"}:
        return message
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__
