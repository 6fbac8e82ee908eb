"""Where a search keeps its trials: an Optuna journal file, or a database for many machines.

* A file path (the command's default: ``journal.log`` in the search directory): Optuna's
  ``JournalStorage(JournalFileBackend(path))``, which many processes on one machine share safely
  with no server (SQLite is not safe for that and is not the default).
* A database URL (``postgresql+psycopg://user@host/db``, ``mysql+pymysql://...``, any SQLAlchemy
  URL): ``RDBStorage`` with Optuna's heartbeat, so a trial whose worker died (SIGKILL, a lost
  machine) is marked FAIL after the grace period instead of staying RUNNING forever, and is
  queued again once (``RetryHeartbeatStaleTrialCallback``).

A journal file has no heartbeat; :func:`fail_dead_workers` does its job for the workers of this
machine: a RUNNING trial whose worker process no longer exists is marked FAIL (and queued again
once), the next time any worker looks.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from numnet.search._optuna import require_optuna
from numnet.search.objective import worker_alive

__all__ = ["StorageError", "describe", "fail_dead_workers", "fail_stale", "open_storage"]

#: Seconds between a running trial's heartbeats, and the default grace period (2 beats).
HEARTBEAT = 30
#: Tries to open a database storage whose tables other workers are creating at the same time.
_CREATE_ATTEMPTS = 5
#: The database drivers the extras install, per URL scheme, for the hint when one is missing.
_DRIVER_HINTS = {"postgresql": "pip install 'numnet[search-pg]'"}


class StorageError(Exception):
    """A storage that cannot be opened: a malformed URL, a missing driver, no connection."""


def is_url(storage: str) -> bool:
    """Whether ``storage`` is a database URL (``scheme://...``) rather than a journal file."""
    return "://" in str(storage)


def describe(storage: str) -> str:
    """``storage`` for messages, with any password hidden."""
    if not is_url(storage):
        return str(storage)
    try:
        from sqlalchemy.engine import make_url

        return make_url(storage).render_as_string(hide_password=True)
    except Exception:
        scheme, _, rest = str(storage).partition("://")
        return f"{scheme}://***" if "@" in rest else str(storage)


def open_storage(
    storage: str | os.PathLike, *, heartbeat: int = HEARTBEAT, grace: int | None = None
):
    """An Optuna storage for a journal file path or a database URL.

    Args:
        storage: a file path (journal; created if missing, its folder must exist) or a URL.
        heartbeat: seconds between heartbeats of a running trial (database storages only).
        grace: seconds without a heartbeat after which a trial is failed (default 2 beats).

    Raises:
        StorageError: one line: what is wrong and, for a missing driver, what to install.
    """
    optuna = require_optuna()
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    for name, v in (("heartbeat", heartbeat), ("grace", grace)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise StorageError(f"{name} must be a whole number of seconds >= 1, got {v!r}")
    with warnings.catch_warnings():
        # Optuna marks the heartbeat and the retry callback experimental; they are what we want.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if not is_url(storage):
            path = Path(storage)
            if not path.parent.is_dir():
                raise StorageError(f"journal file {path}: folder {path.parent} does not exist")
            try:
                return JournalStorage(JournalFileBackend(str(path)))
            except OSError as e:
                raise StorageError(f"cannot open journal file {path}: {e.strerror or e}") from None
        shown = describe(storage)
        url = _parse_url(storage, shown)
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        try:
            for attempt in range(_CREATE_ATTEMPTS):
                try:
                    return RDBStorage(
                        str(storage),
                        heartbeat_interval=heartbeat,
                        grace_period=grace if grace is not None else 2 * heartbeat,
                        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                            max_retry=1
                        ),
                        engine_kwargs={"pool_pre_ping": True},
                    )
                except (IntegrityError, ProgrammingError):
                    # Workers that meet an empty database at the same moment all create
                    # Optuna's tables; all but one collide ("duplicate key", "already exists")
                    # and find the tables made when they try again.
                    if attempt == _CREATE_ATTEMPTS - 1:
                        raise
                    time.sleep(0.2 * (attempt + 1))
        except ImportError:
            hint = _DRIVER_HINTS.get(url.get_backend_name())
            raise StorageError(
                f"--storage {shown}: the database driver {url.drivername!r} is not installed"
                + (f" ({hint})" if hint else "")
            ) from None
        except Exception as e:
            raise StorageError(f"cannot use the storage {shown}: {_first_line(e)}") from None


def _parse_url(storage: str, shown: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(str(storage))
    except (ArgumentError, ValueError) as e:
        raise StorageError(f"--storage {shown} is not a database URL: {_first_line(e)}") from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise StorageError(
            f"--storage {shown}: unknown database {url.drivername!r} (expected e.g. "
            "postgresql+psycopg://user@host:5432/db, mysql+pymysql://..., sqlite:///file.db)"
        ) from None
    except ImportError:
        hint = _DRIVER_HINTS.get(url.get_backend_name())
        raise StorageError(
            f"--storage {shown}: the database driver {url.drivername!r} is not installed"
            + (f" ({hint})" if hint else "")
        ) from None
    return url


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e)
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    return lines[0] if lines else type(e).__name__


def fail_stale(study, storage) -> None:
    """Fail the trials of workers that died: by heartbeat (databases), else by process (here).

    Args:
        study: the study.
        storage: the storage it was opened with (:func:`open_storage`).
    """
    optuna = require_optuna()
    if getattr(storage, "heartbeat_interval", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    else:
        fail_dead_workers(study, storage)


def fail_dead_workers(study, storage) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker process on this machine is gone.

    Each gets the user attributes ``stop_reason = "worker died"`` and is queued again once (as
    the heartbeat does for database storages). Returns the numbers of the trials failed.
    """
    optuna = require_optuna()
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if not isinstance(worker, str) or worker_alive(worker) is not False:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "stop_reason", "worker died")
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        retried = any(
            r.system_attrs.get("failed_trial") == t.number for r in study.get_trials(deepcopy=False)
        )
        if not retried:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
                retry(study, storage.get_trial(t._trial_id))
    return failed
