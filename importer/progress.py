"""Progress of running imports, shared between the worker and the web through the cache.

The apply step runs in one transaction, so a progress figure written to the run's row would
stay invisible until the end; the cache is outside the transaction.
"""

from __future__ import annotations

import time

from django.core.cache import cache

_TIMEOUT = 6 * 60 * 60


def _key(run_id: int) -> str:
    return f"importer:progress:{run_id}"


def read(run_id: int) -> dict | None:
    """Return {"stage", "done", "total", "percent"} of a running import, or None."""
    return cache.get(_key(run_id))


def clear(run_id: int) -> None:
    cache.delete(_key(run_id))


class Reporter:
    """Write progress for one run at most every `interval` seconds, plus at each stage change."""

    def __init__(self, run_id: int, *, interval: float = 0.5):
        self.run_id = run_id
        self.interval = interval
        self._last_write = 0.0
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last_write < self.interval and done < total:
            return
        self._stage = stage
        self._last_write = now
        percent = int(done * 100 / total) if total else 0
        cache.set(
            _key(self.run_id),
            {"stage": stage, "done": done, "total": total, "percent": min(percent, 100)},
            _TIMEOUT,
        )


def ignore(stage: str, done: int, total: int) -> None:
    """Report nowhere (for in-process runs nobody watches)."""
