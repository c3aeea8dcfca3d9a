"""RateGuard: used-weight header into the budget, Retry-After blocks, fail-fast places."""

from __future__ import annotations

import pytest

from pegbot.execution import errors
from pegbot.execution.budget import RateBudget
from pegbot.execution.quirks import BINANCE
from pegbot.execution.rate_guard import RateGuard

S = 1_000_000_000


def make(now: list[int]) -> tuple[RateGuard, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += int(seconds * S)

    budget = RateBudget.from_exchange_info(
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 1000}],
        safety=1.0,
        now_ns=now[0],
    )
    return RateGuard(BINANCE, lambda: now[0], sleep, budget, "binance"), slept


async def test_header_feeds_budget_only_upwards() -> None:
    now = [7 * 60 * S]
    guard, _ = make(now)
    assert guard.budget is not None
    guard.observe({"X-MBX-USED-WEIGHT-1M": "300"})
    assert guard.used_weight == 300
    assert guard.budget.available(now[0])["REQUEST_WEIGHT"] == 700
    guard.observe({"x-mbx-used-weight-1m": "250"})  # we already counted more: no change
    assert guard.budget.available(now[0])["REQUEST_WEIGHT"] == 700
    guard.observe({"X-MBX-USED-WEIGHT-1M": "garbage"})
    guard.observe({})
    assert guard.used_weight == 250


async def test_retry_after_blocks_then_waits() -> None:
    now = [7 * 60 * S]
    guard, slept = make(now)
    assert guard.on_rate_limited({"Retry-After": "3"}) == 3 * S
    with pytest.raises(errors.RateLimitedError, match="place not sent"):
        await guard.wait("place", fail_fast=True)
    await guard.wait("cancel", fail_fast=False)
    assert sum(slept) == pytest.approx(3)
    assert now[0] >= 7 * 60 * S + 3 * S
    await guard.wait("place", fail_fast=True)  # unblocked now


async def test_missing_retry_after_waits_for_the_window() -> None:
    now = [7 * 60 * S + 45 * S]
    guard, _ = make(now)
    assert guard.on_rate_limited({}) == 15 * S
    assert guard.on_rate_limited({"Retry-After": "soon"}) == 15 * S
    assert guard.rate_limited == 2


async def test_order_count_429_blocks_only_new_orders() -> None:
    now = [7 * 60 * S]
    guard, slept = make(now)
    budget = RateBudget.binance_spot(now_ns=now[0])
    guard.budget = budget
    msg = 'binance 429 {"code":-1015,"msg":"Too many new orders; current limit is 100"}'
    guard.on_rate_limited({"Retry-After": "4"}, msg)
    with pytest.raises(errors.RateLimitedError):
        await guard.wait("place", fail_fast=True)
    await guard.wait("cancel", fail_fast=True)  # cancels go on: they only reduce risk
    assert slept == []
    assert budget.blocked_until_ns == 0
    assert budget.can_spend("cancel", now[0]) and not budget.can_spend("place", now[0])
    await guard.wait("place", fail_fast=False)
    assert sum(slept) == pytest.approx(4)


async def test_a_block_past_the_deadline_is_refused_at_once_one_that_fits_is_waited() -> None:
    now = [7 * 60 * S]
    guard, slept = make(now)
    guard.on_rate_limited({"Retry-After": "30"})
    with pytest.raises(errors.DeadlineError, match="cancel_all not sent") as err:
        await guard.wait("cancel_all", fail_fast=False, deadline_ns=now[0] + 20 * S)
    assert slept == [] and err.value.outcome_unknown and not err.value.counts_as_reject
    assert "30.0 s" in str(err.value) and "20.0 s left" in str(err.value)
    # The same block with a later deadline is waited out, then the request may go.
    await guard.wait("cancel_all", fail_fast=False, deadline_ns=now[0] + 31 * S)
    assert sum(slept) == pytest.approx(30.0)
    # No block: the deadline changes nothing.
    await guard.wait("open_orders", fail_fast=False, deadline_ns=now[0])


async def test_a_block_holds_before_the_budget_exists_and_carries_over() -> None:
    # A ban can be the reply to a process's very first request, before any budget is built.
    now = [7 * 60 * S]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += int(seconds * S)

    guard = RateGuard(BINANCE, lambda: now[0], sleep, None, "binance")
    msg = 'binance 418 {"code":-1003,"msg":"Way too much request weight used; IP banned"}'
    guard.on_rate_limited({"Retry-After": "120"}, msg)
    with pytest.raises(errors.RateLimitedError):
        await guard.wait("lookup", fail_fast=True)
    with pytest.raises(errors.DeadlineError):  # a shutdown's cancel-all: refused, not sent
        await guard.wait("cancel_all", fail_fast=False, deadline_ns=now[0] + 20 * S)
    assert slept == []
    budget = RateBudget.binance_spot(now_ns=now[0])
    heard: list[int] = []
    budget.on_block = heard.append
    guard.budget = budget
    assert budget.blocked_until_ns == guard.blocked_until_ns == 7 * 60 * S + 120 * S
    assert heard == [budget.blocked_until_ns]
    await guard.wait("balances", fail_fast=False)
    assert sum(slept) == pytest.approx(120)


def test_budget_block_tells_its_listener_only_when_extended() -> None:
    budget = RateBudget.binance_spot(now_ns=0)
    heard: list[int] = []
    budget.on_block = heard.append
    assert budget.block(10 * S)
    assert not budget.block(5 * S)  # inside the block already
    budget.on_rate_limited(2 * S, 30 * S)
    assert heard == [10 * S, 32 * S] and budget.blocked_until_ns == 32 * S
    # The exchange's declared limits replace the defaults; the block and listener stay.
    other = RateBudget.from_exchange_info(
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 1200}], now_ns=0
    )
    budget.adopt(other)
    assert budget.blocked_until_ns == 32 * S and budget.on_block is not None
    assert [b.limit.limit for b in budget.buckets] == [960]


async def test_order_count_headers_feed_the_orders_buckets_of_their_window() -> None:
    now = [7 * 60 * S]
    budget = RateBudget.from_exchange_info(
        [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        safety=1.0,
        now_ns=now[0],
    )

    async def sleep(seconds: float) -> None:
        now[0] += int(seconds * S)

    guard = RateGuard(BINANCE, lambda: now[0], sleep, budget, "binance")
    guard.observe({"X-MBX-ORDER-COUNT-10S": "60", "X-MBX-ORDER-COUNT-1D": "1234"})
    ten, day = sorted(budget.buckets, key=lambda b: b.limit.window_ns)
    assert ten.tokens(now[0]) == 40 and day.tokens(now[0]) == 200000 - 1234
    guard.observe({"X-MBX-ORDER-COUNT-10S": "10"})  # fewer than counted: never given back
    assert ten.tokens(now[0]) == 40


async def test_a_websocket_api_ban_is_held_until_its_retry_after() -> None:
    # A WebSocket API reply has no headers: the error's data says when the ban ends (Unix ms).
    now = [1_796_609_000 * S]
    guard, _ = make(now)
    until_ms = now[0] // 1_000_000 + 95_000
    msg = (
        'binance {"code":-1003,"msg":"Way too much request weight used; IP banned until '
        f'{until_ms}.","data":{{"serverTime":{now[0] // 1_000_000},"retryAfter":{until_ms}}}}}'
    )
    assert guard.on_rate_limited(None, msg) == 95 * S  # not the rest of the minute
    assert guard.blocked_until_ns == until_ms * 1_000_000
    # A stale header from an older REST reply never shortens it.
    assert guard.on_rate_limited({"Retry-After": "3"}, msg) == 95 * S
