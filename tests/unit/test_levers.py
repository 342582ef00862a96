"""The flow-control levers as values: rates as people write them, and the
one-line refusals that name the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgqueue.levers import InvalidLimit, Limit, Rate, fair_share_of


@pytest.mark.parametrize(
    ("text", "count", "period", "shown"),
    [
        ("50/1s", 50, timedelta(seconds=1), "50/1s"),
        ("1000/1h", 1000, timedelta(hours=1), "1000/1h"),
        (" 5 / 250ms ", 5, timedelta(milliseconds=250), "5/250ms"),
        ("10/90s", 10, timedelta(seconds=90), "10/90s"),
    ],
)
def test_a_rate_reads_as_people_write_it(
    text: str, count: int, period: timedelta, shown: str
) -> None:
    rate = Rate.parse(text)
    assert (rate.count, rate.period, str(rate)) == (count, period, shown)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("50", "'50' is not N/PERIOD"),
        ("50/", "'50/' is not N/PERIOD"),
        ("-1/1s", "is not N/PERIOD"),
        ("0/1s", "the count must be a positive integer"),
        ("5/0s", "the period must be a positive duration"),
        ("5/1", "'1' has no unit"),
    ],
)
def test_a_bad_rate_is_refused_in_one_line_naming_the_field(text: str, why: str) -> None:
    with pytest.raises(InvalidLimit, match=why) as raised:
        Rate.parse(text)
    assert str(raised.value).startswith("rate: ")
    assert "\n" not in str(raised.value)


def test_a_limit_says_what_it_allows_and_whether_it_is_full() -> None:
    both = Limit("tool_kind", "http", 10, Rate(50, timedelta(seconds=1)), running=3, started=50)
    assert both.levers == "at most 10 running, at most 50 starts in any 1s"
    assert (both.running_full, both.rate_full, both.full) == (False, True, True)
    rate_only = Limit("key", "t", None, Rate(5, timedelta(minutes=1)), started=4)
    assert (rate_only.running_full, rate_only.full, rate_only.name) == (False, False, "key t")


def test_fair_share_is_execution_key_or_off() -> None:
    assert [fair_share_of(v) for v in ("execution", "key", "off", None)] == [
        "execution",
        "key",
        None,
        None,
    ]
    with pytest.raises(InvalidLimit, match="fair_share: 'execution', 'key' or 'off'"):
        fair_share_of("tenant")
