"""Weekly meeting times, as pure functions.

A circle meets at a local wall-clock time in its own time zone, so the UTC instant
moves when daylight saving changes: we build each date's local time and convert it,
never add 7 × 24 hours to a UTC instant.
"""

import datetime as dt
import zoneinfo


def weekly_starts(
    *,
    weekday: int,
    start_time: dt.time,
    time_zone: str,
    after: dt.datetime,
    weeks: int,
) -> list[dt.datetime]:
    """The next `weeks` meeting starts strictly after `after`, as aware UTC datetimes."""
    tz = zoneinfo.ZoneInfo(time_zone)
    local_now = after.astimezone(tz)
    days_ahead = (weekday - local_now.weekday()) % 7
    first_date = local_now.date() + dt.timedelta(days=days_ahead)
    starts: list[dt.datetime] = []
    day = first_date
    while len(starts) < weeks:
        local = dt.datetime.combine(day, start_time, tzinfo=tz)
        # A wall time skipped by a spring-forward change does not exist; the round
        # trip through UTC moves it forward by the gap, as a clock on the wall would.
        start = local.astimezone(dt.UTC)
        if start > after:
            starts.append(start)
        day += dt.timedelta(days=7)
    return starts
