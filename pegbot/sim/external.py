"""External liquidity: the replayed market as the counterparty of users' orders.

The engine matches users' orders against each other; a replay source adds the tape's levels as
external liquidity and decides, through an :data:`ExternalTaker`, how much of them an incoming
order takes. The fills settle against :data:`EXTERNAL_KEY`, an account funded beyond any need,
so that assets stay conserved across the whole ledger.

This module depends on the engine only through :class:`Settlement`, the few things of the
engine a replay fill needs (values of a fill, the ledger, the event list, settling one side of
a fill); the engine satisfies it structurally and imports this module, never the other way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pegbot.market import Side

from .accounts import Ledger
from .model import Event, Order, PublicTrade, SymbolBook

#: How a user's order takes external liquidity: ``(order, units wanted, limit tick or None,
#: now) -> [(tick, units)]``, best price first, never beyond the limit.
ExternalTaker = Callable[[Order, int, int | None, int], list[tuple[int, int]]]

#: The ledger account of the external (replayed) market, the counterparty of replay fills.
EXTERNAL_KEY = "__external_market__"
# Enough of every asset that the external market never runs dry.
EXTERNAL_FUNDS = 10**40


class Settlement(Protocol):
    """What of the engine settling a fill against the external market needs."""

    ledger: Ledger
    events: list[Event]

    def quote_value(self, symbol: str, ticks: int, units: int) -> int:
        """Amount units of quote worth ``units`` at ``ticks``."""
        ...

    def base_value(self, symbol: str, units: int) -> int:
        """Amount units of base in ``units`` qty units."""
        ...

    def settle(
        self,
        book: SymbolBook,
        order: Order,
        tick: int,
        units: int,
        is_maker: bool,
        trade_id: int,
        touched: dict[str, set[str]],
        now: int,
    ) -> None:
        """Settle one side of a fill: pay out of ``order``'s lock, credit, record, report."""
        ...


def take_external(
    engine: Settlement,
    book: SymbolBook,
    order: Order,
    hook: ExternalTaker,
    limit: int | None,
    budget: int | None,
    touched: dict[str, set[str]],
    now: int,
) -> None:
    """Take external liquidity for ``order`` up to ``limit`` (and its quote budget)."""
    buy = order.side is Side.BUY
    ext = book.ext_asks if buy else book.ext_bids
    if not ext:
        return
    want = order.remaining
    lot = book.market.units_per_lot
    if budget is not None and buy:
        # Ask only for what the budget can pay, so the replay does not mark more consumed.
        want, left = 0, budget - order.cum_quote
        for tick in sorted(ext):
            if limit is not None and tick > limit:
                break
            per_lot = engine.quote_value(order.symbol, tick, lot)
            take = min(ext[tick], left // per_lot * lot)
            want += take
            left -= engine.quote_value(order.symbol, tick, take)
            if take < ext[tick]:
                break
    if want <= 0:
        return
    for tick, got in hook(order, want, limit, now):
        if limit is not None and (tick > limit if buy else tick < limit):
            raise ValueError(f"external taker filled at {tick} beyond the limit {limit}")
        units = min(got, order.remaining)
        if budget is not None and buy:
            per_lot = engine.quote_value(order.symbol, tick, lot)
            units = min(units, (budget - order.cum_quote) // per_lot * lot)
        if units <= 0:
            break
        book.trade_id += 1
        engine.settle(book, order, tick, units, False, book.trade_id, touched, now)
        settle_external(engine, book, order.side, tick, units)
        engine.events.append(PublicTrade(order.symbol, book.trade_id, tick, units, not buy, now))


def settle_external(
    engine: Settlement, book: SymbolBook, user_side: Side, tick: int, units: int
) -> None:
    """Move the assets of a fill on the external account's side."""
    # The external market is the counterparty: it delivers what the user receives.
    market, sym = book.market, book.market.exchange_symbol
    ext = engine.ledger.accounts[EXTERNAL_KEY]
    base, quote = engine.base_value(sym, units), engine.quote_value(sym, tick, units)
    sign = 1 if user_side is Side.BUY else -1
    ext.balance(market.base).free -= sign * base
    ext.balance(market.quote).free += sign * quote
