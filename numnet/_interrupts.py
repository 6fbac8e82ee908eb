"""Ctrl-C during training: the first one waits for the current step to finish, a second does not."""

from __future__ import annotations

import contextlib
import signal
import threading


class SigintState:
    """``pending`` turns True when a deferred Ctrl-C arrived."""

    pending = False


@contextlib.contextmanager
def deferred_sigint():
    """Turn the first Ctrl-C into a flag (``state.pending``) so the current step can finish.

    Installed only in the main thread and only over Python's default handler (a handler someone
    else set is left alone). A second Ctrl-C raises ``KeyboardInterrupt`` at once. The old handler
    is restored on exit; a Ctrl-C that arrived after the last check is raised on a clean exit.

    Yields:
        A ``SigintState`` whose ``pending`` says whether a Ctrl-C is waiting.
    """
    state = SigintState()
    install = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not install:
        yield state
        return

    def handler(signum, frame):
        if state.pending:
            raise KeyboardInterrupt
        state.pending = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if state.pending:
        raise KeyboardInterrupt
