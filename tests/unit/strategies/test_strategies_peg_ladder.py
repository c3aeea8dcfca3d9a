"""peg_ladder: exact examples and hypothesis properties (band, bid < ask, skew, fees)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.quoting import band_ticks
from pegbot.strategy import (
    DesiredQuotes,
    FairView,
    Inventory,
    MarketState,
    StrategyError,
    load_strategy,
)
from strategies.peg_ladder import PegLadder

MARKET = Market.kgst_usdt()
UNITS = MARKET.units_per_lot
FAIR = Fraction(2287, 2)  # 1143.5 ticks = 0.011435 USDT, ≈ 1/87.45


def _book(bid: int | None = 1143, ask: int | None = 1144) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(bid, 10**12)] if bid else [], [(ask, 10**12)] if ask else [])
    return book


def _state(
    fair: Fraction | None = FAIR, excess_lots: int = 0, book: OrderBook | None = None
) -> MarketState:
    return MarketState(
        now_ns=1,
        book=book if book is not None else _book(),
        fair=None if fair is None else FairView.make(fair),
        inventory=Inventory(
            base_units=(1_000_000 + excess_lots) * UNITS,
            quote_units=0,
            target_base_units=1_000_000 * UNITS,
        ),
    )


def _ladder(market: Market = MARKET, **params: Any) -> PegLadder:
    strategy = load_strategy("peg_ladder", market, params)
    assert isinstance(strategy, PegLadder)
    return strategy


def _prices(d: DesiredQuotes) -> dict[str, int]:
    return {q.level_id: q.price_ticks for q in d.quotes}


def test_flat_inventory_example() -> None:
    # Half-spread 10 bps of 1143.5 ticks = 1.1435 ticks; step 10 bps; band 50 bps = 5.7 ticks.
    s = _ladder(levels=3, first_bps=10, step_bps=10, size_lots=100, band_bps=50, price_skew_bps=5)
    d = s.quote(_state(book=_book(1140, 1148)))
    assert _prices(d) == {"b0": 1142, "a0": 1145, "b1": 1141, "a1": 1146, "b2": 1140, "a2": 1147}
    assert all(q.lots == 100 for q in d.quotes)
    lo, hi = band_ticks(FAIR, Fraction(50))
    assert (lo, hi) == (1138, 1149)


def test_levels_outside_the_band_are_dropped_not_clamped() -> None:
    s = _ladder(levels=5, first_bps=10, step_bps=20, size_lots=100, band_bps=40, price_skew_bps=5)
    d = s.quote(_state(book=_book(1130, 1160)))
    lo, hi = band_ticks(FAIR, Fraction(40))
    assert d.quotes and all(lo <= q.price_ticks <= hi for q in d.quotes)
    assert {q.level_id for q in d.quotes} == {"b0", "a0", "b1", "a1"}


def test_post_only_moves_behind_the_touch() -> None:
    # The market sits above fair: the bid would take the 1142 ask, so it rests at 1141.
    s = _ladder(levels=1, first_bps=1, size_lots=100, band_bps=100, price_skew_bps=5)
    d = s.quote(_state(book=_book(1141, 1142)))
    assert _prices(d)["b0"] == 1141
    assert _prices(d)["a0"] == 1145  # the fee floor: 10 bps a side


def test_min_spread_covers_fees() -> None:
    # Maker fee 10 bps: a round trip costs 20 bps, plus 5 bps edge = 25 bps ≈ 2.86 ticks.
    s = _ladder(levels=1, first_bps=1, size_lots=100, min_edge_bps=5, price_skew_bps=5)
    d = s.quote(_state(book=_book(1100, 1200)))
    assert d.best_ask is not None and d.best_bid is not None
    assert Fraction(d.best_ask - d.best_bid) * 10_000 / FAIR >= 25
    zero_fee = dataclasses.replace(MARKET, maker_fee=Decimal(0))
    d0 = _ladder(zero_fee, levels=1, first_bps=1, size_lots=100, price_skew_bps=5).quote(
        _state(book=_book(1100, 1200))
    )
    assert (d0.best_bid, d0.best_ask) == (1143, 1144)


def test_no_fair_value_pulls_quotes() -> None:
    d = _ladder().quote(_state(fair=None))
    assert d.quotes == () and "fair" in d.note


def test_walls_at_band_edges() -> None:
    s = _ladder(levels=1, size_lots=100, band_bps=50, wall_lots=5000, price_skew_bps=5)
    d = s.quote(_state(book=_book(1140, 1148)))
    assert d.get("bw") is not None and d.get("aw") is not None
    assert (d.get("bw").price_ticks, d.get("aw").price_ticks) == band_ticks(FAIR, Fraction(50))  # type: ignore[union-attr]
    # The market already trades through the band floor: the bid wall would take, so it is left out.
    d2 = s.quote(_state(book=_book(1120, 1130)))
    assert d2.get("bw") is None and d2.get("aw") is not None


def test_full_long_skew_example() -> None:
    s = _ladder(
        levels=1, first_bps=10, size_lots=100, band_bps=100, price_skew_bps=20,
        size_skew=0.5, inventory_range_lots=1000,
    )  # fmt: skip
    flat = s.quote(_state(book=_book(1100, 1200)))
    long = s.quote(_state(excess_lots=1000, book=_book(1100, 1200)))
    short = s.quote(_state(excess_lots=-5000, book=_book(1100, 1200)))
    # 20 bps of 1143.5 = 2.287 ticks of shift.
    assert _prices(flat) == {"b0": 1142, "a0": 1145}
    assert _prices(long) == {"b0": 1140, "a0": 1143}
    assert _prices(short) == {"b0": 1144, "a0": 1147}
    assert (long.get("b0").lots, long.get("a0").lots) == (50, 150)  # type: ignore[union-attr]
    assert (short.get("b0").lots, short.get("a0").lots) == (150, 50)  # type: ignore[union-attr]


def test_params_validation() -> None:
    with pytest.raises(StrategyError, match="price_skew_bps"):
        load_strategy("peg_ladder", MARKET, {"price_skew_bps": 100, "band_bps": 100})
    with pytest.raises(StrategyError, match="first_bps"):
        load_strategy("peg_ladder", MARKET, {"first_bps": 0})


# -- properties ---------------------------------------------------------------------------------

fairs = st.builds(Fraction, st.integers(50_000, 500_000), st.sampled_from([100, 7, 1]))
params = st.fixed_dictionaries(
    {
        "levels": st.integers(1, 6),
        "first_bps": st.floats(0.5, 60),
        "step_bps": st.floats(0.5, 40),
        "size_lots": st.integers(1, 10_000),
        "min_spread_bps": st.floats(0, 80),
        "min_edge_bps": st.floats(0, 10),
        "band_bps": st.floats(20, 300),
        "inventory_range_lots": st.integers(1, 100_000),
        "skew_frac": st.floats(0, 0.99),
        "size_skew": st.floats(0, 1),
        "wall_lots": st.sampled_from([0, 0, 50_000]),
    }
)


def _build(p: dict[str, Any]) -> PegLadder:
    p = dict(p)
    p["price_skew_bps"] = p.pop("skew_frac") * p["band_bps"]
    return _ladder(**p)


def _book_near(fair: Fraction, off: int, spread: int) -> OrderBook:
    bid = max(1, int(fair) + off)
    return _book(bid, bid + spread)


@settings(max_examples=300, deadline=None)
@given(params, fairs, st.integers(-200_000, 200_000), st.integers(-40, 40), st.integers(1, 6))
def test_ladder_is_sane(
    p: dict[str, Any], fair_div: Fraction, excess: int, off: int, spread: int
) -> None:
    fair = fair_div / 100
    s = _build(p)
    book = _book_near(fair, off, spread)
    d = s.quote(_state(fair=fair, excess_lots=excess, book=book))
    lo, hi = band_ticks(fair, Fraction(repr(p["band_bps"])))
    for q in d.quotes:
        assert type(q.price_ticks) is int and type(q.lots) is int and q.lots > 0
        assert lo <= q.price_ticks <= hi, "quote outside the peg band"
        if q.side is Side.BUY:
            assert book.best_ask is None or q.price_ticks < book.best_ask, "bid would take"
        else:
            assert book.best_bid is None or q.price_ticks > book.best_bid, "ask would take"
    if d.best_bid is not None and d.best_ask is not None:
        assert d.best_bid < d.best_ask
    b0, a0 = d.get("b0"), d.get("a0")
    if b0 and a0:
        fee_floor = max(Fraction(repr(p["min_spread_bps"])), 20 + Fraction(repr(p["min_edge_bps"])))
        assert (a0.price_ticks - b0.price_ticks) * 10_000 >= fee_floor * fair


@settings(max_examples=300, deadline=None)
@given(
    params,
    fairs,
    st.integers(-200_000, 200_000),
    st.integers(-200_000, 200_000),
    st.integers(-40, 40),
)
def test_skew_is_monotone_in_inventory(
    p: dict[str, Any], fair_div: Fraction, x1: int, x2: int, off: int
) -> None:
    fair = fair_div / 100
    s = _build(p)
    book = _book_near(fair, off, 2)
    lo_inv, hi_inv = sorted((x1, x2))
    d1 = s.quote(_state(fair=fair, excess_lots=lo_inv, book=book))
    d2 = s.quote(_state(fair=fair, excess_lots=hi_inv, book=book))
    # Longer inventory: every level's price no higher, bids no bigger, asks no smaller.
    for q2 in d2.quotes:
        q1 = d1.get(q2.level_id)
        if q1 is None or q2.level_id in ("bw", "aw"):
            continue
        assert q2.price_ticks <= q1.price_ticks
        if q2.side is Side.BUY:
            assert q2.lots <= q1.lots
        else:
            assert q2.lots >= q1.lots
    assert d2.lots(Side.BUY) <= d1.lots(Side.BUY)
    assert d2.lots(Side.SELL) >= d1.lots(Side.SELL)
    for side in (Side.BUY, Side.SELL):
        if d1.best_bid is not None and d2.best_bid is not None and side is Side.BUY:
            assert d2.best_bid <= d1.best_bid
        if d1.best_ask is not None and d2.best_ask is not None and side is Side.SELL:
            assert d2.best_ask <= d1.best_ask
