"""Cancels, amends and cancel-replaces in the simulator's engine and order entry.

Each rule is Binance's as documented in its spot API docs (REST API "Cancel order", "Order
Amend Keep Priority", "Cancel an Existing Order and Send a New Order"; User Data Streams
"Order Update"; the Order Amend Keep Priority FAQ); the tests name the section where the
behaviour is not obvious.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from pegbot.market import Market, Side
from pegbot.sim import errors, orderentry
from pegbot.sim.config import AccountConfig, SimConfig, SymbolConfig
from pegbot.sim.engine import Engine
from pegbot.sim.exchange import Exchange
from pegbot.sim.model import LIMIT, ExecutionReport, NewOrder

M = dataclasses.replace(Market.kgst_usdt(), min_notional=Decimal("0.01"))
SYM = "KGSTUSDT"
U = M.units_per_lot
FUNDS = {"KGST": "100000", "USDT": "10000"}
DECIMAL_FUNDS = {k: Decimal(v) for k, v in FUNDS.items()}


def make_engine(*keys: str) -> Engine:
    engine = Engine([M])
    for key in keys:
        engine.ledger.add(key, "s", FUNDS)
    return engine


def limit(side: Side, ticks: int, lots: int, cid: str = "") -> NewOrder:
    return NewOrder(SYM, side, LIMIT, units=lots * U, price=ticks, client_order_id=cid)


def reports(engine: Engine) -> list[ExecutionReport]:
    return [ev for ev in engine.drain() if isinstance(ev, ExecutionReport)]


# -- cancel -------------------------------------------------------------------------------------


def test_a_cancel_reports_its_own_id_in_c_and_the_order_in_c_upper() -> None:
    """User Data Streams, "Order Update": ``C`` is "the ID of the order being canceled"."""
    e = make_engine("a")
    o = e.place("a", limit(Side.BUY, 1140, 10, cid="mine-1"), 1)
    e.drain()
    e.cancel("a", SYM, 2, o.order_id, cancel_client_order_id="cancel-1")
    (rep,) = reports(e)
    assert (rep.exec_type, rep.client_order_id, rep.orig_client_order_id) == (
        "CANCELED",
        "cancel-1",
        "mine-1",
    )
    # The order keeps its id for queries.
    assert e.get_order("a", SYM, None, "mine-1") is o and o.client_order_id == "mine-1"
    # Without an id of its own, the cancel gets a generated one.
    p = e.place("a", limit(Side.BUY, 1140, 10, cid="mine-2"), 3)
    e.drain()
    e.cancel("a", SYM, 4, None, "mine-2")
    (rep,) = reports(e)
    assert rep.client_order_id and rep.client_order_id != "mine-2"
    assert rep.orig_client_order_id == "mine-2" and p.cancel_client_order_id == rep.client_order_id


def test_cancel_restrictions() -> None:
    """REST API, "Regarding cancelRestrictions": -1145 for a bad value, -2011 when unmet."""
    e = make_engine("a", "b")
    o = e.place("a", limit(Side.SELL, 1143, 10), 1)
    with pytest.raises(errors.SimError) as info:
        e.cancel("a", SYM, 2, o.order_id, restriction="SOMETIMES")
    assert info.value.code == -1145
    with pytest.raises(errors.SimError) as info:
        e.cancel("a", SYM, 2, o.order_id, restriction="ONLY_PARTIALLY_FILLED")
    assert (info.value.code, info.value.msg) == (
        -2011,
        "Order was not canceled due to cancel restrictions.",
    )
    e.place("b", limit(Side.BUY, 1143, 4), 3)
    with pytest.raises(errors.SimError):
        e.cancel("a", SYM, 4, o.order_id, restriction="ONLY_NEW")
    assert e.cancel("a", SYM, 5, o.order_id, restriction="ONLY_PARTIALLY_FILLED").status == (
        "CANCELED"
    )


def test_both_ids_must_name_the_same_order() -> None:
    """REST API, "Cancel order" notes: the orderId is searched, the client id checked."""
    e = make_engine("a")
    o = e.place("a", limit(Side.BUY, 1140, 10, cid="x"), 1)
    with pytest.raises(errors.SimError) as info:
        e.cancel("a", SYM, 2, o.order_id, "y")
    assert info.value.code == -2011
    with pytest.raises(errors.SimError) as info:
        e.get_order("a", SYM, o.order_id, "y")
    assert info.value.code == -2039
    assert e.cancel("a", SYM, 3, o.order_id, "x").status == "CANCELED"


def test_cancel_all_shares_one_cancel_id() -> None:
    e = make_engine("a")
    for n in range(3):
        e.place("a", limit(Side.BUY, 1140 - n, 10, cid=f"o{n}"), n)
    e.drain()
    e.cancel_all("a", SYM, 9)
    reps = reports(e)
    assert sorted(r.orig_client_order_id for r in reps) == ["o0", "o1", "o2"]
    assert len({r.client_order_id for r in reps}) == 1


# -- amend ----------------------------------------------------------------------------------------


def test_amend_keeps_priority_unlocks_and_reports_replaced() -> None:
    """The FAQ's example: the amended order trades before the order behind it."""
    e = make_engine("a", "b", "c")
    first = e.place("a", limit(Side.BUY, 1140, 10, cid="a1"), 1)
    second = e.place("b", limit(Side.BUY, 1140, 10), 2)
    usdt = e.ledger.accounts["a"].balance("USDT")
    locked = usdt.locked
    e.drain()
    order, before = e.amend("a", SYM, 3, first.order_id, None, 4 * U, "a1")
    assert order is first and before == "a1" and first.orig_units == 4 * U
    assert usdt.locked == locked - e.quote_value(SYM, 1140, 6 * U)
    (rep,) = reports(e)
    assert (rep.exec_type, rep.order.status, rep.client_order_id or rep.order.client_order_id) == (
        "REPLACED",
        "NEW",
        "a1",
    )
    assert e.depth(SYM, 1)[1] == [(1140, 14 * U)]
    e.place("c", limit(Side.SELL, 1140, 6), 4)
    assert first.status == "FILLED" and second.executed_units == 2 * U


def test_amend_without_a_new_client_id_gets_a_generated_one() -> None:
    """REST API, "Order Amend Keep Priority": ``newClientOrderId`` is generated if not sent."""
    e = make_engine("a")
    o = e.place("a", limit(Side.BUY, 1140, 10, cid="old"), 1)
    _, before = e.amend("a", SYM, 2, None, "old", 5 * U)
    assert before == "old" and o.client_order_id not in ("", "old")
    assert e.get_order("a", SYM, None, o.client_order_id) is o


@pytest.mark.parametrize(
    ("lots", "code", "msg"),
    [
        (11, -2038, "Order amend (quantity increase) is not supported."),
        (10, -2038, "The requested action would change no state; rejecting."),
        (0, -1013, "Filter failure: LOT_SIZE"),
    ],
)
def test_amend_refusals(lots: int, code: int, msg: str) -> None:
    """Errors, "-2038 ORDER_AMEND_REJECTED" messages; a refused amend changes nothing."""
    e = make_engine("a")
    o = e.place("a", limit(Side.BUY, 1140, 10), 1)
    with pytest.raises(errors.SimError) as info:
        e.amend("a", SYM, 2, o.order_id, None, lots * U)
    assert (info.value.code, info.value.msg) == (code, msg)
    assert o.orig_units == 10 * U and o.amends == 0


def test_amend_of_an_unknown_or_closed_order_and_the_amend_limit() -> None:
    e = make_engine("a")
    with pytest.raises(errors.SimError) as info:
        e.amend("a", SYM, 1, 999, None, U)
    assert (info.value.code, info.value.msg) == (-2038, "Unknown order sent.")
    o = e.place("a", limit(Side.BUY, 1140, 20), 1)
    for n in range(10):  # Filters, "MAX_NUM_ORDER_AMENDS": 10 per order
        e.amend("a", SYM, 2 + n, o.order_id, None, (19 - n) * U)
    with pytest.raises(errors.SimError) as info:
        e.amend("a", SYM, 20, o.order_id, None, 5 * U)
    assert (info.value.code, info.value.msg) == (-2038, "Filter failure: MAX_NUM_ORDER_AMENDS")


def test_amend_not_allowed_on_the_symbol() -> None:
    e = Engine([])
    e.add_market(M, max_amends=None)
    e.ledger.add("a", "s", FUNDS)
    o = e.place("a", limit(Side.BUY, 1140, 10), 1)
    with pytest.raises(errors.SimError) as info:
        e.amend("a", SYM, 2, o.order_id, None, U)
    assert info.value.msg == "Order amend is not supported for this symbol."


