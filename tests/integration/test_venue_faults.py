"""CcxtVenue under the simulator's faults: time-outs, 5xx, 429 back-off, clock skew.

The simulator's REST faults are the real failure modes: ``5xx`` answers 503 before doing
anything; ``timeout`` executes the request and then stalls the reply, so the client times out
with the order already on the book. Neither may ever leave a duplicate order. The venue here
sends its orders over REST (``ws_orders=False``), the path these faults reach.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import SecretStr

from pegbot.execution import errors
from pegbot.execution.budget import RateBudget
from pegbot.execution.ccxt_venue import CcxtVenue, make_ccxt_venue
from pegbot.market import Side
from pegbot.sim.config import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    AccountConfig,
    RateLimitConfig,
    SimConfig,
)
from pegbot.sim.testing import SimHandle, default_sim_config

pytestmark = pytest.mark.timeout(60)

BID = 1140


def build(sim: SimHandle, **kw: Any) -> CcxtVenue:
    return make_ccxt_venue(
        "binance",
        "KGST/USDT",
        api_key=DEMO_API_KEY,
        secret=DEMO_API_SECRET,
        http_url=sim.http_url,
        ws_url=sim.ws_url,
        enable_rate_limit=False,
        ws_orders=False,
        **kw,
    )


async def exchange_orders(sim: SimHandle) -> Counter[str]:
    """Client ids of every order the exchange holds for the demo account (any state)."""
    rest = sim.client()
    await rest.load_markets()
    return Counter(o["clientOrderId"] for o in await rest.fetch_orders("KGST/USDT"))


class FaultsOffAfter:
    """An injected sleep that turns the simulator's faults off after ``n`` pauses."""

    def __init__(self, sim: SimHandle, n: int) -> None:
        self.sim = sim
        self.n = n
        self.calls = 0

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == self.n:
            await self.sim.admin("faults", {"rest_fail_rate": 0.0})


async def test_timeout_after_execution_is_looked_up_not_resent(sim: SimHandle) -> None:
    venue = build(sim, timeout_ms=300)
    await venue.start(user_stream=False)
    venue.sleep = FaultsOffAfter(sim, 1)
    try:
        await sim.admin(
            "faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "timeout", "rest_timeout_s": 0.6}
        )
        placed = await venue.place(Side.BUY, BID, 1000, "pegbot-f1-b0-1")
        assert placed.client_id == "pegbot-f1-b0-1" and placed.state.is_open
        assert venue.counters["lookups"] == 1
        assert venue.counters.get("resends", 0) == 0
        assert await exchange_orders(sim) == Counter({"pegbot-f1-b0-1": 1})
    finally:
        await venue.close()


async def test_5xx_before_execution_is_resent_once(sim: SimHandle) -> None:
    venue = build(sim)
    await venue.start(user_stream=False)
    # place 503, lookup 503, pause (faults off), lookup: not found, re-send: placed.
    venue.sleep = FaultsOffAfter(sim, 1)
    try:
        await sim.admin("faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "5xx"})
        placed = await venue.place(Side.BUY, BID, 1000, "pegbot-f1-b0-2")
        assert placed.state.is_open
        assert venue.counters["resends"] == 1
        assert await exchange_orders(sim) == Counter({"pegbot-f1-b0-2": 1})
    finally:
        await venue.close()


async def test_lookup_never_answers_raises_outcome_unknown(sim: SimHandle) -> None:
    venue = build(sim, timeout_ms=300)
    await venue.start(user_stream=False)

    async def no_pause(seconds: float) -> None:
        return None

    venue.sleep = no_pause
    try:
        await sim.admin(
            "faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "timeout", "rest_timeout_s": 0.4}
        )
        with pytest.raises(errors.OutcomeUnknownError):
            await venue.place(Side.BUY, BID, 1000, "pegbot-f1-b0-3")
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        # The order did arrive; asking again (same client id) finds it, places nothing.
        again = await venue.place(Side.BUY, BID, 1000, "pegbot-f1-b0-3")
        assert again.state.is_open
        assert await exchange_orders(sim) == Counter({"pegbot-f1-b0-3": 1})
    finally:
        await venue.close()


async def test_random_5xx_never_duplicates(sim: SimHandle) -> None:
    venue = build(sim)
    await venue.start(user_stream=False)

    async def no_pause(seconds: float) -> None:
        return None

    venue.sleep = no_pause
    ok: set[str] = set()
    try:
        await sim.admin("faults", {"rest_fail_rate": 0.4, "rest_fail_mode": "5xx"})
        for n in range(25):
            cid = f"pegbot-f2-b{n}-{n}"
            try:
                await venue.place(Side.BUY, BID - n, 1000, cid)
                ok.add(cid)
            except errors.OutcomeUnknownError:
                pass
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        held = await exchange_orders(sim)
        assert max(held.values()) == 1
        assert ok <= set(held)
        assert len(ok) >= 15
        assert venue.counters.get("resends", 0) > 0
    finally:
        await venue.close()


async def test_clock_skew_resyncs_and_retries_once(sim: SimHandle) -> None:
    venue = build(sim)
    await venue.start(user_stream=False)
    try:
        await sim.admin("faults", {"clock_skew_ms": -15000})
        placed = await venue.place(Side.BUY, BID, 1000, "pegbot-f3-b0-1")
        assert placed.state.is_open
        assert venue.counters["clock_resync"] == 1
        assert abs(venue.client.options["timeDifference"] - 15000) < 1000
        await venue.balances()  # later requests carry the corrected time
        assert venue.counters["clock_resync"] == 1
    finally:
        await venue.close()


@pytest.fixture
def sim_config(request: pytest.FixtureRequest) -> SimConfig:
    """A tight weight limit (100 a minute, banned after one ignored 429) for the 429 test."""
    if "ordercount" in request.node.name:
        return SimConfig(
            accounts=(AccountConfig(api_key=DEMO_API_KEY, api_secret=SecretStr(DEMO_API_SECRET)),),
            rate_limits=RateLimitConfig(orders_per_10s=3),
            depth_interval_ms=20,
        )
    if "ratelimited" not in request.node.name:
        return default_sim_config()
    return SimConfig(
        accounts=(AccountConfig(api_key=DEMO_API_KEY, api_secret=SecretStr(DEMO_API_SECRET)),),
        rate_limits=RateLimitConfig(weight_per_minute=100, ban_after_429s=1, ban_seconds=300),
        depth_interval_ms=20,
    )


async def test_ratelimited_429_blocks_until_retry_after_and_no_418(sim: SimHandle) -> None:
    now = [1_000_000_000_000]

    def clock() -> int:
        return now[0]

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += int(seconds * 1e9)
        if sum(slept) >= 1:  # the venue waited: the window has rolled on the exchange too
            await sim.admin("reset_limits")

    budget = RateBudget.binance_spot(now_ns=now[0])
    venue = build(sim, clock=clock, sleep=fake_sleep, budget=budget)
    await venue.start(user_stream=False)  # exchangeInfo 20 + commission 20
    try:
        assert venue.used_weight == 40
        await venue.balances()  # 60
        await venue.balances()  # 80
        await venue.balances()  # 100
        with pytest.raises(errors.RateLimitedError):
            await venue.balances()  # 429 with Retry-After
        assert venue.counters["rate_limited"] == 1
        assert budget.blocked_until_ns > now[0]
        assert not budget.can_spend("place", now[0])
        # A place fails fast without sending anything: a second 429 would earn a ban.
        with pytest.raises(errors.RateLimitedError, match="not sent"):
            await venue.place(Side.BUY, BID, 1000, "pegbot-f4-b0-1")
        assert slept == []
        # A read waits out Retry-After, then goes through.
        wait_until = budget.blocked_until_ns
        bal = await venue.balances()
        assert "KGST" in bal
        assert now[0] >= wait_until
        assert venue.counters["rate_limited"] == 1
        assert sim.exchange.limiter._bans == {}  # never a 418
    finally:
        await venue.close()


async def test_used_weight_header_feeds_the_budget(sim: SimHandle) -> None:
    budget = RateBudget.from_exchange_info(
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100}],
        safety=1.0,
        now_ns=0,
    )
    venue = build(sim, budget=budget, clock=lambda: 0)
    await venue.start(user_stream=False)
    try:
        await venue.balances()
        assert venue.used_weight == 60
        assert budget.available(0)["REQUEST_WEIGHT"] == 40
    finally:
        await venue.close()


