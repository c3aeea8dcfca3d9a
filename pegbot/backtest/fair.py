"""Where the backtest's fair value comes from: a fixed price, or the tape's own mid.

A rate series file goes through the peg's estimator (:func:`pegbot.backtest.scenario.make_fair`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from pegbot.backtest.book import DenseBookView
from pegbot.market import Market
from pegbot.strategy import FairState, FairView

FairFn = Callable[[int, DenseBookView], FairView | None]


def fixed_fair(market: Market, price: Decimal) -> FairFn:
    """A fair value that never changes (a fixed rate)."""
    view = FairView.from_price(market, price)

    def fair(now_ns: int, book: DenseBookView) -> FairView | None:
        return view

    return fair


def fair_series_from_file(path: str | Path) -> list[tuple[int, Fraction]]:
    """A rate series file as ``(time ns, fair price in quote per base)`` steps.

    The price is ``1 / rate`` of the last observation, exactly: the price the peg's estimator
    holds for a single source (its stale/jump flags are not applied). The results mark PnL
    and measure the bands around fair on these steps.
    """
    from pegbot.peg.replay import read_fair_file

    return [(o.observed_at_ns, 1 / Fraction(o.rate)) for o in read_fair_file(path)]


# Fractions by twice the mid: a backtest asks again and again at the same few prices.
_MID_CACHE: dict[int, Fraction] = {}


def mid_fair(now_ns: int, book: DenseBookView) -> FairView | None:
    """The tape's own mid as the fair value (None while a side is empty)."""
    bb, ba = book.best_bid, book.best_ask
    if bb is None or ba is None:
        return None
    twice = bb + ba
    mid = _MID_CACHE.get(twice)
    if mid is None:
        if len(_MID_CACHE) > 4096:
            _MID_CACHE.clear()
        mid = _MID_CACHE[twice] = Fraction(twice, 2)
    return FairView(mid, FairState.OK, 0, now_ns)
