"""The pure quoting helpers: exact, and always rounding the safe way for a passive quote."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegbot import strategy
from pegbot.book import OrderBook
from pegbot.market import Side
from pegbot.quoting import (
    band_ticks,
    bps_ticks,
    frac,
    inventory_skew,
    post_only_clamp,
    round_passive,
)
from pegbot.strategy import Inventory

prices = st.fractions(min_value=1, max_value=10**7, max_denominator=10**6)
ticks = st.integers(min_value=1, max_value=10**7)
sides = st.sampled_from([Side.BUY, Side.SELL])
bps = st.fractions(min_value=0, max_value=5_000, max_denominator=100)


@dataclass(frozen=True)
class Touch:
    best_bid: int | None
    best_ask: int | None


@st.composite
def touches(draw: st.DrawFn) -> Touch:
    bid = draw(st.none() | ticks)
    ask = draw(st.none() | ticks)
    if bid is not None and ask is not None and bid >= ask:
        bid, ask = ask - 1, bid + 1  # now bid < ask
    return Touch(bid, ask)


def test_examples_are_exact() -> None:
    assert frac(0.1) == Fraction(1, 10)
    assert frac("12.5") == frac(12.5) == Fraction(25, 2)
    assert bps_ticks(Fraction(1000), Fraction(100)) == 10
    assert band_ticks(Fraction(1000), Fraction(100)) == (990, 1010)  # both edges exact
    assert band_ticks(Fraction(2287, 2), Fraction(10)) == (1143, 1144)  # 1142.357.. to 1144.64..
    assert band_ticks(1143.5, 10) == (1143, 1144)
    assert band_ticks(1000, 100) == (990, 1010)
    assert round_passive(Side.BUY, Fraction(2287, 2)) == 1143
    assert round_passive(Side.SELL, Fraction(2287, 2)) == 1144
    book = OrderBook()
    book.apply_snapshot([(1143, 10**11)], [(1144, 10**11)])
    assert post_only_clamp(Side.BUY, 1150, book) == 1143
    assert post_only_clamp(Side.SELL, 1100, book) == 1144
    assert post_only_clamp(Side.BUY, 1100, book) == 1100
    assert post_only_clamp(Side.BUY, 1150, OrderBook()) == 1150
    assert inventory_skew(Inventory(150, 0, 100), 100) == Fraction(1, 2)
    assert inventory_skew(Inventory(10**9, 0, 0), 100) == 1
    assert inventory_skew(Inventory(-(10**9), 0, 0), 100) == -1


def test_refuses_what_it_cannot_take_exactly() -> None:
    with pytest.raises(ValueError):
        frac(float("nan"))
    with pytest.raises(ValueError):
        band_ticks(1000, float("inf"))
    with pytest.raises(ValueError):
        inventory_skew(Inventory(1, 0), 0)


def test_the_strategy_contract_still_offers_the_helpers() -> None:
    # Strategy files import them from pegbot.strategy too: the very same functions.
    assert strategy.frac is frac and strategy.band_ticks is band_ticks
    assert strategy.round_passive is round_passive and strategy.post_only_clamp is post_only_clamp
    assert strategy.inventory_skew is inventory_skew and strategy.bps_ticks is bps_ticks


@given(sides, prices)
def test_round_passive_never_moves_toward_the_touch(side: Side, price: Fraction) -> None:
    tick = round_passive(side, price)
    if side is Side.BUY:
        assert price - 1 < tick <= price
    else:
        assert price <= tick < price + 1


@given(sides, ticks, touches())
def test_post_only_clamp_never_crosses(side: Side, price: int, touch: Touch) -> None:
    clamped = post_only_clamp(side, price, touch)
    if side is Side.BUY:
        assert touch.best_ask is None or clamped < touch.best_ask
        assert clamped <= price  # only ever further from the touch
        if touch.best_ask is None or price < touch.best_ask:
            assert clamped == price
    else:
        assert touch.best_bid is None or clamped > touch.best_bid
        assert clamped >= price
        if touch.best_bid is None or price > touch.best_bid:
            assert clamped == price


@given(
    st.integers(-(10**12), 10**12),
    st.integers(-(10**12), 10**12),
    st.integers(-(10**12), 10**12),
    st.integers(1, 10**12),
)
def test_inventory_skew_is_monotone_and_bounded(a: int, b: int, target: int, rng: int) -> None:
    lo, hi = sorted((a, b))
    skew_lo = inventory_skew(Inventory(lo, 0, target), rng)
    skew_hi = inventory_skew(Inventory(hi, 0, target), rng)
    assert -1 <= skew_lo <= skew_hi <= 1
    assert (skew_lo > 0) == (lo > target) and (skew_lo < 0) == (lo < target)


@given(prices, bps)
def test_band_ticks_is_the_tightest_inward_band(ref: Fraction, band: Fraction) -> None:
    lo, hi = band_ticks(ref, band)
    low_edge, high_edge = ref * (1 - band / 10_000), ref * (1 + band / 10_000)
    assert low_edge <= lo and lo - 1 < low_edge
    assert hi <= high_edge and high_edge < hi + 1


@given(st.floats(min_value=1, max_value=1e7), st.integers(0, 5_000) | st.sampled_from([12.5, 0.1]))
def test_band_ticks_takes_a_float_reference_exactly(ref: float, band: float) -> None:
    # A float reference at its binary value, a float band at its decimal spelling.
    assert band_ticks(ref, band) == band_ticks(Fraction(ref), Fraction(repr(band)))
    lo, hi = band_ticks(ref, band)
    assert lo <= math.ceil(ref) and hi >= math.floor(ref)
