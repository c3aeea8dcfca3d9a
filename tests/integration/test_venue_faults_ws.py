"""Order entry over the WebSocket API under the simulator's WS API faults.

The same two failure modes as over REST: ``5xx`` refuses a request before doing anything;
``timeout`` executes it and never answers. Over the WebSocket API too, a placement whose
outcome is unknown is looked up before anything is sent again, and never duplicated.
"""

from __future__ import annotations

from collections import Counter

import pytest

from pegbot.execution.ccxt_venue import CcxtVenue, make_ccxt_venue
from pegbot.market import Side
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

pytestmark = pytest.mark.timeout(60)


def build(sim: SimHandle, **kw: object) -> CcxtVenue:
    return make_ccxt_venue(
        "binance", "KGST/USDT", api_key=DEMO_API_KEY, secret=DEMO_API_SECRET,
        http_url=sim.http_url, ws_url=sim.ws_url, enable_rate_limit=False, ws_orders=True,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def ours(sim: SimHandle) -> Counter[str]:
    """Client ids of every order the exchange holds for the demo account (any state)."""
    rest = sim.client()
    await rest.load_markets()
    orders = await rest.fetch_orders("KGST/USDT")
    return Counter(str(o["clientOrderId"]) for o in orders)


class FaultsOffAfter:
    """A venue sleep that turns the WS API faults off at its n-th pause."""

    def __init__(self, sim: SimHandle, n: int) -> None:
        self.sim, self.n, self.calls = sim, n, 0

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == self.n:
            await self.sim.admin("faults", {"wsapi_fail_rate": 0.0})


async def test_a_ws_place_executed_but_unanswered_is_looked_up_not_resent(
    sim: SimHandle,
) -> None:
    venue = build(sim, timeout_ms=500)
    await venue.start(user_stream=False)
    try:
        await sim.admin("faults", {"wsapi_fail_rate": 1.0, "wsapi_fail_mode": "timeout"})
        placed = await venue.place(Side.BUY, 1140, 1000, "pegbot-w1-b0-1")
        assert placed.client_id == "pegbot-w1-b0-1" and placed.state.is_open
        assert venue.counters["lookups"] == 1 and venue.counters.get("resends", 0) == 0
        assert await ours(sim) == Counter({"pegbot-w1-b0-1": 1})
    finally:
        await venue.close()


async def test_a_ws_place_refused_before_execution_is_resent_once(sim: SimHandle) -> None:
    venue = build(sim)
    await venue.start(user_stream=False)
    venue.sleep = FaultsOffAfter(sim, 1)
    try:
        await sim.admin("faults", {"wsapi_fail_rate": 1.0, "wsapi_fail_mode": "5xx"})
        placed = await venue.place(Side.BUY, 1140, 1000, "pegbot-w1-b0-2")
        assert placed.state.is_open and venue.counters["resends"] == 1
        assert await ours(sim) == Counter({"pegbot-w1-b0-2": 1})
    finally:
        await venue.close()
