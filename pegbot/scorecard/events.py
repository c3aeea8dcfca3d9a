"""The scorecard's input: one time-ordered stream of small, frozen facts.

Every world that trades — the live bot, a ``pegbot evaluate`` run watching the simulator, a
backtest's records — describes what happened as these events, and one fold
(:mod:`pegbot.scorecard.fold`) turns them into figures. Nothing here knows where an event came
from, so the same figures mean the same thing everywhere.

Conventions, as in the rest of pegbot: prices are integer ticks (the fair value is an exact
:class:`~fractions.Fraction` of ticks, since ``1 / som_per_usd`` is off the grid), sizes are
integer qty units of the market, time is int nanoseconds UTC. An event states the *whole*
new value of what it describes (the book's top, every order of ours on both sides, the
inventory), never a difference, so a stream sampled at any rate still folds correctly.

==============  ==================================================================
event           what it says
==============  ==================================================================
:class:`Book`   the market's best bid and ask, with our orders and without them
:class:`Quotes` every order of ours resting now, per side, as ``(price, qty)``
:class:`Fair`   the fair value (None: unknown); a large change is an FX jump
:class:`RateSeen`  the bot read the official rate (it can only act on a jump after)
:class:`OwnFill`  one fill of ours (side, price, qty, maker or taker)
:class:`OrderAction`  an order request of ours: placed, cancelled, amended, replaced
:class:`Holding`  our base holding
==============  ==================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from pegbot.book import OrderBook
from pegbot.market import Side

__all__ = [
    "Book",
    "Event",
    "Fair",
    "Holding",
    "Level",
    "OrderAction",
    "OrderKind",
    "OwnFill",
    "Quotes",
    "RateSeen",
    "book_from_l2",
]

#: One resting order of ours: ``(price ticks, remaining qty units)``.
Level = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Book:
    """The market's top of book; None where a side is empty.

    Attributes:
        ts_ns: When the book looked like this.
        bid: Best bid of the whole book, our orders included (what the public sees).
        ask: Best ask of the whole book, our orders included.
        bid_ex: Best bid of everyone but us.
        ask_ex: Best ask of everyone but us.
    """

    ts_ns: int
    bid: int | None
    ask: int | None
    bid_ex: int | None
    ask_ex: int | None


@dataclass(frozen=True, slots=True)
class Quotes:
    """Every order of ours resting now (the whole set, after a change).

    Attributes:
        ts_ns: When the set became this.
        bids: Our buy orders as ``(price ticks, qty units)``, any order.
        asks: Our sell orders.
    """

    ts_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Fair:
    """The fair value from now on, in ticks (exact); None while it is unknown."""

    ts_ns: int
    price_ticks: Fraction | None


@dataclass(frozen=True, slots=True)
class RateSeen:
    """The bot read the official rate (a fetch of its rate source) at ``ts_ns``.

    A jump's clock for the bot starts here: it cannot act on a rate it has not read. Worlds
    where the fair value *is* what the bot believes (the live bot's own fair) need not send it.
    """

    ts_ns: int


@dataclass(frozen=True, slots=True)
class OwnFill:
    """One fill of one of our orders.

    Attributes:
        ts_ns: Execution time.
        side: Our side (BUY: we bought).
        price_ticks: Execution price.
        qty_units: Executed quantity.
        maker: Our order was resting (True) or took liquidity (False).
    """

    ts_ns: int
    side: Side
    price_ticks: int
    qty_units: int
    maker: bool


class OrderKind(enum.StrEnum):
    """What an order request of ours did."""

    PLACED = "placed"
    CANCELLED = "cancelled"
    AMENDED = "amended"
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class OrderAction:
    """One order request of ours the venue accepted (a place, cancel, amend or replace)."""

    ts_ns: int
    kind: OrderKind
    side: Side


@dataclass(frozen=True, slots=True)
class Holding:
    """Our holding of the base asset, in qty units, from ``ts_ns`` on."""

    ts_ns: int
    base_units: int


Event = Book | Quotes | Fair | RateSeen | OwnFill | OrderAction | Holding


def book_from_l2(
    ts_ns: int, book: OrderBook, bids: tuple[Level, ...], asks: tuple[Level, ...]
) -> Book:
    """The :class:`Book` event of an L2 book that holds our orders ``bids`` and ``asks`` too.

    Without us, a level keeps what is left after our quantity there; a level whose size is
    at most ours (a book lagging our orders by a message) counts as ours alone.
    """
    bid_ex, ask_ex = _best_without(book, 1, bids), _best_without(book, -1, asks)
    return Book(ts_ns, book.best_bid, book.best_ask, bid_ex, ask_ex)


def _best_without(book: OrderBook, side: int, ours: tuple[Level, ...]) -> int | None:
    mine: dict[int, int] = {}
    for p, q in ours:
        mine[p] = mine.get(p, 0) + q
    # Our orders fill at most len(mine) levels: the best of everyone else's is within one more.
    for tick, qty in book.top(side, len(mine) + 1):
        if qty > mine.get(tick, 0):
            return tick
    return None
