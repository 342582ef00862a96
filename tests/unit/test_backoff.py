from __future__ import annotations

import random

import pytest

from pgqueue import RetryPolicy


def test_delay_grows_exponentially_then_caps() -> None:
    policy = RetryPolicy(base=1, factor=2, cap=10, jitter=0)
    assert [policy.delay(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_huge_attempt_counts_stay_at_the_cap() -> None:
    assert RetryPolicy(base=1, cap=60, jitter=0).delay(10_000).total_seconds() == 60


def test_jitter_stays_within_its_band_and_spreads() -> None:
    policy = RetryPolicy(base=8, factor=2, cap=1000, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(3, rng=rng).total_seconds() for _ in range(200)]
    assert all(16 <= d <= 32 for d in delays)
    assert max(delays) - min(delays) > 8


@pytest.mark.parametrize("kwargs", [{"base": -1}, {"factor": 0.5}, {"jitter": 1.5}, {"cap": -2}])
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "policy",
    [RetryPolicy(base=0.05, factor=2, cap=5, jitter=0.5), RetryPolicy(base=0.6, factor=3.0, cap=5)],
    ids=["the worker's claim backoff", "a float factor"],
)
def test_every_attempt_count_stays_at_the_cap_without_overflow(policy: RetryPolicy) -> None:
    # A worker whose claims failed for a while reached a streak of 1,025: the
    # base times 2**1024 overflowed a float and stopped the worker
    assert all(policy.delay(n).total_seconds() <= policy.cap for n in range(1, 3000))
