"""Ctrl-C and SIGTERM during training: the first waits for the step to finish, a second does not.

SIGTERM (``kill``, a batch scheduler, ``docker stop``) is handled like Ctrl-C, so such a stop
also ends in a checkpoint; it surfaces as :class:`Terminated`, a ``KeyboardInterrupt`` that
remembers its signal (the command exits with 128 + its number, as a shell reports it).
"""

from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """A SIGTERM, handled like Ctrl-C. ``signum`` is ``signal.SIGTERM``."""

    signum = signal.SIGTERM


def interrupt_for(signum: int) -> KeyboardInterrupt:
    """The exception a stop by signal ``signum`` raises: KeyboardInterrupt, or Terminated."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def signal_number(exc: KeyboardInterrupt) -> int:
    """The signal behind a ``KeyboardInterrupt``: SIGTERM for Terminated, else SIGINT."""
    return getattr(exc, "signum", signal.SIGINT)


class SigintState:
    """``pending`` turns True when a deferred Ctrl-C or SIGTERM arrived (``signum``: which)."""

    pending = False
    signum = signal.SIGINT

    def interrupt(self) -> KeyboardInterrupt:
        """The exception to raise for the pending stop."""
        return interrupt_for(self.signum)


@contextlib.contextmanager
def deferred_sigint():
    """Turn the first Ctrl-C or SIGTERM into a flag (``state.pending``): the step can finish.

    Installed only in the main thread and only over Python's default handlers (a handler someone
    else set is left alone). A second Ctrl-C or SIGTERM raises at once. The old handlers are
    restored on exit; a stop that arrived after the last check is raised on a clean exit.

    Yields:
        A ``SigintState`` whose ``pending`` says whether a stop is waiting.
    """
    state = SigintState()
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    main = threading.current_thread() is threading.main_thread()
    ours = [s for s, d in defaults.items() if main and signal.getsignal(s) is d]

    def handler(signum, frame):
        if state.pending:
            raise interrupt_for(signum)
        state.pending, state.signum = True, signum

    for s in ours:
        signal.signal(s, handler)
    try:
        yield state
    finally:
        for s in ours:
            signal.signal(s, defaults[s])
    if state.pending:
        raise state.interrupt()
