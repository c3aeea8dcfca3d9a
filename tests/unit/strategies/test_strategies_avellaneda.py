"""avellaneda: keeps quoting and skewing on a flat peg; the volatility estimate; properties."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.strategy import FairView, Inventory, MarketState, load_strategy
from strategies.avellaneda import Avellaneda

MARKET = Market.kgst_usdt()
UNITS = MARKET.units_per_lot
FAIR = Fraction(2287, 2)
SEC = 1_000_000_000


def _book(bid: int = 1100, ask: int = 1200) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(bid, 10**12)], [(ask, 10**12)])
    return book


def _state(
    now_ns: int = SEC, fair: Fraction = FAIR, excess_lots: int = 0, book: OrderBook | None = None
) -> MarketState:
    return MarketState(
        now_ns=now_ns,
        book=book if book is not None else _book(),
        fair=FairView.make(fair),
        inventory=Inventory(excess_lots * UNITS, 0, 0),
    )


def _as(**params: Any) -> Avellaneda:
    s = load_strategy("avellaneda", MARKET, params)
    assert isinstance(s, Avellaneda)
    return s


def test_keeps_quoting_a_flat_peg_for_an_hour() -> None:
    s = _as(gamma=0.5, kappa=0.1, horizon_s=60, sigma_floor_bps=1.0, min_spread_bps=0)
    last = None
    for i in range(3600):
        last = s.quote(_state(now_ns=i * SEC))
        assert last.best_bid is not None and last.best_ask is not None
        assert last.best_bid < last.best_ask
    assert s.sigma_bps == 0.0  # the estimate collapsed; the floor carries the model
    # Expected: spread = γσ²τ + (2/γ)ln(1+γ/κ) = 30 + 4·ln 6 ≈ 37.17 bps ≥ the 20 bps fee floor.
    spread_bps = 0.5 * 1.0 * 60 + (2 / 0.5) * math.log(1 + 0.5 / 0.1)
    half_ticks = spread_bps / 2 * float(FAIR) / 10_000
    assert last is not None
    assert last.best_bid == math.floor(float(FAIR) - half_ticks)
    assert last.best_ask == math.ceil(float(FAIR) + half_ticks)


def test_skew_survives_zero_volatility() -> None:
    # The classic form's skew q·γ·σ²·τ vanishes with σ; the floor keeps it.
    s = _as(gamma=1.0, kappa=1.0, horizon_s=600, sigma_floor_bps=1.0, inventory_unit_lots=1000)
    flat = s.quote(_state(excess_lots=0))
    long = s.quote(_state(excess_lots=2000))  # q = 2: 2·1·1·600 = 1200 bps, capped at 100
    short = s.quote(_state(excess_lots=-2000))
    assert flat.best_bid is not None and long.best_bid is not None and short.best_bid is not None
    assert long.best_bid < flat.best_bid < short.best_bid


def test_fee_floor_on_spread() -> None:
    s = _as(gamma=10, kappa=1000, horizon_s=1, sigma_floor_bps=0.01, min_edge_bps=4)
    d = s.quote(_state())
    assert d.best_ask is not None and d.best_bid is not None
    assert (d.best_ask - d.best_bid) * 10_000 >= 24 * FAIR  # 2 × 10 bps fee + 4 bps edge


def test_volatility_estimate_rises_with_moves_and_widens() -> None:
    s = _as(
        gamma=0.5, kappa=0.1, horizon_s=60, sigma_floor_bps=0.1, vol_halflife_s=10, reference="mid"
    )
    calm = s.quote(_state(now_ns=0, book=_book(1143, 1144)))
    d = calm
    for i in range(1, 200):
        bid = 1143 + (5 if i % 2 else 0)  # the mid jumps 5 ticks every second
        d = s.quote(_state(now_ns=i * SEC, book=_book(bid, bid + 1)))
    assert s.sigma_bps > 10
    assert calm.best_ask is not None and calm.best_bid is not None
    assert d.best_ask is not None and d.best_bid is not None
    assert d.best_ask - d.best_bid > calm.best_ask - calm.best_bid
    s.reset()
    assert s.sigma_bps == 0.0


def test_time_going_backwards_does_not_update_volatility() -> None:
    s = _as(reference="mid", vol_halflife_s=1)
    s.quote(_state(now_ns=10 * SEC, book=_book(1143, 1144)))
    s.quote(_state(now_ns=5 * SEC, book=_book(1200, 1201)))
    assert s.sigma_bps == 0.0


def test_no_reference_no_quotes() -> None:
    s = _as(reference="mid")
    d = s.quote(_state(book=OrderBook()))
    assert d.quotes == () and "mid" in d.note


def test_band_and_levels() -> None:
    s = _as(levels=4, level_step_bps=20, band_bps=60)
    d = s.quote(_state())
    lo, hi = math.ceil(FAIR * Fraction(9940, 10_000)), math.floor(FAIR * Fraction(10060, 10_000))
    assert d.quotes and all(lo <= q.price_ticks <= hi for q in d.quotes)
    assert len(d.quotes) < 8  # outer levels fell outside the band


params = st.fixed_dictionaries(
    {
        "gamma": st.floats(0.01, 5),
        "kappa": st.floats(0.01, 5),
        "horizon_s": st.floats(1, 3600),
        "sigma_floor_bps": st.floats(0.01, 5),
        "min_spread_bps": st.floats(0, 50),
        "max_spread_bps": st.floats(50, 2000),
        "inventory_unit_lots": st.integers(1, 100_000),
        "max_q": st.floats(0.1, 20),
        "size_eta": st.floats(0, 2),
        "levels": st.integers(1, 4),
    }
)


@settings(max_examples=200, deadline=None)
@given(params, st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6), st.integers(-30, 30))
def test_bid_below_ask_and_skew_monotone(p: dict[str, Any], x1: int, x2: int, off: int) -> None:
    s = _as(**p)
    book = _book(int(FAIR) + off, int(FAIR) + off + 1)
    lo_inv, hi_inv = sorted((x1, x2))
    d1 = s.quote(_state(excess_lots=lo_inv, book=book))
    d2 = s.quote(_state(excess_lots=hi_inv, book=book))
    for d in (d1, d2):
        assert d.quotes, "A-S must keep quoting"
        if d.best_bid is not None and d.best_ask is not None:  # η may empty one side
            assert d.best_bid < d.best_ask
        assert all(q.price_ticks < book.best_ask for q in d.bids)  # type: ignore[operator]
        assert all(q.price_ticks > book.best_bid for q in d.asks)  # type: ignore[operator]
    for q2 in d2.quotes:
        q1 = d1.get(q2.level_id)
        if q1 is None:  # the side that adds inventory may shrink to nothing (η)
            continue
        assert q2.price_ticks <= q1.price_ticks
    assert d2.lots(Side.BUY) <= d1.lots(Side.BUY)
    assert d2.lots(Side.SELL) >= d1.lots(Side.SELL)
