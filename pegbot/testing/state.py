"""Factories for the strategy contract's inputs: a book, a market state, a fair value.

A strategy author tests ``quote(state)`` on states built in one line:

    >>> state = market_state(fair=1143.5, bid=1143, ask=1144, excess_lots=-200)
    >>> strategy.quote(state)

Every argument has the KGST/USDT default a desk would start from (1 USDT = 87.45 KGS, so
fair ≈ 1143.5 ticks of 1e-5; a deep one-tick book around it; flat inventory).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.strategy import FairView, FeedHealth, Inventory, LiveOrder, MarketState

__all__ = ["DEFAULT_FAIR_TICKS", "book", "fair_view", "inventory", "market_state"]

#: 1 / 87.45 USDT in ticks of 1e-5: the som peg, between two ticks as it usually is.
DEFAULT_FAIR_TICKS = Fraction(2287, 2)
#: Deep enough that no test quantity ever exhausts a level.
_DEEP = 10**12


def book(
    bid: int | None = 1143,
    ask: int | None = 1144,
    *,
    bid_qty: int = _DEEP,
    ask_qty: int = _DEEP,
    bids: Sequence[tuple[int, int]] = (),
    asks: Sequence[tuple[int, int]] = (),
    local_ts: int = 0,
) -> OrderBook:
    """An order book with a best bid and ask (None: that side empty) and any deeper levels.

    Args:
        bid: Best bid tick.
        ask: Best ask tick.
        bid_qty: Quantity at the best bid, in qty units.
        ask_qty: Quantity at the best ask, in qty units.
        bids: Further ``(tick, qty units)`` bid levels.
        asks: Further ``(tick, qty units)`` ask levels.
        local_ts: The book's local receive time.
    """
    b = OrderBook()
    b.apply_snapshot(
        ([(bid, bid_qty)] if bid is not None else []) + list(bids),
        ([(ask, ask_qty)] if ask is not None else []) + list(asks),
    )
    b.local_ts = local_ts
    return b


def fair_view(
    ticks: Fraction | float | int | Decimal = DEFAULT_FAIR_TICKS,
    state: str = "ok",
    age_ns: int = 0,
    observed_at_ns: int = 0,
) -> FairView:
    """The fair value as the core sees it (``ticks`` exact; a float at its decimal value)."""
    value = Fraction(repr(ticks)) if isinstance(ticks, float) else Fraction(ticks)
    return FairView.make(value, state, age_ns, observed_at_ns)


def inventory(
    market: Market | None = None,
    excess_lots: int = 0,
    target_lots: int = 1_000_000,
    quote: Decimal | int = 0,
) -> Inventory:
    """Holdings of ``target_lots + excess_lots`` base lots against a target of ``target_lots``."""
    m = market or Market.kgst_usdt()
    upl = m.units_per_lot
    return Inventory(
        base_units=(target_lots + excess_lots) * upl,
        quote_units=m.qty_to_units(Decimal(quote)),
        target_base_units=target_lots * upl,
    )


def market_state(
    fair: Fraction | float | int | None = DEFAULT_FAIR_TICKS,
    bid: int | None = 1143,
    ask: int | None = 1144,
    *,
    excess_lots: int = 0,
    now_ns: int = 1,
    fair_state: str = "ok",
    book_: OrderBook | None = None,
    live: Sequence[LiveOrder] = (),
    market: Market | None = None,
    inventory_: Inventory | None = None,
    feed: FeedHealth | None = None,
    mode: str = "backtest",
) -> MarketState:
    """A :class:`~pegbot.strategy.MarketState` with sensible defaults.

    Args:
        fair: Fair value in ticks (None: no fair value, quotes are pulled).
        bid: Best bid tick of the default book.
        ask: Best ask tick of the default book.
        excess_lots: Base held above the inventory target, in lots.
        now_ns: Decision time.
        fair_state: ``ok``, ``stale``, ``disputed`` or ``jump``.
        book_: A book to use instead of the default one.
        live: Our live orders.
        market: The market (KGST/USDT by default).
        inventory_: Holdings to use instead of the ``excess_lots`` default.
        feed: Feed health (default: a fresh, synced, connected feed at ``now_ns``).
        mode: The run's mode.
    """
    return MarketState(
        now_ns=now_ns,
        book=book_ if book_ is not None else book(bid, ask, local_ts=now_ns),
        fair=None if fair is None else fair_view(fair, fair_state, 0, now_ns),
        inventory=inventory_ or inventory(market, excess_lots),
        live_orders=tuple(live),
        mode=mode,
        feed=feed if feed is not None else FeedHealth(book_ts_ns=now_ns),
    )