async def test_cancel_under_timeouts_is_confirmed_by_lookup(sim: SimHandle) -> None:
    venue = build(sim, timeout_ms=300)
    await venue.start(user_stream=False)
    try:
        await venue.place(Side.BUY, BID, 1000, "pegbot-f5-b0-1")
        venue.sleep = FaultsOffAfter(sim, 1)
        await sim.admin(
            "faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "timeout", "rest_timeout_s": 0.6}
        )
        done = await venue.cancel("pegbot-f5-b0-1")  # executed, reply lost: looked up
        assert done.state.value == "canceled"
        assert venue.counters["lookups"] == 1
        assert await venue.open_orders() == []
    finally:
        await venue.close()


async def test_cancel_all_confirms_through_random_5xx(sim: SimHandle) -> None:
    venue = build(sim, cancel_all_rounds=40)
    await venue.start(user_stream=False)

    async def no_pause(seconds: float) -> None:
        return None

    venue.sleep = no_pause
    try:
        for n in range(6):
            await venue.place(Side.BUY, BID - n, 1000, f"pegbot-f6-b{n}-1")
        await sim.admin("faults", {"rest_fail_rate": 0.4, "rest_fail_mode": "5xx"})
        await venue.cancel_all()
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        assert await venue.open_orders() == []
    finally:
        await venue.close()


async def test_cancel_all_gives_up_loudly(sim: SimHandle) -> None:
    venue = build(sim, cancel_all_rounds=3)
    await venue.start(user_stream=False)

    async def no_pause(seconds: float) -> None:
        return None

    venue.sleep = no_pause
    try:
        await venue.place(Side.BUY, BID, 1000, "pegbot-f7-b0-1")
        await sim.admin("faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "5xx"})
        with pytest.raises(errors.OutcomeUnknownError, match="not confirmed"):
            await venue.cancel_all()
    finally:
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        await venue.close()


async def test_ordercount_429_blocks_places_not_cancels(sim: SimHandle) -> None:
    venue = build(sim)
    await venue.start(user_stream=False)
    try:
        for n in range(3):
            await venue.place(Side.BUY, BID - n, 1000, f"pegbot-f8-b{n}-1")
        with pytest.raises(errors.RateLimitedError):
            await venue.place(Side.BUY, BID - 5, 1000, "pegbot-f8-b5-1")  # -1015
        assert venue.guard.orders_blocked_until_ns > 0
        # Cancels still go out at once; a new place is refused locally, unsent.
        assert (await venue.cancel("pegbot-f8-b0-1")).state.value == "canceled"
        assert len(await venue.cancel_all()) == 2
        with pytest.raises(errors.RateLimitedError, match="not sent"):  # the guard's words
            await venue.place(Side.BUY, BID - 6, 1000, "pegbot-f8-b6-1")
    finally:
        await venue.close()
