"""When a remote source is next due: its cadence, the daily hour, the back-off after failures.

No database and no clock: every time comes in as an argument. A daily hour is read in the
configured time zone (settings.TIME_ZONE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

# RemoteSource.Cadence's values.
HOURLY = "hourly"
DAILY = "daily"

RETRY_BASE = timedelta(minutes=5)


def next_regular_fetch(cadence: str, daily_hour: int, after: datetime) -> datetime | None:
    """Return when a source with this cadence is next due after `after` (None: manual only).

    Daily fetches happen at `daily_hour` o'clock in settings.TIME_ZONE.
    """
    if cadence == HOURLY:
        return after + timedelta(hours=1)
    if cadence == DAILY:
        local = timezone.localtime(after)
        due = local.replace(hour=daily_hour, minute=0, second=0, microsecond=0)
        if due <= local:
            due += timedelta(days=1)
        return due
    return None


def first_fetch(cadence: str, daily_hour: int, now: datetime) -> datetime | None:
    """Return when a source whose cadence was just chosen is first due.

    Hourly starts at once (the next dispatcher round); daily waits for its hour.
    """
    if cadence == HOURLY:
        return now
    return next_regular_fetch(cadence, daily_hour, now)


def retry_delay(failures: int) -> timedelta:
    """Return how long to wait after `failures` failed syncs in a row: 5 min, 10, 20, …"""
    return RETRY_BASE * 2 ** min(max(failures - 1, 0), 12)


def next_fetch_after_failure(
    cadence: str, daily_hour: int, failures: int, now: datetime
) -> datetime | None:
    """Return when to try again: after the retry delay, but never later than the cadence."""
    regular = next_regular_fetch(cadence, daily_hour, now)
    if regular is None:
        return None
    return min(regular, now + retry_delay(failures))
