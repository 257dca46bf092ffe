"""When a remote source is next due: cadence, daily hour, and the back-off after failures."""

import datetime as dt
from zoneinfo import ZoneInfo

from importer.remote.schedule import (
    first_fetch,
    next_fetch_after_failure,
    next_regular_fetch,
    retry_delay,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 14, 20, tzinfo=UTC)


def test_hourly_is_due_an_hour_later_and_at_once_when_first_chosen():
    assert next_regular_fetch("hourly", 6, NOW) == NOW + dt.timedelta(hours=1)
    assert first_fetch("hourly", 6, NOW) == NOW


def test_daily_is_due_at_its_hour_today_or_tomorrow(settings):
    settings.TIME_ZONE = "UTC"

    assert next_regular_fetch("daily", 18, NOW) == dt.datetime(2026, 3, 10, 18, tzinfo=UTC)
    assert next_regular_fetch("daily", 6, NOW) == dt.datetime(2026, 3, 11, 6, tzinfo=UTC)
    assert next_regular_fetch("daily", 14, NOW) == dt.datetime(2026, 3, 11, 14, tzinfo=UTC)


def test_daily_hour_is_read_in_the_configured_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"

    due = next_regular_fetch("daily", 6, NOW)

    assert due == dt.datetime(2026, 3, 11, 6, tzinfo=ZoneInfo("Europe/Berlin"))


def test_manual_is_never_due():
    assert next_regular_fetch("manual", 6, NOW) is None
    assert first_fetch("manual", 6, NOW) is None
    assert next_fetch_after_failure("manual", 6, 3, NOW) is None


def test_retries_back_off_by_doubling_from_five_minutes():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=10),
        dt.timedelta(minutes=20),
        dt.timedelta(minutes=40),
    ]


def test_a_retry_never_waits_longer_than_the_cadence(settings):
    settings.TIME_ZONE = "UTC"

    assert next_fetch_after_failure("hourly", 6, 1, NOW) == NOW + dt.timedelta(minutes=5)
    assert next_fetch_after_failure("hourly", 6, 5, NOW) == NOW + dt.timedelta(hours=1)
    assert next_fetch_after_failure("daily", 6, 30, NOW) == dt.datetime(2026, 3, 11, 6, tzinfo=UTC)


def test_the_schedule_knows_every_cadence_a_source_can_have():
    from importer.models import RemoteSource
    from importer.remote import schedule

    assert {schedule.HOURLY, schedule.DAILY} == set(RemoteSource.Cadence.values) - {"manual"}
