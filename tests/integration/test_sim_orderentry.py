"""Cancels, amends, cancel-replaces and rate limits through unmodified ccxt/ccxt.pro.

Every shape asserted here is Binance's documented one (binance-spot-api-docs: REST API
"Cancel order", "Order Amend Keep Priority", "Cancel an Existing Order and Send a New Order",
"Query Unfilled Order Count", "LIMITS"; WebSocket API "Response format", "Rate limits",
"Account information"; User Data Streams "Order Update"). Where ccxt 4.5.90 has no method
(the amend), the request goes through ccxt's generic ``request`` (REST) or is signed with
ccxt's ``sign_params`` (WebSocket API), so the wire format is still ccxt's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt.pro as ccxtpro
import orjson
import pytest

from pegbot.execution.ccxt_parse import header
from pegbot.execution.ccxt_venue import CcxtVenue, make_ccxt_venue
from pegbot.market import Side
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

pytestmark = pytest.mark.timeout(60)

SYMBOL = "KGST/USDT"
SYM = "KGSTUSDT"


async def _next(coro: Any, timeout: float = 3.0) -> Any:
    return await asyncio.wait_for(coro, timeout)


async def _watch(ex: ccxtpro.binance, want: Any) -> asyncio.Task[dict[str, Any]]:
    """Arm a watcher for the first ``watch_orders`` update ``want(order)`` accepts.

    Watchers resolve on the next update, so it is armed (and the subscription in place)
    before the action that triggers it.
    """

    async def loop() -> dict[str, Any]:
        while True:
            for order in await ex.watch_orders(SYMBOL):
                if want(order):
                    return dict(order)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.3)
    return task


async def _signed(
    sim: SimHandle, method: str, path: str, params: dict[str, Any]
) -> tuple[int, dict[str, str], Any]:
    """A signed REST request as Binance documents it (status, headers, JSON body)."""
    query = urlencode({**params, "timestamp": sim.exchange.now_ms()})
    sig = hmac.new(DEMO_API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    url = f"{sim.http_url}/api/v3/{path}?{query}&signature={sig}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers={"X-MBX-APIKEY": DEMO_API_KEY}) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.json()


async def _ws_call(
    sim: SimHandle,
    ex: ccxtpro.binance,
    method: str,
    params: dict[str, Any],
    query: str = "",
) -> dict[str, Any]:
    """One WebSocket API request signed by ccxt's ``sign_params`` (sorted, HMAC-SHA256)."""
    url = f"{sim.ws_url}/ws-api/v3{query}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        signed = ex.sign_params({**params})
        await ws.send_str(orjson.dumps({"id": "1", "method": method, "params": signed}).decode())
        reply: dict[str, Any] = orjson.loads((await ws.receive(timeout=3)).data)
        return reply


def _venue(sim: SimHandle) -> CcxtVenue:
    """pegbot's ccxt venue on the demo account of ``sim``."""
    return make_ccxt_venue(
        "binance",
        SYMBOL,
        api_key=DEMO_API_KEY,
        secret=DEMO_API_SECRET,
        http_url=sim.http_url,
        ws_url=sim.ws_url,
        enable_rate_limit=False,
    )


async def _place(ex: ccxtpro.binance, side: str, qty: int, price: float, cid: str) -> str:
    order = await ex.create_order(SYMBOL, "limit", side, qty, price, {"newClientOrderId": cid})
    return str(order["id"])


# -- cancels ----------------------------------------------------------------------------------


