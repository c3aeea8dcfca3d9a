"""Cancel-replace and amend through unmodified ccxt against the simulator (Binance's semantics).

Each half of a cancel-replace is read whatever the reply's status (200, 400 ``-2022``, 409
``-2021``); an amend reduces an order keeping its place in the queue; the rate budget is
built from the venue's own ``exchangeInfo.rateLimits``. Every test runs with orders over
the WebSocket API (the default where the venue has one) and over REST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pegbot.execution import errors
from pegbot.execution.ccxt_venue import CcxtVenue, make_ccxt_venue
from pegbot.execution.venue import OrderState
from pegbot.market import Side
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=[True, False], ids=["ws_api", "rest"])
async def venue(sim: SimHandle, request: pytest.FixtureRequest) -> AsyncIterator[CcxtVenue]:
    """The venue sending its orders over the WebSocket API (the default) or over REST."""
    v = make_ccxt_venue(
        "binance", "KGST/USDT", api_key=DEMO_API_KEY, secret=DEMO_API_SECRET,
        http_url=sim.http_url, ws_url=sim.ws_url, enable_rate_limit=False,
        ws_orders=request.param,
    )  # fmt: skip
    await v.start(user_stream=False)
    yield v
    await v.close()


async def _open(sim: SimHandle) -> dict[str, Any]:
    reader = sim.client()
    await reader.load_markets()
    return {o["clientOrderId"]: o for o in await reader.fetch_open_orders("KGST/USDT")}


async def test_orders_go_over_the_websocket_api_by_default(sim: SimHandle) -> None:
    v = make_ccxt_venue(
        "binance", "KGST/USDT", api_key=DEMO_API_KEY, secret=DEMO_API_SECRET,
        http_url=sim.http_url, ws_url=sim.ws_url,
    )  # fmt: skip
    assert v.ws_orders and v.capabilities.replace and v.capabilities.amend
    await v.client.close()


async def test_the_budget_is_the_venues_declared_limits(venue: CcxtVenue) -> None:
    budget = venue.budget
    assert budget is not None
    orders = [b.limit for b in budget.buckets if b.limit.kind == "ORDERS"]
    # The simulator declares Binance's 100 orders per 10 s (and per day), not a guess.
    assert any(lim.window_ns == 10_000_000_000 and lim.limit == 80 for lim in orders), orders


async def test_a_cancel_replace_moves_an_order_in_one_request(
    venue: CcxtVenue, sim: SimHandle
) -> None:
    await venue.place(Side.BUY, 1140, 1000, "pegbot-cr1-b0-1")
    r = await venue.replace("pegbot-cr1-b0-1", Side.BUY, 1139, 1000, "pegbot-cr1-b0-2")
    assert r.cancel_error is None and r.place_error is None
    assert r.canceled is not None and r.canceled.client_id == "pegbot-cr1-b0-1"
    assert r.canceled.state is OrderState.CANCELED
    assert r.placed is not None and r.placed.client_id == "pegbot-cr1-b0-2"
    assert r.placed.price_ticks == 1139 and r.placed.state is OrderState.NEW
    assert set(await _open(sim)) == {"pegbot-cr1-b0-2"}


async def test_a_cancel_that_fails_sends_no_new_order(venue: CcxtVenue, sim: SimHandle) -> None:
    r = await venue.replace("pegbot-cr1-b0-9", Side.BUY, 1139, 1000, "pegbot-cr1-b0-10")
    assert r.canceled is None and r.placed is None and r.place_error is None
    assert isinstance(r.cancel_error, errors.OrderNotFoundError)
    assert await _open(sim) == {}


async def test_a_new_order_refused_after_the_cancel_leaves_nothing(
    venue: CcxtVenue, sim: SimHandle
) -> None:
    maker = sim.maker()
    await maker.load_markets()
    await maker.create_order("KGST/USDT", "limit", "sell", 50_000, 0.01145)
    await venue.place(Side.BUY, 1140, 1000, "pegbot-cr1-b0-1")
    # Post-only at the ask would take: the venue cancels the old order and refuses the new.
    r = await venue.replace("pegbot-cr1-b0-1", Side.BUY, 1145, 1000, "pegbot-cr1-b0-2")
    assert r.canceled is not None and r.canceled.state is OrderState.CANCELED
    assert r.placed is None and isinstance(r.place_error, errors.WouldTakeError)
    assert not any(cid.startswith("pegbot-") for cid in await _open(sim))


async def test_an_amend_reduces_the_order_and_keeps_its_id(
    venue: CcxtVenue, sim: SimHandle
) -> None:
    await venue.place(Side.SELL, 1146, 3000, "pegbot-am1-a0-1")
    upd = await venue.amend("pegbot-am1-a0-1", 1000)
    assert upd.client_id == "pegbot-am1-a0-1" and upd.state.is_open
    assert upd.remaining_units == venue.market.lots_to_units(1000)
    listed = await _open(sim)
    assert float(listed["pegbot-am1-a0-1"]["amount"]) == pytest.approx(
        float(venue.market.lots_to_qty(1000))
    )
    with pytest.raises(errors.InvalidOrderError):
        await venue.amend("pegbot-am1-a0-1", 2000)  # an increase is refused
    with pytest.raises(errors.OrderNotFoundError):
        await venue.amend("pegbot-am1-a0-9", 10)


async def test_an_amended_order_keeps_its_place_in_the_queue(
    venue: CcxtVenue, sim: SimHandle
) -> None:
    # Ours first at 1140, then the maker's bid behind it; a seller takes a little.
    await venue.place(Side.BUY, 1140, 3000, "pegbot-am1-b0-1")
    maker = sim.maker()
    await maker.load_markets()
    await maker.create_order("KGST/USDT", "limit", "buy", 3000 * 1.0, 0.01140)
    await venue.amend("pegbot-am1-b0-1", 2000)
    await maker.create_order("KGST/USDT", "limit", "sell", 500 * 1.0, 0.01140)
    fills = await venue.fills_since(0)
    assert [f.client_id for f in fills] == ["pegbot-am1-b0-1"]  # still first in the queue
