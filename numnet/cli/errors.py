"""User errors of the command line: one line on stderr, a non-zero exit code, no traceback."""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C (143 for SIGTERM)


class CLIError(Exception):
    """A mistake the user can fix (bad value, missing file, wrong checkpoint).

    ``main`` prints it as ``numnet: error: <message>`` and exits with ``code``.
    """

    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """A command line or config file that does not parse (exit code 2, like argparse)."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_USAGE)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (errors from below the CLI may span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def os_error(exc: OSError) -> str:
    """An OSError on one line: its reason, then the file it is about (when it names one)."""
    reason = exc.strerror or one_line(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason
