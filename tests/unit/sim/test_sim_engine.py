"""The simulator's matching engine: unit cases and a hypothesis check against a naive reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegbot.market import Market, Side
from pegbot.sim import errors
from pegbot.sim.accounts import amount_from_decimal
from pegbot.sim.engine import Engine
from pegbot.sim.model import (
    FOK,
    IOC,
    LIMIT,
    LIMIT_MAKER,
    MARKET,
    AccountTrade,
    NewOrder,
)

# A lower minimum notional than the default (1 USDT) keeps the hand-made cases small.
M = dataclasses.replace(Market.kgst_usdt(), min_notional=Decimal("0.1"))
SYM = "KGSTUSDT"
U = M.units_per_lot  # qty units per KGST


def make_engine(**balances: dict[str, str]) -> Engine:
    engine = Engine([M])
    for key, bal in balances.items():
        engine.ledger.add(key, "s", bal)
    return engine


def limit(side: Side, ticks: int, lots: int, tif: str = "GTC", cid: str = "") -> NewOrder:
    return NewOrder(SYM, side, LIMIT, units=lots * U, price=ticks, tif=tif, client_order_id=cid)


def amt(x: str) -> int:
    return amount_from_decimal(x)


FUNDS = {"KGST": "100000", "USDT": "10000"}


def test_limit_rests_and_locks_quote() -> None:
    e = make_engine(a=FUNDS)
    o = e.place("a", limit(Side.BUY, 1143, 100), 1)
    assert o.status == "NEW" and o.remaining == 100 * U
    bal = e.ledger.accounts["a"].balance("USDT")
    assert bal.locked == amt("1.143")
    assert bal.free == amt("10000") - amt("1.143")
    uid, bids, asks = e.depth(SYM, 10)
    assert bids == [(1143, 100 * U)] and asks == [] and uid == 1


def test_cross_partial_fill_fees_and_price_improvement() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    e.place("a", limit(Side.SELL, 1143, 100), 1)
    e.place("a", limit(Side.SELL, 1144, 100), 2)
    taker = e.place("b", limit(Side.BUY, 1145, 150), 3)
    assert taker.status == "FILLED"
    assert taker.executed_units == 150 * U
    assert taker.cum_quote == amt("1.143") + amt("0.572")
    b = e.ledger.accounts["b"]
    # Bought 150 KGST, paid 1.715 USDT, fee 0.1% of the KGST received.
    assert b.balance("KGST").free == amt("100000") + amt("150") - amt("0.15")
    assert b.balance("USDT").free == amt("10000") - amt("1.715")
    assert b.balance("USDT").locked == 0
    a = e.ledger.accounts["a"]
    assert a.balance("USDT").free == amt("10000") + amt("1.715") - amt("0.001715")
    assert a.balance("KGST").locked == amt("50")
    _, _, asks = e.depth(SYM, 10)
    assert asks == [(1144, 50 * U)]
    assert e.ledger.fees == {"KGST": amt("0.15"), "USDT": amt("0.001715")}


def test_fill_equal_to_remaining_closes_both() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    maker = e.place("a", limit(Side.SELL, 1143, 100), 1)
    e.place("b", limit(Side.BUY, 1143, 60), 2)
    taker = e.place("b", limit(Side.BUY, 1143, 40), 3)
    assert maker.status == "FILLED" and taker.status == "FILLED"
    assert not e.open_orders("a") and not e.open_orders("b")
    assert e.depth(SYM, 5)[1:] == ([], [])
    assert e.ledger.accounts["a"].balance("KGST").locked == 0


def test_price_time_priority() -> None:
    e = make_engine(a=FUNDS, b=FUNDS, c=FUNDS)
    first = e.place("a", limit(Side.BUY, 1140, 10), 1)
    second = e.place("b", limit(Side.BUY, 1140, 10), 2)
    better = e.place("b", limit(Side.BUY, 1141, 10), 3)
    e.place("c", limit(Side.SELL, 1140, 15), 4)
    assert better.status == "FILLED"
    assert first.executed_units == 5 * U and second.executed_units == 0


def test_limit_maker_rejected_when_crossing() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    e.place("a", limit(Side.SELL, 1143, 100), 1)
    with pytest.raises(errors.SimError) as info:
        e.place("b", NewOrder(SYM, Side.BUY, LIMIT_MAKER, units=100 * U, price=1143), 2)
    assert info.value.code == -2010 and "immediately match" in info.value.msg
    ok = e.place("b", NewOrder(SYM, Side.BUY, LIMIT_MAKER, units=100 * U, price=1142), 3)
    assert ok.status == "NEW"


def test_ioc_and_fok() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    e.place("a", limit(Side.SELL, 1143, 100), 1)
    fok = e.place("b", limit(Side.BUY, 1143, 101, FOK), 2)
    assert fok.status == "EXPIRED" and fok.executed_units == 0
    ioc = e.place("b", limit(Side.BUY, 1143, 101, IOC), 3)
    assert ioc.status == "EXPIRED" and ioc.executed_units == 100 * U
    assert e.ledger.accounts["b"].balance("USDT").locked == 0


def test_market_by_quantity_and_quote() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    e.place("a", limit(Side.SELL, 1143, 100), 1)
    e.place("a", limit(Side.SELL, 1150, 100), 2)
    mkt = e.place("b", NewOrder(SYM, Side.BUY, MARKET, units=120 * U), 3)
    assert mkt.status == "FILLED" and mkt.cum_quote == amt("1.143") + amt("0.23")
    by_quote = e.place("b", NewOrder(SYM, Side.BUY, MARKET, quote_amount=amt("0.5")), 4)
    # 0.5 USDT buys 43 whole KGST at 0.0115 (0.4945); the rest of the budget is unspent.
    assert by_quote.executed_units == 43 * U and by_quote.orig_units == 43 * U
    assert by_quote.status == "FILLED"
    assert e.ledger.accounts["b"].balance("USDT").locked == 0


def test_rejects() -> None:
    e = make_engine(a={"USDT": "1"})
    with pytest.raises(errors.SimError) as info:
        e.place("a", limit(Side.BUY, 1143, 100), 1)
    assert (info.value.code, info.value.msg) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    with pytest.raises(errors.SimError) as info:
        e.place("a", limit(Side.BUY, 1143, 5), 1)  # 0.05715 USDT < min notional 0.1
    assert info.value.msg == "Filter failure: NOTIONAL"
    with pytest.raises(errors.SimError) as info:
        e.place("a", NewOrder("NOPE", Side.BUY, LIMIT, units=U, price=1), 1)
    assert info.value.code == -1121
    e.set_status(SYM, "HALT")
    with pytest.raises(errors.SimError) as info:
        e.place("a", limit(Side.BUY, 1000, 100), 1)
    assert info.value.msg == "Market is closed."
    assert e.ledger.accounts["a"].balance("USDT").free == amt("1")


def test_cancel_releases_and_duplicate_client_id() -> None:
    e = make_engine(a=FUNDS)
    o = e.place("a", limit(Side.SELL, 1143, 100, cid="x1"), 1)
    with pytest.raises(errors.SimError) as info:
        e.place("a", limit(Side.SELL, 1144, 100, cid="x1"), 2)
    assert info.value.msg == "Duplicate order sent."
    e.cancel("a", SYM, 3, client_order_id="x1")
    assert o.status == "CANCELED"
    assert e.ledger.accounts["a"].balance("KGST").locked == 0
    with pytest.raises(errors.SimError) as info:
        e.cancel("a", SYM, 4, order_id=o.order_id)
    assert info.value.code == -2011
    uid, bids, asks = e.depth(SYM, 5)
    assert (uid, bids, asks) == (2, [], [])


def test_depth_updates_are_contiguous() -> None:
    e = make_engine(a=FUNDS, b=FUNDS)
    e.place("a", limit(Side.SELL, 1143, 100), 1)
    e.place("a", limit(Side.SELL, 1144, 100), 2)
    e.place("b", limit(Side.BUY, 1144, 150), 3)
    e.skip_update_ids(SYM, 5)
    e.place("b", limit(Side.BUY, 1100, 100), 4)
    ups = [ev for ev in e.drain() if type(ev).__name__ == "DepthUpdate"]
    ids = [(u.first_id, u.last_id) for u in ups]  # type: ignore[attr-defined]
    assert ids == [(1, 1), (2, 2), (3, 4), (10, 10)]


# -- property test against a naive reference matcher ---------------------------------------


@dataclass
class RefOrder:
    oid: int
    side: int
    price: int
    remaining: int
    seq: int


def ref_match(
    resting: list[RefOrder], side: int, price: int | None, lots: int
) -> list[tuple[int, int, int]]:
    """Fills (maker order id, price, lots) of a naive price-time matcher; mutates ``resting``."""
    fills = []
    candidates = [
        o for o in resting if o.side == -side and (price is None or (o.price - price) * side <= 0)
    ]
    candidates.sort(key=lambda o: (o.price * side, o.seq))
    for o in candidates:
        if lots == 0:
            break
        take = min(lots, o.remaining)
        fills.append((o.oid, o.price, take))
        o.remaining -= take
        lots -= take
    resting[:] = [o for o in resting if o.remaining > 0]
    return fills


op_strategy = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["limit", "limit", "limit", "ioc", "fok", "market", "cancel"]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1138, 1148),
    st.integers(88, 400),
    st.integers(0, 50),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_strategy, min_size=1, max_size=60))
def test_matching_against_reference(ops: list[tuple[str, str, Side, int, int, int]]) -> None:
    funds = {"a": {"KGST": "2000", "USDT": "30"}, "b": {"KGST": "500", "USDT": "5"}, "c": FUNDS}
    e = make_engine(**funds)
    initial = e.ledger.totals(["KGST", "USDT"])
    resting: list[RefOrder] = []
    seq = 0
    for now, (who, kind, side, tick, lots, pick) in enumerate(ops, start=1):
        if kind == "cancel":
            mine = e.open_orders(who, SYM)
            if not mine:
                continue
            victim = mine[pick % len(mine)]
            e.cancel(who, SYM, now, order_id=victim.order_id)
            resting[:] = [o for o in resting if o.oid != victim.order_id]
            continue
        tif = {"ioc": IOC, "fok": FOK}.get(kind, "GTC")
        req = (
            NewOrder(SYM, side, MARKET, units=lots * U)
            if kind == "market"
            else limit(side, tick, lots, tif)
        )
        before = {k: (b.free, b.locked) for k, b in e.ledger.accounts[who].balances.items()}
        n_trades = len(e.trades.get(who, []))
        try:
            order = e.place(who, req, now)
        except errors.SimError as exc:
            # Only a filter or balance failure is legal, and it must leave no trace.
            assert exc.code in (-2010, -1013)
            after = {k: (b.free, b.locked) for k, b in e.ledger.accounts[who].balances.items()}
            assert after == before
            assert len(e.trades.get(who, [])) == n_trades
            continue
        seq += 1
        ref_resting_copy = [RefOrder(o.oid, o.side, o.price, o.remaining, o.seq) for o in resting]
        if kind == "fok":
            avail = sum(
                o.remaining
                for o in resting
                if o.side == -int(side) and (o.price - tick) * side <= 0
            )
            expected = ref_match(resting, int(side), tick, lots) if avail >= lots else []
            if avail < lots:
                resting[:] = ref_resting_copy
        else:
            expected = ref_match(resting, int(side), None if kind == "market" else tick, lots)
        got: list[AccountTrade] = [
            t for t in e.trades.get(who, [])[n_trades:] if t.order_id == order.order_id
        ]
        maker_ids = []
        for t in got:
            maker_ids.extend(
                tr.order_id
                for trades in e.trades.values()
                for tr in trades
                if tr.trade_id == t.trade_id and tr.is_maker
            )
        assert [(m, t.price, t.units // U) for m, t in zip(maker_ids, got, strict=True)] == expected
        filled = sum(f[2] for f in expected)
        assert order.executed_units == filled * U
        if kind == "limit" and filled < lots:
            resting.append(RefOrder(order.order_id, int(side), tick, lots - filled, seq))
            assert order.is_open
        else:
            assert not order.is_open
            if filled == lots:
                assert order.status == "FILLED"
        # Invariants after every operation.
        assert e.ledger.totals(["KGST", "USDT"]) == initial
        for key, acct in e.ledger.accounts.items():
            for asset, bal in acct.balances.items():
                assert bal.free >= 0 and bal.locked >= 0
                held = sum(
                    o.locked
                    for o in e.open_orders(key, SYM)
                    if (asset == "USDT") == (o.side is Side.BUY)
                )
                assert bal.locked == held, (key, asset)
        _, bids, asks = e.depth(SYM, 100)
        if bids and asks:
            assert bids[0][0] < asks[0][0]
        assert sorted((o.oid, o.remaining * U) for o in resting) == sorted(
            (o.order_id, o.remaining) for k in funds for o in e.open_orders(k, SYM)
        )
    assert e.ledger.fees.get("KGST", 0) >= 0 and Decimal(e.ledger.fees.get("USDT", 0)) >= 0


def test_max_num_orders_filter() -> None:
    e = Engine([])
    e.add_market(M, max_open_orders=3)
    e.ledger.add("a", "s", FUNDS)
    for i in range(3):
        e.place("a", limit(Side.BUY, 1100 + i, 100), i)
    with pytest.raises(errors.SimError) as info:
        e.place("a", limit(Side.BUY, 1090, 100), 4)
    assert info.value.msg == "Filter failure: MAX_NUM_ORDERS"
    e.place("a", NewOrder(SYM, Side.SELL, MARKET, units=100 * U), 5)  # fills the best bid
    assert len(e.open_orders("a", SYM)) == 2
    e.place("a", limit(Side.BUY, 1090, 100), 6)  # room again


ext_op = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from(["limit", "ioc", "market", "market_quote", "cancel", "ext_fill", "ext_move"]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1136, 1150),
    st.integers(88, 600),
    st.integers(0, 1000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ext_op, min_size=1, max_size=50))
def test_external_liquidity_conserves_assets(
    ops: list[tuple[str, str, Side, int, int, int]],
) -> None:
    e = make_engine(a={"KGST": "3000", "USDT": "40"}, b={"KGST": "800", "USDT": "8"})
    ext_asks = {1144: 300 * U, 1145: 500 * U, 1147: 1000 * U}
    ext_bids = {1142: 300 * U, 1141: 500 * U, 1138: 1000 * U}
    e.set_external(SYM, [(-1, t, q) for t, q in ext_asks.items()], 0)
    e.set_external(SYM, [(1, t, q) for t, q in ext_bids.items()], 0)

    def taker(order, units, limit_ticks, now):  # type: ignore[no-untyped-def]
        book = ext_asks if order.side is Side.BUY else ext_bids
        out = []
        for tick in sorted(book, reverse=order.side is Side.SELL):
            if limit_ticks is not None and (tick - limit_ticks) * order.side > 0:
                break
            take = min(units, book[tick])
            if take:
                out.append((tick, take))
                units -= take
            if not units:
                break
        return out

    e.external_takers[SYM] = taker
    totals = e.ledger.totals(["KGST", "USDT"])
    for now, (who, kind, side, tick, lots, pick) in enumerate(ops, start=1):
        try:
            if kind == "cancel" or kind == "ext_fill":
                mine = e.open_orders(who, SYM)
                if not mine:
                    continue
                victim = mine[pick % len(mine)]
                if kind == "cancel":
                    e.cancel(who, SYM, now, order_id=victim.order_id)
                else:
                    units = (pick % (victim.remaining // U) + 1) * U
                    e.fill_external(victim.order_id, victim.price, units, now)
            elif kind == "ext_move":
                book = ext_asks if side is Side.SELL else ext_bids
                if (side is Side.SELL and tick > 1143) or (side is Side.BUY and tick < 1143):
                    book[tick] = lots * U
                    e.set_external(SYM, [(int(side), tick, lots * U)], now)
            elif kind == "market_quote":
                quote = amount_from_decimal(Decimal(lots) / 100)
                e.place(who, NewOrder(SYM, side, MARKET, quote_amount=quote), now)
            elif kind == "market":
                e.place(who, NewOrder(SYM, side, MARKET, units=lots * U), now)
            else:
                e.place(who, limit(side, tick, lots, IOC if kind == "ioc" else "GTC"), now)
        except errors.SimError as exc:
            assert exc.code in (-2010, -1013)
        assert e.ledger.totals(["KGST", "USDT"]) == totals
        for key in ("a", "b"):
            acct = e.ledger.accounts[key]
            for asset, bal in acct.balances.items():
                assert bal.free >= 0 and bal.locked >= 0
                held = sum(
                    o.locked
                    for o in e.open_orders(key, SYM)
                    if (asset == "USDT") == (o.side is Side.BUY)
                )
                assert bal.locked == held
            for o in e.open_orders(key, SYM):
                assert 0 < o.remaining <= o.orig_units