def test_amend_down_to_what_executed_expires_the_order() -> None:
    e = make_engine("a", "b")
    o = e.place("a", limit(Side.SELL, 1143, 10), 1)
    e.place("b", limit(Side.BUY, 1143, 4), 2)
    e.drain()
    e.amend("a", SYM, 3, o.order_id, None, 4 * U)
    assert o.status == "EXPIRED" and not o.is_open and o.locked == 0
    assert e.ledger.accounts["a"].balance("KGST").locked == 0
    assert e.depth(SYM, 5)[2] == []
    (rep,) = reports(e)
    assert (rep.exec_type, rep.order.status) == ("REPLACED", "EXPIRED")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 20), min_size=2, max_size=5),
    st.data(),
)
def test_an_amend_never_grows_an_order_nor_moves_the_queue(
    sizes: list[int], data: st.DataObject
) -> None:
    e = make_engine("a")
    orders = [e.place("a", limit(Side.BUY, 1140, lots), n) for n, lots in enumerate(sizes)]
    totals = e.ledger.totals()
    which = data.draw(st.integers(0, len(orders) - 1))
    new_lots = data.draw(st.integers(0, 25))
    target = orders[which]
    queue_before = [o.order_id for o in e.books[SYM].orders[1140]]
    try:
        e.amend("a", SYM, 99, target.order_id, None, new_lots * U)
    except errors.SimError:
        assert new_lots >= sizes[which] or new_lots == 0
        assert target.orig_units == sizes[which] * U
    else:
        assert 0 < new_lots < sizes[which]
        assert target.orig_units == new_lots * U
    assert target.orig_units <= sizes[which] * U
    assert [o.order_id for o in e.books[SYM].orders[1140]] == queue_before
    assert e.ledger.totals() == totals  # an amend only unlocks
    assert e.depth(SYM, 1)[1] == [(1140, sum(o.remaining for o in orders))]


# -- cancel-replace -------------------------------------------------------------------------------


def make_exchange() -> Exchange:
    config = SimConfig(
        symbols=(SymbolConfig(min_notional=Decimal("0.1")),),
        accounts=(
            AccountConfig(api_key="a", api_secret=SecretStr("s"), balances=DECIMAL_FUNDS),
            AccountConfig(api_key="b", api_secret=SecretStr("s"), balances=DECIMAL_FUNDS),
        ),
        depth_interval_ms=0,
    )
    return Exchange(config, clock=lambda: 1_800_000_000_000_000_000)


def replace_params(mode: str, cancel_id: int, price: str, qty: str, **extra: str) -> dict[str, str]:
    return {
        "symbol": SYM,
        "cancelReplaceMode": mode,
        "cancelOrderId": str(cancel_id),
        "side": "SELL",
        "type": "LIMIT_MAKER",
        "price": price,
        "quantity": qty,
        **extra,
    }


