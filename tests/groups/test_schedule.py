"""groups.schedule.weekly_starts: pure, no database.

A circle meets at a local wall-clock time in its own time zone, so across a daylight
saving change the UTC instant moves and the local time does not. Expected instants are
written out by hand (not recomputed with zoneinfo) so the tests can disagree with the code.
"""

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groups.schedule import weekly_starts

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


DST_CASES = [
    pytest.param(
        # BST starts Sunday 29 March 2026 at 01:00 UTC: the evening meeting that day is
        # already on summer time.
        "Europe/London",
        SUN,
        dt.time(19, 30),
        utc(2026, 3, 15, 12, 0),
        [utc(2026, 3, 15, 19, 30), utc(2026, 3, 22, 19, 30), utc(2026, 3, 29, 18, 30)],
        id="london-spring-forward-on-the-change-day",
    ),
    pytest.param(
        "Europe/London",
        WED,
        dt.time(19, 30),
        utc(2026, 3, 20, 0, 0),
        [utc(2026, 3, 25, 19, 30), utc(2026, 4, 1, 18, 30), utc(2026, 4, 8, 18, 30)],
        id="london-spring-forward-midweek",
    ),
    pytest.param(
        # BST ends Sunday 25 October 2026 at 01:00 UTC.
        "Europe/London",
        SUN,
        dt.time(19, 30),
        utc(2026, 10, 12, 0, 0),
        [utc(2026, 10, 18, 18, 30), utc(2026, 10, 25, 19, 30), utc(2026, 11, 1, 19, 30)],
        id="london-fall-back-on-the-change-day",
    ),
    pytest.param(
        # EDT starts Sunday 8 March 2026; 19:30 EST is 00:30 UTC the next day.
        "America/New_York",
        THU,
        dt.time(19, 30),
        utc(2026, 3, 1, 0, 0),
        [utc(2026, 3, 6, 0, 30), utc(2026, 3, 12, 23, 30), utc(2026, 3, 19, 23, 30)],
        id="new-york-spring-forward-utc-date-changes",
    ),
    pytest.param(
        # 02:30 on 8 March 2026 does not exist in New York (02:00 jumps to 03:00): the
        # meeting happens at 03:30 EDT, the same instant 02:30 EST would have been.
        "America/New_York",
        SUN,
        dt.time(2, 30),
        utc(2026, 2, 28, 0, 0),
        [utc(2026, 3, 1, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 6, 30)],
        id="new-york-start-inside-the-spring-forward-gap",
    ),
    pytest.param(
        # 01:30 on 1 November 2026 happens twice in New York: the first (EDT) one counts.
        "America/New_York",
        SUN,
        dt.time(1, 30),
        utc(2026, 10, 20, 0, 0),
        [utc(2026, 10, 25, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)],
        id="new-york-ambiguous-fall-back-hour",
    ),
    pytest.param(
        # Southern hemisphere: AEDT (+11) ends Sunday 5 April 2026, AEST is +10.
        "Australia/Sydney",
        TUE,
        dt.time(19, 0),
        utc(2026, 3, 25, 0, 0),
        [utc(2026, 3, 31, 8, 0), utc(2026, 4, 7, 9, 0), utc(2026, 4, 14, 9, 0)],
        id="sydney-daylight-saving-ends-in-april",
    ),
    pytest.param(
        # AEDT starts again Sunday 4 October 2026.
        "Australia/Sydney",
        TUE,
        dt.time(19, 0),
        utc(2026, 9, 25, 0, 0),
        [utc(2026, 9, 29, 9, 0), utc(2026, 10, 6, 8, 0), utc(2026, 10, 13, 8, 0)],
        id="sydney-daylight-saving-starts-in-october",
    ),
    pytest.param(
        # It is still Tuesday in UTC but already Wednesday 06:00 in Sydney: the weekday
        # is the circle's local one, so Wednesday 07:00 is an hour away, not a week.
        "Australia/Sydney",
        WED,
        dt.time(7, 0),
        utc(2026, 3, 3, 19, 0),
        [utc(2026, 3, 3, 20, 0), utc(2026, 3, 10, 20, 0)],
        id="sydney-local-weekday-ahead-of-utc",
    ),
    pytest.param(
        # Late Monday evening in New York is already Tuesday in UTC.
        "America/New_York",
        MON,
        dt.time(22, 0),
        utc(2026, 6, 1, 12, 0),
        [utc(2026, 6, 2, 2, 0), utc(2026, 6, 9, 2, 0)],
        id="new-york-local-weekday-behind-utc",
    ),
]


@pytest.mark.parametrize(("time_zone", "weekday", "start_time", "after", "expected"), DST_CASES)
def test_weekly_starts_follow_the_local_wall_clock(time_zone, weekday, start_time, after, expected):
    starts = weekly_starts(
        weekday=weekday,
        start_time=start_time,
        time_zone=time_zone,
        after=after,
        weeks=len(expected),
    )

    assert starts == expected
    assert all(start.utcoffset() == dt.timedelta(0) for start in starts)


