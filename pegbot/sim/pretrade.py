"""Pre-trade checks of the simulated exchange: filters, post-only crossing, locks, reach.

Pure functions of a book and an order, used by the engine before an order touches the book:
the symbol filters an order must pass (``LOT_SIZE``, ``PRICE_FILTER``, ``NOTIONAL``), whether
a ``LIMIT_MAKER`` order would take, what a new order must lock, and how much of the public
book an order could take (the lock of a market order, the fill-or-kill check). Values are
amount units: ``tick_value`` is the value of one tick × one qty unit of the symbol.

With external (replayed) liquidity the reach is an upper bound of what the replay source will
let the order take, a simplification the engine states.
"""

from __future__ import annotations

from pegbot.market import Market, Side

from . import errors
from .accounts import AMOUNT_DECIMALS
from .model import MARKET, NewOrder, Order, SymbolBook

__all__ = ["acceptable", "check_filters", "crosses", "fok_fillable", "initial_lock", "reach"]


def check_filters(market: Market, req: NewOrder) -> None:
    """Raise -1013 if ``req`` breaks the symbol's ``LOT_SIZE``, ``PRICE_FILTER`` or ``NOTIONAL``."""
    sized = req.type != MARKET or not req.quote_amount
    if sized and (req.units <= 0 or req.units < market.qty_to_units(market.min_qty)):
        raise errors.filter_failure("LOT_SIZE")
    if req.type != MARKET:
        if req.price <= 0:
            raise errors.filter_failure("PRICE_FILTER")
        if market.notional(req.price, req.units) < market.min_notional:
            raise errors.filter_failure("NOTIONAL")
    elif req.quote_amount and req.quote_amount < market.min_notional.scaleb(AMOUNT_DECIMALS):
        raise errors.filter_failure("NOTIONAL")


def crosses(book: SymbolBook, side: Side, price: int) -> bool:
    """Whether an order at ``price`` would take: users' orders or external levels cross it."""
    # External levels count for LIMIT_MAKER too: on the venue they are real orders the maker
    # order would take.
    if side is Side.BUY:
        best = book.best_user(-1)
        ext = min(book.ext_asks) if book.ext_asks else None
        return (best is not None and best <= price) or (ext is not None and ext <= price)
    best = book.best_user(1)
    ext = max(book.ext_bids) if book.ext_bids else None
    return (best is not None and best >= price) or (ext is not None and ext >= price)


def acceptable(order: Order, tick: int) -> bool:
    """Whether ``order`` may trade at ``tick`` (its limit allows it)."""
    return tick <= order.price if order.side is Side.BUY else tick >= order.price


def reach(book: SymbolBook, order: Order, budget: int | None, tick_value: int) -> tuple[int, int]:
    """Units and quote value ``order`` could take from the public book, best price first.

    Exact without external liquidity, an upper bound with it. ``budget`` caps the quote value
    (a market order by ``quoteOrderQty``), in whole lots; None takes up to the order's size.
    """
    opposite = -1 if order.side is Side.BUY else 1
    if book.ext_bids or book.ext_asks:
        levels = book.public_levels(opposite, 1 << 30)
    else:
        ticks = book.ask_ticks if order.side is Side.BUY else reversed(book.bid_ticks)
        agg = book.user_asks if order.side is Side.BUY else book.user_bids
        levels = [(t, agg[t]) for t in ticks]
    lot = book.market.units_per_lot
    want = order.orig_units if budget is None else None
    units = value = 0
    for tick, level in levels:
        if order.type != MARKET and not acceptable(order, tick):
            break
        take = level if want is None else min(level, want - units)
        if budget is not None:
            per_lot = tick * lot * tick_value
            take = min(take, (budget - value) // per_lot * lot)
        units += take
        value += tick * take * tick_value
        if (want is not None and units >= want) or take < level:
            break
    return units, value


def fok_fillable(book: SymbolBook, order: Order, tick_value: int) -> bool:
    """Whether a fill-or-kill order could fill whole."""
    return reach(book, order, None, tick_value)[0] >= order.orig_units


def initial_lock(book: SymbolBook, order: Order, tick_value: int, unit_value: int) -> int:
    """What a new order locks: a buy the quote it may spend, a sell the base it offers.

    ``unit_value`` is the base value of one qty unit in amount units.
    """
    if order.side is Side.SELL:
        if order.type == MARKET and order.quote_amount:
            return reach(book, order, order.quote_amount, tick_value)[0] * unit_value
        return order.orig_units * unit_value
    if order.type != MARKET:
        return order.price * order.orig_units * tick_value
    if order.quote_amount:
        return order.quote_amount
    return reach(book, order, None, tick_value)[1]