def test_cancel_replace_outcomes() -> None:
    """REST API, "Cancel an Existing Order and Send a New Order": the outcome table."""
    ex = make_exchange()
    old = orderentry.new_order(
        ex, "a", {"symbol": SYM, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                  "price": "0.0115", "quantity": "100", "newClientOrderId": "old"},
    )  # fmt: skip
    orderentry.new_order(
        ex, "b", {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "price": "0.0114", "quantity": "100"},
    )  # fmt: skip
    ok = orderentry.cancel_replace(
        ex, "a", replace_params("STOP_ON_FAILURE", old["orderId"], "0.01151", "90")
    )
    assert (ok["cancelResult"], ok["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert ok["cancelResponse"]["origClientOrderId"] == "old"
    assert ok["cancelResponse"]["clientOrderId"] != "old"
    new_id = ok["newOrderResponse"]["orderId"]
    # The cancel fails (already canceled): STOP_ON_FAILURE places nothing, 400 / -2022.
    with pytest.raises(orderentry.ReplaceError) as info:
        orderentry.cancel_replace(
            ex, "a", replace_params("STOP_ON_FAILURE", old["orderId"], "0.0116", "10")
        )
    assert (info.value.status, info.value.code) == (400, -2022)
    assert info.value.data["newOrderResult"] == "NOT_ATTEMPTED"
    assert info.value.data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    assert [o.order_id for o in ex.engine.open_orders("a")] == [new_id]
    # ALLOW_FAILURE places anyway: 409 / -2021, cancel FAILURE, new SUCCESS.
    with pytest.raises(orderentry.ReplaceError) as info:
        orderentry.cancel_replace(
            ex, "a", replace_params("ALLOW_FAILURE", old["orderId"], "0.0116", "10")
        )
    assert (info.value.status, info.value.code) == (409, -2021)
    assert info.value.data["newOrderResult"] == "SUCCESS"
    # The cancel succeeds, the new LIMIT_MAKER would take: 409 / -2021, and a REJECTED report.
    ex.engine.drain()
    with pytest.raises(orderentry.ReplaceError) as info:
        orderentry.cancel_replace(
            ex, "a", replace_params("STOP_ON_FAILURE", new_id, "0.0114", "10")
        )
    assert (info.value.status, info.value.code) == (409, -2021)
    assert info.value.data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    rejected = [r for r in reports(ex.engine) if r.exec_type == "REJECTED"]
    assert [r.reject_reason for r in rejected] == ["WOULD_MATCH_IMMEDIATELY"]


def test_cancel_replace_checks_filters_before_it_cancels() -> None:
    ex = make_exchange()
    old = orderentry.new_order(
        ex, "a", {"symbol": SYM, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                  "price": "0.0115", "quantity": "100"},
    )  # fmt: skip
    with pytest.raises(errors.SimError) as info:
        orderentry.cancel_replace(
            ex, "a", replace_params("STOP_ON_FAILURE", old["orderId"], "0.0115", "1")
        )
    assert (info.value.code, info.value.msg) == (-1013, "Filter failure: NOTIONAL")
    assert [o.order_id for o in ex.engine.open_orders("a")] == [old["orderId"]]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["STOP_ON_FAILURE", "ALLOW_FAILURE"]),
    st.booleans(),  # does the order to cancel still exist?
    st.sampled_from(["0.0113", "0.0116"]),  # the new LIMIT_MAKER: takes, or rests
    st.sampled_from(["DO_NOTHING", "CANCEL_ONLY"]),
    st.booleans(),  # is the unfilled order count exhausted?
)
def test_cancel_replace_never_leaves_two_orders_nor_places_after_a_failed_cancel(
    mode: str, live: bool, price: str, limit_mode: str, exhausted: bool
) -> None:
    ex = make_exchange()
    orderentry.new_order(
        ex, "b", {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "price": "0.0114", "quantity": "100"},
    )  # fmt: skip
    old = orderentry.new_order(
        ex, "a", {"symbol": SYM, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                  "price": "0.0115", "quantity": "100"},
    )  # fmt: skip
    if not live:
        orderentry.cancel(ex, "a", {"symbol": SYM, "orderId": str(old["orderId"])})
    if exhausted:
        while True:
            try:
                ex.limiter.count_order("a", ex.now_ns())
            except errors.SimError:
                break
    before = ex.engine.ledger.totals()
    params = replace_params(
        mode, old["orderId"], price, "50", orderRateLimitExceededMode=limit_mode
    )
    try:
        reply = orderentry.cancel_replace(ex, "a", params)
        outcome = (reply["cancelResult"], reply["newOrderResult"])
    except orderentry.ReplaceError as exc:
        outcome = (exc.data["cancelResult"], exc.data["newOrderResult"])
        assert (exc.status, exc.code) in ((409, -2021), (400, -2022), (429, -2022))
    except errors.SimError as exc:
        assert exhausted and limit_mode == "DO_NOTHING" and (exc.status, exc.code) == (429, -1015)
        outcome = ("NOT_ATTEMPTED", "NOT_ATTEMPTED")
    resting = ex.engine.open_orders("a")
    assert len(resting) <= 1, "two orders resting after a cancel-replace"
    if outcome[0] != "SUCCESS" and mode == "STOP_ON_FAILURE":
        assert outcome[1] == "NOT_ATTEMPTED"
        assert all(o.order_id == old["orderId"] for o in resting), "placed after a failed cancel"
    if outcome[1] == "SUCCESS":
        assert [o.price for o in resting] == [1160]
    assert ex.engine.ledger.totals() == before