async def test_a_cancel_names_itself_and_the_canceled_order(sim: SimHandle) -> None:
    """REST "Cancel order": ``clientOrderId`` is the cancel's id, ``origClientOrderId`` ours."""
    ex = sim.client()
    await ex.load_markets()
    await _place(ex, "buy", 1000, 0.0114, "pegbot-c1")
    watcher = await _watch(ex, lambda o: o["status"] == "canceled")
    raw = await ex.cancel_order(
        None, SYMBOL, {"origClientOrderId": "pegbot-c1", "newClientOrderId": "cancel-c1"}
    )
    assert (raw["info"]["clientOrderId"], raw["info"]["origClientOrderId"]) == (
        "cancel-c1",
        "pegbot-c1",
    )
    # ccxt copies the cancel's id into the unified clientOrderId: a venue must not trust it.
    assert raw["clientOrderId"] == "cancel-c1"
    report = await _next(watcher)
    assert (report["info"]["c"], report["info"]["C"]) == ("cancel-c1", "pegbot-c1")
    # ccxt.pro reads C when it is set, so the stream names our order.
    assert report["clientOrderId"] == "pegbot-c1"
    # Without newClientOrderId the cancel still gets an id of its own.
    await _place(ex, "buy", 1000, 0.0114, "pegbot-c2")
    raw = await ex.cancel_order(None, SYMBOL, {"origClientOrderId": "pegbot-c2"})
    assert raw["info"]["origClientOrderId"] == "pegbot-c2"
    assert raw["info"]["clientOrderId"] not in ("", "pegbot-c2")


async def test_the_ccxt_venue_names_our_order_on_cancel_and_cancel_all(sim: SimHandle) -> None:
    """On Binance a cancel reply's clientOrderId is the cancel's: the venue reads ours."""
    venue = _venue(sim)
    await venue.start(user_stream=False)
    try:
        for n in range(3):
            await venue.place(Side.BUY, 1140 - n, 1000, f"pegbot-v{n + 1}")
        one = await venue.cancel("pegbot-v1")
        assert (one.client_id, one.state.value) == ("pegbot-v1", "canceled")
        rest = await venue.cancel_all()
        assert sorted(u.client_id for u in rest) == ["pegbot-v2", "pegbot-v3"]
    finally:
        await venue.close()