@pytest.mark.parametrize(
    ("time_zone", "weekday", "start_time", "after"),
    [
        ("Europe/London", SUN, dt.time(19, 30), utc(2026, 3, 1)),
        ("Europe/London", SUN, dt.time(19, 30), utc(2026, 10, 1)),
        ("America/New_York", THU, dt.time(19, 30), utc(2026, 2, 20)),
        ("America/New_York", SUN, dt.time(1, 30), utc(2026, 10, 10)),
        ("Australia/Sydney", TUE, dt.time(19, 0), utc(2026, 3, 10)),
        ("Australia/Sydney", SAT, dt.time(9, 15), utc(2026, 9, 15)),
    ],
)
def test_local_time_and_weekday_never_drift_across_a_season(time_zone, weekday, start_time, after):
    tz = zoneinfo.ZoneInfo(time_zone)
    starts = weekly_starts(
        weekday=weekday, start_time=start_time, time_zone=time_zone, after=after, weeks=12
    )

    local = [start.astimezone(tz) for start in starts]
    assert [(d.weekday(), d.time()) for d in local] == [(weekday, start_time)] * 12
    assert [b.date() - a.date() for a, b in zip(local, local[1:], strict=False)] == [
        dt.timedelta(days=7)
    ] * 11
    # Across the change the UTC hour really did move: a naive "+ 7 days in UTC" would
    # have produced a single offset.
    assert len({d.utcoffset() for d in local}) == 2


def test_a_start_in_the_gap_stays_on_its_weekday_and_moves_forward_by_the_gap():
    tz = zoneinfo.ZoneInfo("America/New_York")
    starts = weekly_starts(
        weekday=SUN,
        start_time=dt.time(2, 30),
        time_zone="America/New_York",
        after=utc(2026, 3, 2),
        weeks=2,
    )

    gap_day, next_week = (start.astimezone(tz) for start in starts)
    assert (gap_day.date(), gap_day.time()) == (dt.date(2026, 3, 8), dt.time(3, 30))
    assert (next_week.date(), next_week.time()) == (dt.date(2026, 3, 15), dt.time(2, 30))


def test_a_meeting_starting_exactly_now_is_not_coming_up():
    start = utc(2026, 6, 3, 18, 30)  # Wednesday 19:30 BST

    starts = weekly_starts(
        weekday=WED, start_time=dt.time(19, 30), time_zone="Europe/London", after=start, weeks=2
    )

    assert starts == [utc(2026, 6, 10, 18, 30), utc(2026, 6, 17, 18, 30)]


def test_a_meeting_later_today_is_the_first_one():
    starts = weekly_starts(
        weekday=WED,
        start_time=dt.time(19, 30),
        time_zone="Europe/London",
        after=utc(2026, 6, 3, 18, 29, 59),
        weeks=1,
    )

    assert starts == [utc(2026, 6, 3, 18, 30)]


def test_after_given_in_another_time_zone_means_the_same_instant():
    instant = utc(2026, 3, 3, 19, 0)
    elsewhere = instant.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    kwargs = {
        "weekday": WED,
        "start_time": dt.time(7, 0),
        "time_zone": "Australia/Sydney",
        "weeks": 4,
    }

    assert weekly_starts(after=elsewhere, **kwargs) == weekly_starts(after=instant, **kwargs)


def test_zero_weeks_is_no_meetings():
    assert (
        weekly_starts(
            weekday=MON,
            start_time=dt.time(9, 0),
            time_zone="Europe/London",
            after=utc(2026, 1, 1),
            weeks=0,
        )
        == []
    )


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@settings(max_examples=200, deadline=None)
@given(
    time_zone=st.sampled_from(ZONES),
    weekday=st.integers(0, 6),
    start_time=st.times(),
    after=st.datetimes(
        min_value=dt.datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis adds the zone)
        max_value=dt.datetime(2030, 12, 31),  # noqa: DTZ001
        timezones=st.just(dt.UTC),
    ),
    weeks=st.integers(1, 10),
)
def test_every_start_is_after_now_on_the_weekday_a_week_apart(
    time_zone, weekday, start_time, after, weeks
):
    tz = zoneinfo.ZoneInfo(time_zone)
    starts = weekly_starts(
        weekday=weekday, start_time=start_time, time_zone=time_zone, after=after, weeks=weeks
    )

    assert len(starts) == weeks
    assert all(start > after for start in starts)
    assert starts == sorted(set(starts))
    local_dates = [start.astimezone(tz).date() for start in starts]
    assert all(day.weekday() == weekday for day in local_dates)
    assert all((b - a).days == 7 for a, b in zip(local_dates, local_dates[1:], strict=False))
    # The first meeting is the next one: no week is skipped.
    assert starts[0] - after <= dt.timedelta(days=7, hours=2)
