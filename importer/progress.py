"""Progress of running imports, shared between the worker and the web through the cache.

The apply step runs in one transaction, so a progress figure written to the run's row would
stay invisible until the end; the cache is outside the transaction.

Progress is best effort: a cache that cannot be reached (Redis restarting, say) loses figures,
never an import. Every read and write here swallows the cache's errors and logs them once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

from django.core.cache import cache

logger = logging.getLogger(__name__)

_TIMEOUT = 6 * 60 * 60


def _key(run_id: int) -> str:
    return f"importer:progress:{run_id}"


# What read() returns while the cache cannot be reached: the page says the workers cannot be.
UNREACHABLE = {"unreachable": True}


def read(run_id: int) -> dict | None:
    """Return {"stage", "done", "total", "percent"} of a running import, None, or UNREACHABLE."""
    try:
        return cache.get(_key(run_id))
    except Exception:
        logger.warning("Progress of run %s could not be read from the cache", run_id, exc_info=True)
        return UNREACHABLE


def clear(run_id: int) -> None:
    try:
        cache.delete(_key(run_id))
    except Exception:
        logger.warning("Progress of run %s could not be cleared", run_id, exc_info=True)


class Reporter:
    """Write progress for one run at most every `interval` seconds, plus at each stage change.

    Used as a context manager, it also repeats the latest figure from a background thread
    while the work sits in one long call that cannot report (openpyxl loading a workbook's
    shared strings, one large SQL statement), so the page hears from the worker at least every
    `interval` seconds; leaving the block stops the thread.
    """

    def __init__(self, run_id: int, *, interval: float = 0.5):
        self.run_id = run_id
        self.interval = interval
        self._last_write = 0.0
        self._stage = ""
        self._latest: tuple[str, int, int] | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._latest = (stage, done, total)
            now = time.monotonic()
            # The last figure of a stage is always written; a total of 0 means unknown.
            final = total and done >= total
            if stage == self._stage and now - self._last_write < self.interval and not final:
                return
            self._write(stage, done, total, now)

    def _write(self, stage: str, done: int, total: int, now: float) -> None:
        self._stage = stage
        self._last_write = now
        percent = int(done * 100 / total) if total else 0
        figure = {"stage": stage, "done": done, "total": total, "percent": min(percent, 100)}
        try:
            cache.set(_key(self.run_id), figure, _TIMEOUT)
        except Exception:
            if not self._failed:  # Once per run: the cache may stay down for the whole import.
                logger.warning("Progress of run %s is not reaching the cache", self.run_id)
            self._failed = True
        else:
            self._failed = False

    def __enter__(self) -> Self:
        self._thread = threading.Thread(
            target=self._keep_alive, name=f"progress-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        # The thread may have repeated a figure after the run cleared it: the work is over.
        clear(self.run_id)

    def _keep_alive(self) -> None:
        # Wakes when a write falls due (an interval after the last one, whoever made it), so a
        # figure is late only by however long the work held the GIL in one C call; waking on a
        # fixed beat instead made it late by up to a beat more, or took the GIL more often.
        delay = self.interval
        while not self._stopped.wait(delay):
            with self._lock:
                now = time.monotonic()
                if self._latest is None:
                    continue  # Nothing reported yet: look again in an interval.
                if now - self._last_write >= self.interval:
                    self._write(*self._latest, now)
                delay = max(self._last_write + self.interval - now, 0.001)


def ignore(stage: str, done: int, total: int) -> None:
    """Report nowhere (for in-process runs nobody watches)."""