async def test_cancel_all_shares_one_cancel_id(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()
    for n in range(2):
        await _place(ex, "buy", 1000, 0.0114 - n * 0.00001, f"pegbot-a{n}")
    raws = await ex.cancel_all_orders(SYMBOL)
    infos = [r["info"] for r in raws]
    assert sorted(i["origClientOrderId"] for i in infos) == ["pegbot-a0", "pegbot-a1"]
    assert len({i["clientOrderId"] for i in infos}) == 1


async def test_cancel_restrictions_through_ccxt(sim: SimHandle) -> None:
    """REST "Regarding cancelRestrictions": -1145 bad value, -2011 when not met."""
    ex = sim.client()
    await ex.load_markets()
    oid = await _place(ex, "buy", 1000, 0.0114, "pegbot-r1")
    with pytest.raises(ccxtpro.ExchangeError, match="-1145"):
        await ex.cancel_order(oid, SYMBOL, {"cancelRestrictions": "NEVER"})
    with pytest.raises(ccxtpro.OrderNotFound, match="cancel restrictions"):
        await ex.cancel_order(oid, SYMBOL, {"cancelRestrictions": "ONLY_PARTIALLY_FILLED"})
    done = await ex.cancel_order(oid, SYMBOL, {"cancelRestrictions": "ONLY_NEW"})
    assert done["status"] == "canceled"


# -- amend keep priority ----------------------------------------------------------------------


async def test_amend_keeps_priority_over_rest(sim: SimHandle) -> None:
    """REST "Order Amend Keep Priority" and its FAQ: same order id, same place, smaller."""
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    assert ex.markets[SYMBOL]["info"]["amendAllowed"] is True
    filters = {f["filterType"]: f for f in ex.markets[SYMBOL]["info"]["filters"]}
    assert filters["MAX_NUM_ORDER_AMENDS"]["maxNumOrderAmends"] == 10
    first = await _place(ex, "buy", 1000, 0.0114, "pegbot-first")
    behind = await _place(maker, "buy", 1000, 0.0114, "maker-behind")
    watcher = await _watch(ex, lambda o: o["info"]["x"] == "REPLACED")
    reply = await ex.request(
        "order/amend/keepPriority",
        ["private"],
        "PUT",
        {"symbol": SYM, "orderId": first, "newQty": "400", "newClientOrderId": "pegbot-first"},
    )
    assert set(reply) == {"transactTime", "executionId", "amendedOrder"}
    amended = reply["amendedOrder"]
    assert (amended["orderId"], amended["qty"], amended["status"]) == (
        int(first),
        "400.00000000",
        "NEW",
    )
    assert (amended["origClientOrderId"], amended["clientOrderId"]) == (
        "pegbot-first",
        "pegbot-first",
    )
    headers = ex.last_response_headers
    assert header(headers, "X-MBX-USED-WEIGHT-1M") is not None
    report = await _next(watcher)
    assert (report["info"]["X"], report["info"]["q"], report["info"]["i"]) == (
        "NEW",
        "400.00000000",
        int(first),
    )
    assert report["info"]["I"] == reply["executionId"]
    # A seller of 600: our 400 goes first (priority kept), the order behind gets 200.
    await maker.create_order(SYMBOL, "limit", "sell", 600, 0.0114)
    mine = await ex.fetch_order(first, SYMBOL)
    theirs = await maker.fetch_order(behind, SYMBOL)
    assert (mine["status"], mine["filled"]) == ("closed", 400)
    assert theirs["filled"] == 200


async def test_amend_refusals_through_ccxt(sim: SimHandle) -> None:
    """Errors, -2038 ORDER_AMEND_REJECTED: an increase or no change is refused."""
    ex = sim.client()
    await ex.load_markets()
    oid = await _place(ex, "buy", 1000, 0.0114, "pegbot-z")
    for qty, text in (("1001", "quantity increase"), ("1000", "would change no state")):
        with pytest.raises(ccxtpro.ExchangeError, match=text) as info:
            await ex.request(
                "order/amend/keepPriority",
                ["private"],
                "PUT",
                {"symbol": SYM, "orderId": oid, "newQty": qty},
            )
        assert "-2038" in str(info.value)
    status, _, body = await _signed(
        sim, "PUT", "order/amend/keepPriority", {"symbol": SYM, "orderId": oid, "newQty": "2000"}
    )
    assert (status, body["code"]) == (400, -2038)
    assert (await ex.fetch_order(oid, SYMBOL))["amount"] == 1000


async def test_amend_over_the_ws_api(sim: SimHandle) -> None:
    """WebSocket API ``order.amend.keepPriority``: the REST reply in the WS envelope."""
    ex = sim.client()
    await ex.load_markets()
    oid = await _place(ex, "sell", 1000, 0.0116, "pegbot-w")
    reply = await _ws_call(
        sim,
        ex,
        "order.amend.keepPriority",
        {"symbol": SYM, "origClientOrderId": "pegbot-w", "newQty": "250"},
    )
    assert reply["status"] == 200
    amended = reply["result"]["amendedOrder"]
    assert (amended["orderId"], amended["qty"], amended["origClientOrderId"]) == (
        int(oid),
        "250.00000000",
        "pegbot-w",
    )
    assert amended["clientOrderId"] != "pegbot-w"  # generated when not sent
    # Weight 4, no order count (Unfilled Order Count: 0).
    assert [lim["rateLimitType"] for lim in reply["rateLimits"]] == ["REQUEST_WEIGHT"]


# -- cancel-replace ---------------------------------------------------------------------------


async def test_cancel_replace_through_ccxt_edit_order(sim: SimHandle) -> None:
    """ccxt's ``edit_order`` is POST cancelReplace with STOP_ON_FAILURE."""
    ex = sim.client()
    await ex.load_markets()
    old = await _place(ex, "buy", 1000, 0.0114, "pegbot-e1")
    watcher = await _watch(ex, lambda o: o["status"] == "canceled")
    new = await ex.edit_order(
        old, SYMBOL, "limit", "buy", 900, 0.01141, {"newClientOrderId": "pegbot-e2"}
    )
    assert new["clientOrderId"] == "pegbot-e2" and new["status"] == "open"
    assert (await ex.fetch_order(old, SYMBOL))["status"] == "canceled"
    assert [o["id"] for o in await ex.fetch_open_orders(SYMBOL)] == [new["id"]]
    report = await _next(watcher)
    assert report["info"]["C"] == "pegbot-e1" and report["info"]["c"] != "pegbot-e1"
    # The order to cancel is gone: STOP_ON_FAILURE places nothing (-2022).
    with pytest.raises(ccxtpro.ExchangeError, match="-2022"):
        await ex.edit_order(old, SYMBOL, "limit", "buy", 800, 0.01139)
    assert [o["id"] for o in await ex.fetch_open_orders(SYMBOL)] == [new["id"]]


async def test_cancel_replace_half_failures_answer_409(sim: SimHandle) -> None:
    """REST cancelReplace: one half failed → 409 with both halves' results in ``data``."""
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.0115)
    old = await _place(ex, "buy", 1000, 0.0114, "pegbot-h1")
    params = {
        "symbol": SYM,
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrderId": old,
        "side": "BUY",
        "type": "LIMIT_MAKER",
        "quantity": "1000",
        "price": "0.0115",
    }
    status, _, body = await _signed(sim, "POST", "order/cancelReplace", params)
    assert status == 409
    assert (body["code"], body["msg"]) == (-2021, "Order cancel-replace partially failed.")
    data = body["data"]
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["origClientOrderId"] == "pegbot-h1"
    assert data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    # ALLOW_FAILURE with an order that is gone: placed anyway, 409.
    params.update(cancelReplaceMode="ALLOW_FAILURE", price="0.0113", type="LIMIT")
    params["timeInForce"] = "GTC"
    status, _, body = await _signed(sim, "POST", "order/cancelReplace", params)
    assert (status, body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        409,
        "FAILURE",
        "SUCCESS",
    )
    # ccxt raises on the 409, and the state is what the reply said.
    with pytest.raises(ccxtpro.ExchangeError, match="-2021"):
        await ex.private_post_order_cancelreplace(params)
    assert len(await ex.fetch_open_orders(SYMBOL)) == 2


