"""Binance's rate limits in the simulator: weights, 429 with Retry-After, 418 bans, order counts."""

from __future__ import annotations

import pytest

from pegbot.sim.config import RateLimitConfig
from pegbot.sim.errors import SimError
from pegbot.sim.ratelimit import RateLimiter, request_weight

S = 1_000_000_000
T0 = 1_700_000_020 * S  # 40 s into a minute


def test_weights() -> None:
    assert request_weight("GET", "/api/v3/depth", {"limit": "100"}) == 5
    assert request_weight("GET", "/api/v3/depth", {"limit": "1000"}) == 50
    assert request_weight("GET", "/api/v3/depth", {"limit": "5000"}) == 250
    assert request_weight("GET", "/api/v3/openOrders", {}) == 80
    assert request_weight("GET", "/api/v3/openOrders", {"symbol": "X"}) == 6
    assert request_weight("GET", "/api/v3/exchangeInfo", {}) == 20


def test_429_then_418_ban_then_reset() -> None:
    rl = RateLimiter(RateLimitConfig(weight_per_minute=10, ban_after_429s=2, ban_seconds=300))
    assert rl.charge("ip", 6, T0) == 6
    assert rl.charge("ip", 4, T0) == 10
    with pytest.raises(SimError) as info:
        rl.charge("ip", 1, T0 + 5 * S)
    assert info.value.status == 429 and info.value.code == -1003
    assert info.value.headers["Retry-After"] == "15"  # to the end of the minute
    assert rl.charge("other", 1, T0) == 1  # per IP
    with pytest.raises(SimError):
        rl.charge("ip", 1, T0 + 6 * S)
    with pytest.raises(SimError) as info:  # third rejection in the window: banned
        rl.charge("ip", 1, T0 + 7 * S)
    assert info.value.status == 418 and info.value.headers["Retry-After"] == "300"
    with pytest.raises(SimError) as info:  # still banned in the next minute
        rl.charge("ip", 1, T0 + 60 * S)
    assert info.value.status == 418
    assert rl.charge("ip", 1, T0 + 308 * S) == 1  # ban over, a fresh window


def test_order_count_limit() -> None:
    rl = RateLimiter(RateLimitConfig(orders_per_10s=2))
    assert rl.count_order("acct", T0) == (1, 1)
    assert rl.count_order("acct", T0 + 1) == (2, 2)
    with pytest.raises(SimError) as info:
        rl.count_order("acct", T0 + 2)
    assert (info.value.status, info.value.code) == (429, -1015)
    assert rl.count_order("acct", T0 + 10 * S) == (1, 3)


def test_disabled() -> None:
    rl = RateLimiter(RateLimitConfig(enabled=False, weight_per_minute=1))
    for _ in range(5):
        rl.charge("ip", 100, T0)


def test_requests_while_banned_are_counted_and_the_ban_says_when_it_ends() -> None:
    rl = RateLimiter(RateLimitConfig(weight_per_minute=10, ban_after_429s=1, ban_seconds=300))
    rl.spend("ip", 0, T0, rejected=1)  # another client on the IP kept going after a 429
    with pytest.raises(SimError) as info:  # the next request earns the ban: not counted
        rl.charge("ip", 1, T0 + 1 * S)
    assert info.value.status == 418
    assert info.value.retry_after_ms == (T0 + 301 * S) // 1_000_000  # the WS API's retryAfter
    assert rl.requests_while_banned == {}
    for t in (2, 3, 200):
        with pytest.raises(SimError):
            rl.charge("ip", 1, T0 + t * S)
    assert rl.requests_while_banned == {"ip": 3}
    assert rl.banned_request_ages["ip"] == [S, 2 * S, 199 * S]
    assert rl.state(T0 + 2 * S)["bans"] == {"ip": (T0 + 301 * S) // 1_000_000}
    rl.reset()  # an audit figure: kept across a reset of the limits
    assert rl.requests_while_banned == {"ip": 3}


def test_a_burst_already_sent_when_the_first_429_went_out_counts_as_one() -> None:
    # Four requests land within a millisecond of the limit: the client could not have read
    # the first 429 before sending the others, so no ban; three more after it has: banned.
    lim = RateLimiter(RateLimitConfig(weight_per_minute=10, ban_after_429s=3, ban_reaction_ms=50))
    t = 60 * 10**9 * 1000  # the start of a minute
    lim.charge("ip", 10, t)
    statuses = []
    for i in range(4):
        try:
            lim.charge("ip", 1, t + i * 100_000)
        except SimError as exc:
            statuses.append(exc.status)
    assert statuses == [429, 429, 429, 429]
    later = []
    for i in range(3):
        try:
            lim.charge("ip", 1, t + (i + 1) * 60_000_000)
        except SimError as exc:
            later.append(exc.status)
    assert later == [429, 429, 418]
