"""The rate budget: exact token buckets from the exchange's limits and weights."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.budget import RateBudget, RateLimit, TokenBucket

SEC = 1_000_000_000


def test_bucket_refills_evenly_and_exactly() -> None:
    b = TokenBucket(RateLimit("ORDERS", 10, SEC), now_ns=0)
    assert b.tokens(0) == 10
    b.take(10, 0)
    assert b.tokens(0) == 0
    assert b.tokens(SEC // 10 - 1) == 0
    assert b.tokens(SEC // 10) == 1
    assert b.tokens(5 * SEC) == 10  # capped at capacity
    assert not b.can_take(11, 5 * SEC)
    b.take(3, 5 * SEC)
    assert b.tokens(4 * SEC) == 7  # time going backwards refills nothing


def test_binance_spot_limits() -> None:
    budget = RateBudget.binance_spot(safety=1.0)
    assert budget.available(0) == {"REQUEST_WEIGHT": 6000, "ORDERS": 10, "RAW_REQUESTS": 61000}
    # Places stop at the ORDERS limit; cancels (no order count) go on.
    placed = sum(budget.try_spend("place", 0) for _ in range(20))
    assert placed == 10
    assert budget.try_spend("cancel", 0)
    assert budget.available(0)["REQUEST_WEIGHT"] == 6000 - 11


def test_from_exchange_info_applies_safety_and_intervals() -> None:
    budget = RateBudget.from_exchange_info(
        [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        safety=0.5,
    )
    assert [(b.limit.kind, b.limit.limit, b.limit.window_ns) for b in budget.buckets] == [
        ("REQUEST_WEIGHT", 3000, 60 * SEC),
        ("ORDERS", 50, 10 * SEC),
        ("ORDERS", 100000, 86_400 * SEC),
    ]
    assert budget.available(0)["ORDERS"] == 50  # the tighter of the two ORDERS limits
    with pytest.raises(ValueError):
        RateBudget.from_exchange_info([{"rateLimitType": "X", "interval": "WEEK", "limit": 1}])
    with pytest.raises(ValueError):
        RateBudget.from_exchange_info([], safety=0)


def test_reserve_is_left_for_cancels() -> None:
    budget = RateBudget([RateLimit("REQUEST_WEIGHT", 100, 60 * SEC)], now_ns=0)
    assert budget.place_reserve == {"REQUEST_WEIGHT": 5}  # 5 % of what cancels draw on
    placed = sum(budget.try_spend("place", 0) for _ in range(200))
    assert placed == 95
    cancelled = sum(budget.try_spend("cancel", 0) for _ in range(200))
    assert cancelled == 5


def test_rate_limited_blocks_until_retry_after() -> None:
    budget = RateBudget.binance_spot()
    budget.on_rate_limited(now_ns=10 * SEC, retry_after_ns=30 * SEC)
    assert not budget.can_spend("cancel", 10 * SEC)
    assert not budget.can_spend("cancel", 39 * SEC)
    assert budget.can_spend("cancel", 40 * SEC)
    with pytest.raises(KeyError, match="teleport"):
        budget.can_spend("teleport", 40 * SEC)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 50),
    st.integers(1, 5 * SEC),
    st.lists(st.tuples(st.integers(0, SEC), st.integers(1, 5)), max_size=60),
)
def test_never_more_than_the_limit_in_any_window(
    limit: int, window: int, steps: list[tuple[int, int]]
) -> None:
    budget = RateBudget([RateLimit("W", limit, window)], weights={"x": {"W": 1}}, place_reserve={})
    now = 0
    sent: list[int] = []
    for gap, n in steps:
        now += gap
        for _ in range(n):
            if budget.try_spend("x", now):
                sent.append(now)
    # A full bucket plus the refill: at most limit + limit × span / window in any span.
    for i, t0 in enumerate(sent):
        for j in range(i, len(sent)):
            span = sent[j] - t0
            assert j - i + 1 <= limit + limit * span // window