async def test_cancel_replace_over_the_ws_api_with_ccxt(sim: SimHandle) -> None:
    """ccxt.pro's ``edit_order_ws`` sends ``order.cancelReplace``."""
    ex = sim.client()
    await ex.load_markets()
    old = await _place(ex, "sell", 1000, 0.0116, "pegbot-x1")
    new = await _next(
        ex.edit_order_ws(
            old, SYMBOL, "limit", "sell", 800, 0.01161, {"newClientOrderId": "pegbot-x2"}
        )
    )
    assert new["clientOrderId"] == "pegbot-x2" and new["amount"] == 800
    assert (await ex.fetch_order(old, SYMBOL))["status"] == "canceled"
    reply = await _ws_call(
        sim,
        ex,
        "order.cancelReplace",
        {
            "symbol": SYM,
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": old,
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "700",
            "price": "0.0117",
        },
    )
    assert (reply["status"], reply["error"]["code"]) == (400, -2022)
    assert reply["error"]["data"]["newOrderResult"] == "NOT_ATTEMPTED"
    assert {lim["rateLimitType"] for lim in reply["rateLimits"]} == {"ORDERS", "REQUEST_WEIGHT"}


# -- rate limits and the account ------------------------------------------------------------


async def test_ws_api_replies_carry_rate_limits_unless_asked_not_to(sim: SimHandle) -> None:
    """WebSocket API, "How to show/hide rate limit information"."""
    ex = sim.client()
    await ex.load_markets()
    shown = await _ws_call(sim, ex, "account.status", {})
    assert shown["status"] == 200
    (weight,) = shown["rateLimits"]
    assert (weight["rateLimitType"], weight["interval"], weight["intervalNum"]) == (
        "REQUEST_WEIGHT",
        "MINUTE",
        1,
    )
    assert weight["limit"] == 6000 and weight["count"] >= 22  # connect 2 + account.status 20
    hidden = await _ws_call(sim, ex, "account.status", {"returnRateLimits": False})
    assert "rateLimits" not in hidden
    by_url = await _ws_call(sim, ex, "account.status", {}, query="?returnRateLimits=false")
    assert "rateLimits" not in by_url
    # account.status has the commission fields (WebSocket API, "Account information").
    result = shown["result"]
    for key in ("makerCommission", "takerCommission", "buyerCommission", "sellerCommission"):
        assert isinstance(result[key], int)
    assert set(result["commissionRates"]) == {"maker", "taker", "buyer", "seller"}
    assert result["canTrade"] is True and result["accountType"] == "SPOT"
    assert result["makerCommission"] == 10 and result["commissionRates"]["maker"] == "0.00100000"


