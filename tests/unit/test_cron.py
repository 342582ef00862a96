"""A schedule's ticks (pgqueue.cron): cron in a time zone across the nights
its clock changes, fixed intervals, and the policy for missed ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from pgqueue.cron import LATE, InvalidSchedule, Policy, Timing, due

BERLIN = "Europe/Berlin"  # 2026: spring forward 29 March 02:00, fall back 25 October 03:00
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ticks(timing: Timing, after: datetime, count: int) -> list[datetime]:
    found = timing.after(after)
    return [next(found) for _ in range(count)]


def test_a_daily_time_the_spring_forward_skips_fires_once_right_after_it() -> None:
    nightly = Timing("30 2 * * *", None, BERLIN, ANCHOR)
    assert ticks(nightly, utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_a_daily_time_the_fall_back_repeats_fires_once() -> None:
    nightly = Timing("30 2 * * *", None, BERLIN, ANCHOR)
    assert ticks(nightly, utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30),  # the first 02:30 (CEST), not the second (CET)
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]


def test_an_hourly_schedule_fires_every_hour_that_passes_on_both_nights() -> None:
    hourly = Timing("0 * * * *", None, BERLIN, ANCHOR)
    spring = ticks(hourly, utc(2026, 3, 28, 23, 30), 4)
    fall = ticks(hourly, utc(2026, 10, 24, 22, 30), 5)
    assert [b - a for a, b in pairwise(spring)] == [timedelta(hours=1)] * 3
    assert [b - a for a, b in pairwise(fall)] == [timedelta(hours=1)] * 4


def test_six_fields_put_seconds_first_and_an_interval_counts_from_its_anchor() -> None:
    assert ticks(Timing("5 * * * * *", None, "UTC", ANCHOR), utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 0, 0, 5),
        utc(2026, 1, 1, 0, 1, 5),
    ]
    every = Timing(None, timedelta(seconds=90), "UTC", utc(2026, 1, 1, 0, 0, 10))
    assert ticks(every, utc(2026, 1, 1, 0, 3), 2) == [
        utc(2026, 1, 1, 0, 3, 10),
        utc(2026, 1, 1, 0, 4, 40),
    ]
    assert list(every.before(utc(2026, 1, 1, 0, 3))) == [
        utc(2026, 1, 1, 0, 1, 40),
        utc(2026, 1, 1, 0, 0, 10),
    ]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"cron": "61 * * * *", "every": None}, "cron: '61 \\* \\* \\* \\*': Bad minute"),
        ({"cron": "* * *", "every": None}, "cron: .* has 3 fields"),
        ({"cron": None, "every": None}, "a cron expression or an interval"),
        ({"cron": "* * * * *", "every": timedelta(seconds=5)}, "a cron expression or an interval"),
        ({"cron": None, "every": timedelta(milliseconds=10)}, "every: .* is under a second"),
        (
            {"cron": "* * * * *", "every": None, "timezone": "Mars/Olympus"},
            "timezone: 'Mars/Olympus'",
        ),
    ],
)
def test_a_timing_that_cannot_be_says_which_field(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidSchedule, match=says):
        Timing(**{"timezone": "UTC", "anchor": ANCHOR, **kwargs})  # type: ignore[arg-type]


EVERY_MINUTE = Timing("* * * * *", None, "UTC", ANCHOR)


def test_ticks_less_than_late_are_all_enqueued_and_the_watermark_is_the_latest() -> None:
    now = utc(2026, 5, 1, 12, 0, 30)
    found = due(EVERY_MINUTE, Policy(), utc(2026, 5, 1, 11, 59), now)
    assert found.ticks == (utc(2026, 5, 1, 12, 0),)
    assert (found.watermark, found.next_tick, found.skipped) == (
        utc(2026, 5, 1, 12, 0),
        utc(2026, 5, 1, 12, 1),
        0,
    )
    # nothing due: the watermark stays
    assert due(EVERY_MINUTE, Policy(), utc(2026, 5, 1, 12, 0), now).ticks == ()


def test_skip_drops_the_ticks_missed_during_a_downtime() -> None:
    now = utc(2026, 5, 1, 12, 0, 30)
    found = due(EVERY_MINUTE, Policy(), now - timedelta(hours=1), now)
    # the one tick less than LATE late is enqueued; the 59 before it are skipped
    assert found.ticks == (utc(2026, 5, 1, 12, 0),) and timedelta(minutes=1) == LATE
    assert (found.watermark, found.skipped) == (utc(2026, 5, 1, 12, 0), 59)


def test_backfill_by_count_enqueues_the_latest_missed_ticks_oldest_first() -> None:
    now = utc(2026, 5, 1, 12, 0, 30)
    found = due(EVERY_MINUTE, Policy("backfill", count=3), now - timedelta(hours=1), now)
    # three missed (more than LATE late), then the one that is not
    assert found.ticks == tuple(
        utc(2026, 5, 1, h, m) for h, m in ((11, 57), (11, 58), (11, 59), (12, 0))
    )
    assert found.skipped == 56


def test_backfill_by_window_enqueues_the_missed_ticks_within_it() -> None:
    now = utc(2026, 5, 1, 12, 0, 30)
    found = due(
        EVERY_MINUTE, Policy("backfill", window=timedelta(minutes=5)), now - timedelta(hours=1), now
    )
    assert found.ticks == tuple(
        utc(2026, 5, 1, h, m) for h, m in ((11, 56), (11, 57), (11, 58), (11, 59), (12, 0))
    )
    assert found.skipped == 55


def test_backfill_never_enqueues_a_tick_at_or_before_the_watermark() -> None:
    now = utc(2026, 5, 1, 12, 0, 30)
    found = due(EVERY_MINUTE, Policy("backfill", count=100), utc(2026, 5, 1, 11, 58), now)
    assert found.ticks == (utc(2026, 5, 1, 11, 59), utc(2026, 5, 1, 12, 0))


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ({"missed": "later"}, "missed: 'skip' or 'backfill'"),
        ({"missed": "backfill"}, "backfill: say how far back"),
        ({"missed": "skip", "count": 3}, "backfill: a count or window is for"),
        ({"missed": "backfill", "count": 0}, "backfill: a count from 1 to 1000"),
        ({"missed": "backfill", "window": timedelta(0)}, "backfill_window: "),
    ],
)
def test_a_policy_that_cannot_be_says_which_field(policy: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidSchedule, match=says):
        Policy(**policy)  # type: ignore[arg-type]