async def test_unfilled_order_count(sim: SimHandle) -> None:
    """REST "Query Unfilled Order Count"; a first fill takes the order off the count."""
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    await _place(ex, "buy", 1000, 0.0114, "pegbot-u1")
    headers = ex.last_response_headers
    assert header(headers, "X-MBX-ORDER-COUNT-10S") == "1"
    assert header(headers, "X-MBX-ORDER-COUNT-1D") == "1"
    counts = await ex.private_get_ratelimit_order()
    assert [(c["rateLimitType"], c["interval"], c["intervalNum"], c["count"]) for c in counts] == [
        ("ORDERS", "SECOND", 10, 1),
        ("ORDERS", "DAY", 1, 1),
    ]
    await maker.create_order(SYMBOL, "limit", "sell", 100, 0.0114)
    counts = await ex.private_get_ratelimit_order()
    assert [c["count"] for c in counts] == [0, 0]
    ws = await _ws_call(sim, ex, "account.rateLimits.orders", {})
    assert [c["count"] for c in ws["result"]] == [0, 0]


async def test_order_entry_costs_no_weight_when_it_succeeds(sim: SimHandle) -> None:
    """Changelog 2026-03-27: successful order entry weighs 0; failures the documented weight."""
    ex = sim.client()
    await ex.load_markets()
    status, headers, _ = await _signed(sim, "GET", "account", {})
    used = int(header(headers, "X-MBX-USED-WEIGHT-1M") or -1)
    assert status == 200 and used >= 20
    await _place(ex, "buy", 1000, 0.0114, "pegbot-f1")
    assert int(header(ex.last_response_headers, "X-MBX-USED-WEIGHT-1M") or -1) == used
    with pytest.raises(ccxtpro.InsufficientFunds):
        await ex.create_order(SYMBOL, "limit", "buy", 10_000_000, 0.0114)
    assert int(header(ex.last_response_headers, "X-MBX-USED-WEIGHT-1M") or -1) == used + 1


async def test_exchange_info_rate_limits_are_documented(sim: SimHandle) -> None:
    status, _, body = await _signed(sim, "GET", "exchangeInfo", {})
    assert status == 200
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]) for r in body["rateLimits"]}
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE", 1),
        ("ORDERS", "SECOND", 10),
        ("ORDERS", "DAY", 1),
        ("RAW_REQUESTS", "MINUTE", 5),
    }


async def test_execution_report_conditional_fields(sim: SimHandle) -> None:
    """User Data Streams, "Conditional Fields in Execution Report".

    ``eR`` appears once the order expired, ``v`` only after self-trade prevention (never
    here); ``W`` for every order that works (all the simulator's order types do).
    """
    ex = sim.client()
    await ex.load_markets()
    watcher = await _watch(ex, lambda o: o["clientOrderId"] == "pegbot-gtc")
    await _place(ex, "buy", 1000, 0.0114, "pegbot-gtc")
    resting = (await _next(watcher))["info"]
    assert "W" in resting and "v" not in resting and "eR" not in resting
    watcher = await _watch(ex, lambda o: o["status"] == "expired")
    await ex.create_order(
        SYMBOL, "limit", "sell", 1000, 0.0120, {"timeInForce": "IOC", "newClientOrderId": "x"}
    )
    expired = (await _next(watcher))["info"]
    assert expired["eR"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
    assert "v" not in expired


async def test_the_ccxt_venue_stream_reports_an_amend(sim: SimHandle) -> None:
    """An amend changes only the quantity: the venue's de-duplication must let it through."""
    venue = _venue(sim)
    await venue.start()
    try:
        placed = await venue.place(Side.BUY, 1140, 1000, "pegbot-s1")
        units = venue.market.lots_to_units(1000)
        await venue.client.request(
            "order/amend/keepPriority",
            ["private"],
            "PUT",
            {"symbol": SYM, "orderId": placed.order_id, "newQty": "400",
             "newClientOrderId": "pegbot-s1"},
        )  # fmt: skip
        events = venue.events()
        seen: list[int] = []
        while not seen or seen[-1] == units:
            ev = await _next(anext(events))
            if getattr(ev, "client_id", "") == "pegbot-s1":
                seen.append(ev.qty_units)
        assert seen[-1] == venue.market.qty_to_units(Decimal("400"))
    finally:
        await venue.close()
