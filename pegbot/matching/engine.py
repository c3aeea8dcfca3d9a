"""The fill engine: our orders resting beside an external L2 book, and when they fill.

The backtester (replaying a tape), the simulator's tape source and the paper venue (paper
trading on a live book) all hold orders of ours next to a book they do not control. This
module decides when those orders fill. It is pure and deterministic: no clock reads, no
randomness, integer ticks and qty units (:mod:`pegbot.market`) throughout, so a backtest
repeats exactly. How the queue ahead of an order moves on depth changes is the job of a
:class:`~pegbot.matching.queue.QueueModel`.

Contracts
---------

:class:`FillEngine` holds our resting orders by (side, price) and is fed the external market:

* ``add(order_id, side, price_ticks, qty_units, level_qty, ts_ns)`` rests an order. Its
  *queue ahead* starts at ``level_qty``, the external book's quantity at that price when the
  order arrives (pass ``book.bids.get(price, 0)``). Several orders of ours at one price keep
  their arrival order (FIFO); each one's queue ahead counts external quantity only.
* ``cancel(order_id) -> int`` removes it and returns the quantity canceled; 0 when the order is
  not resting (already filled or unknown): a cancel racing a fill is normal, not an error.
* ``amend(order_id, new_qty_units) -> int | None`` reduces an order's quantity *keeping its
  place in the queue*, as an exchange's "amend, keep priority" does (Binance's
  ``order/amend/keepPriority``): the new quantity must be below the current one; the queue
  ahead of the order and of every order before it does not change, and our own orders behind
  it move up by what it gave back. A new quantity at or below what already executed leaves
  nothing to fill: the order leaves the engine.
* ``on_depth(side, price_ticks, qty_units, ts_ns) -> list[EngineFill]``: the external level
  is now ``qty_units`` (absolute). Call it for every depth change, after applying it to your
  book. It moves queue positions (through the :class:`QueueModel`), forgets what :meth:`take`
  consumed at that level, and fills orders the level now crosses (see below).
* ``on_trade(aggressor_side, price_ticks, qty_units, ts_ns) -> list[EngineFill]``: a public
  trade. At our price it eats the queue: with our orders at one price in FIFO, an order fills
  by ``qty − ahead − (our quantity ahead of it at that price)``, clamped to ``[0, leaves]``;
  every order's queue ahead then falls by ``qty``. A trade *through* our price (a buyer paid
  more than our ask, a seller got less than our bid) fills our orders there fully.
* ``on_bbo(best_bid, best_ask, ts_ns) -> list[EngineFill]``: cross check against whole-book
  bests, for callers that apply snapshots rather than level changes.
* ``take(book, side, qty_units, limit_ticks, order_id, ts_ns) -> list[EngineFill]`` walks the
  external book to take liquidity (a market order, or the marketable part of a limit).
* ``place(book, order_id, side, price_ticks, qty_units, ts_ns, post_only=...)`` does both:
  takes what is marketable, rests the rest (or rejects a crossing post-only order).

Fill rules, stated once:

* **Partial fills** (``partial_fills=True``, default): an order fills by what the trade
  leaves after the queue ahead, in whole lots (``lot_units``; rounded down, or to nearest
  with ``round_half_lot`` for parity with hftbacktest). Off, it fills *fully* on the first
  trade that gets a lot past the queue ahead, like hftbacktest's
  ``no_partial_fill_exchange`` (optimistic for large orders).
* **A fill equal to the remaining quantity closes the order exactly once**: it gets one
  :class:`EngineFill` with ``leaves_units == 0``, leaves the engine, and later events, cancels
  and trades never touch it again (hftbacktest aborts there, its issues #301 and #312).
* **Crossing**: an external opposite level at or through our price (an ask at or below our
  bid, a bid at or above our ask) means a counterparty arrived at our price, so the order
  fills fully, as maker, **at our order's price** (the resting order sets the price on a
  venue), as hftbacktest does. Full, not capped by the crossing level's size: the tape
  cannot tell how much of that level would have traded with us.
* **Taking**: :meth:`take` fills at each external level's price, as taker. What it takes is
  kept in a small *consumed overlay* per level and subtracted from the book until the next
  :meth:`on_depth` for that level, so one tape level is never taken twice; the next depth
  update is the venue's word on that level and replaces the overlay. Our own orders never
  trade with each other (self-trade prevention is the caller's).

Fees: :func:`fill_fee` prices an :class:`EngineFill` with the market's maker or taker fee.

Parity: on a random single-level stream (``benchmarks/bench_matching.py --crosscheck``), with
``lot_units = units_per_lot`` and ``round_half_lot=True``, every order fills at the same
exchange time as in hftbacktest 2.4.4 with its risk-averse and power-probability (n = 3)
queues and no partial fills. One known difference, not exercised there: when a trade and a
cancel both happen between two depth updates, the cancel's split counts the back of the queue
without the traded quantity (hftbacktest keeps the traded quantity in the back).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from numba.extending import register_jitable

from pegbot.book import OrderBook
from pegbot.market import Market, Side

from .queue import QueueModel, RiskAverse

__all__ = [
    "EngineFill",
    "FillEngine",
    "OrderId",
    "OrderView",
    "PlaceResult",
    "amended_leaves",
    "fill_fee",
    "trade_reach",
]

OrderId = int | str

# Sentinels for "no order of ours on this side", so the hot path compares plain ints.
_NO_BID = -(1 << 62)
_NO_ASK = 1 << 62


@dataclass(frozen=True, slots=True)
class EngineFill:
    """One execution of one of our orders inside the fill engine.

    Not :class:`pegbot.execution.venue.Fill` (a venue's report of a trade, with ids, fee and
    venue name): this is the engine's raw execution, in ticks and units, before a venue
    prices and names it.

    Attributes:
        order_id: The order's id as given to the engine.
        side: The order's side.
        price_ticks: Execution price in ticks.
        qty_units: Executed quantity in qty units (always > 0).
        maker: True for a resting order filled passively, False for a taker fill.
        ts_ns: Time of the event that caused the fill (ns, the caller's clock).
        leaves_units: The order's remaining quantity after this fill; 0 closes the order.
    """

    order_id: OrderId
    side: Side
    price_ticks: int
    qty_units: int
    maker: bool
    ts_ns: int
    leaves_units: int

    @property
    def closed(self) -> bool:
        """True when this fill completed the order."""
        return self.leaves_units == 0


def fill_fee(market: Market, fill: EngineFill) -> Decimal:
    """The fee of ``fill`` in the quote currency (negative is a rebate), exact."""
    rate = market.maker_fee if fill.maker else market.taker_fee
    return market.notional(fill.price_ticks, fill.qty_units) * rate


# -- pure per-event arithmetic ----------------------------------------------------------------
# One definition for this engine and its compiled twin (pegbot.matching.compiled), which
# compiles these very functions (register_jitable).


@register_jitable
def trade_reach(qty: int, ahead: int, ours_ahead: int, lot: int, half: int) -> int:
    """What of a trade of ``qty`` at our price reaches one order of ours (≤ 0: nothing).

    Args:
        qty: The trade's quantity.
        ahead: External quantity ahead of the order.
        ours_ahead: Our own quantity ahead of it at the same price (FIFO).
        lot: Fills come in whole lots of this many units.
        half: Added before rounding down to lots (``lot // 2`` rounds to nearest, 0 down).
    """
    reach = qty - ahead - ours_ahead
    if lot > 1 and reach > 0:
        reach = (reach + half) // lot * lot
    return reach


@register_jitable
def amended_leaves(qty: int, leaves: int, new_qty: int) -> int:
    """The open quantity after an amend to ``new_qty`` (≤ 0: nothing is left to fill).

    The amount already executed (``qty − leaves``) stays executed; the amend takes the
    difference off the open quantity only.
    """
    return new_qty - (qty - leaves)


# -- the passive-fill engine ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderView:
    """A read-only snapshot of one resting order.

    Attributes:
        order_id: The order's id.
        side: Buy or sell.
        price_ticks: Limit price in ticks.
        qty_units: Original quantity.
        leaves_units: Quantity still open.
        ahead_units: External quantity ahead of it in the queue.
        ts_ns: When it was added.
    """

    order_id: OrderId
    side: Side
    price_ticks: int
    qty_units: int
    leaves_units: int
    ahead_units: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """What :meth:`FillEngine.place` did.

    Attributes:
        fills: Taker fills of the marketable part.
        resting: True if a remainder now rests in the engine.
        rejected: True if a post-only order would have crossed (nothing was done).
    """

    fills: list[EngineFill] = field(default_factory=list)
    resting: bool = False
    rejected: bool = False


class _Order:
    __slots__ = ("ahead", "id", "leaves", "price", "qty", "side", "ts")

    def __init__(
        self, oid: OrderId, side: Side, price: int, qty: int, leaves: int, ahead: int, ts: int
    ) -> None:
        self.id = oid
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = leaves
        self.ahead = ahead
        self.ts = ts


class _Level:
    # One price of ours: the external level's last known qty, trades since it, our FIFO.
    __slots__ = ("orders", "qty", "traded")

    def __init__(self, qty: int) -> None:
        self.qty = qty
        self.traded = 0
        self.orders: list[_Order] = []


class FillEngine:
    """Our resting orders beside an external L2 book; see the module docstring for the rules.

    Sides are :class:`pegbot.market.Side` or the book's plain ints (``+1`` bid/buy, ``-1``
    ask/sell); prices are ticks, quantities qty units, times ns.
    """

    __slots__ = (
        "_ask_taken",
        "_asks",
        "_bid_taken",
        "_bids",
        "_orders",
        "_own_ask",
        "_own_bid",
        "_risk_averse",
        "lot_units",
        "partial_fills",
        "queue",
        "round_half_lot",
    )

    def __init__(
        self,
        queue: QueueModel | None = None,
        *,
        partial_fills: bool = True,
        lot_units: int = 1,
        round_half_lot: bool = False,
    ) -> None:
        """Create an empty engine.

        Args:
            queue: The queue-position model; :class:`RiskAverse` by default.
            partial_fills: Fill by the volume that reaches the order (True), or fully once
                the queue ahead is exhausted (False).
            lot_units: Queue fills come in whole lots of this many qty units
                (``market.units_per_lot``); order sizes must be whole lots. With a
                probabilistic queue the estimated queue ahead is not a whole number of lots.
            round_half_lot: Count the volume past the queue in lots rounded to nearest
                (half a lot fills one, as hftbacktest's ``is_filled`` does) instead of down
                (the default: never fill more than the volume that reached the order).
        """
        if lot_units <= 0:
            raise ValueError(f"lot_units must be positive, got {lot_units}")
        self.queue: QueueModel = queue if queue is not None else RiskAverse()
        self._risk_averse = isinstance(self.queue, RiskAverse)
        self.partial_fills = partial_fills
        self.lot_units = lot_units
        self.round_half_lot = round_half_lot
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._orders: dict[OrderId, _Order] = {}
        self._own_bid = _NO_BID
        self._own_ask = _NO_ASK
        self._bid_taken: dict[int, int] = {}
        self._ask_taken: dict[int, int] = {}

    # -- orders ---------------------------------------------------------------------------

    def add(
        self,
        order_id: OrderId,
        side: int,
        price_ticks: int,
        qty_units: int,
        level_qty: int,
        ts_ns: int,
    ) -> None:
        """Rest an order at the back of the queue: ``level_qty`` external units ahead of it.

        Raises:
            ValueError: Duplicate id, non-positive price or quantity, negative ``level_qty``.
        """
        self._add(order_id, side, price_ticks, qty_units, qty_units, level_qty, ts_ns)

    def _add(
        self,
        order_id: OrderId,
        side: int,
        price: int,
        qty: int,
        leaves: int,
        level_qty: int,
        ts: int,
    ) -> None:
        if order_id in self._orders:
            raise ValueError(f"order {order_id!r} is already resting")
        if price <= 0 or qty <= 0 or leaves <= 0 or leaves > qty:
            raise ValueError(f"order {order_id!r}: bad price {price} or quantity {leaves}/{qty}")
        if level_qty < 0:
            raise ValueError(f"order {order_id!r}: negative level quantity {level_qty}")
        if leaves % self.lot_units:
            raise ValueError(f"order {order_id!r}: {leaves} is not a whole number of lots")
        s = Side.BUY if side > 0 else Side.SELL
        levels = self._bids if s > 0 else self._asks
        lvl = levels.get(price)
        if lvl is None:
            lvl = levels[price] = _Level(level_qty)
        else:
            # A fresher level quantity re-caps the queues already there.
            self._requeue(lvl, level_qty)
        order = _Order(order_id, s, price, qty, leaves, level_qty, ts)
        lvl.orders.append(order)
        self._orders[order_id] = order
        if s > 0:
            if price > self._own_bid:
                self._own_bid = price
        elif price < self._own_ask:
            self._own_ask = price

    def cancel(self, order_id: OrderId) -> int:
        """Remove a resting order; returns its canceled quantity (0 if it was not resting)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return 0
        levels = self._bids if order.side > 0 else self._asks
        lvl = levels[order.price]
        lvl.orders.remove(order)
        if not lvl.orders:
            self._drop_level(order.side, order.price)
        return order.leaves

    def amend(self, order_id: OrderId, new_qty_units: int) -> int | None:
        """Reduce a resting order to ``new_qty_units`` in all, keeping its place in the queue.

        The order keeps its queue ahead and its place among our orders at its price; nothing
        ahead of it changes, and our orders behind it move up by what it gave back (Binance's
        "Order Amend Keep Priority": quantity decrease only, priority kept).

        Args:
            order_id: The order.
            new_qty_units: Its new total quantity (executed plus open), like Binance's
                ``newQty``: above 0 and below the current total.

        Returns:
            The open quantity after the amend; 0 when ``new_qty_units`` is at or below what
            already executed (nothing is left to fill: the order left the engine); None when
            the order is not resting (a race with a fill or a cancel, not an error).

        Raises:
            ValueError: ``new_qty_units`` is not above 0 and below the order's quantity, or
                leaves an open quantity that is not whole lots.
        """
        order = self._orders.get(order_id)
        if order is None:
            return None
        if new_qty_units <= 0 or new_qty_units >= order.qty:
            raise ValueError(
                f"order {order_id!r}: an amend must reduce the quantity {order.qty}, "
                f"got {new_qty_units}"
            )
        leaves = amended_leaves(order.qty, order.leaves, new_qty_units)
        if leaves <= 0:
            self.cancel(order_id)
            return 0
        if leaves % self.lot_units:
            raise ValueError(f"order {order_id!r}: {leaves} is not a whole number of lots")
        order.qty = new_qty_units
        order.leaves = leaves
        return leaves

    def _drop_level(self, side: int, price: int) -> None:
        if side > 0:
            del self._bids[price]
            if price == self._own_bid:
                self._own_bid = max(self._bids) if self._bids else _NO_BID
        else:
            del self._asks[price]
            if price == self._own_ask:
                self._own_ask = min(self._asks) if self._asks else _NO_ASK

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def order(self, order_id: OrderId) -> OrderView | None:
        """A snapshot of a resting order, or None."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        return OrderView(o.id, o.side, o.price, o.qty, o.leaves, o.ahead, o.ts)

    def orders(self) -> Iterator[OrderView]:
        """Snapshots of every resting order, in arrival order."""
        for oid in list(self._orders):
            view = self.order(oid)
            if view is not None:
                yield view

    @property
    def best_own_bid(self) -> int | None:
        """Our highest resting bid, or None."""
        return None if self._own_bid == _NO_BID else self._own_bid

    @property
    def best_own_ask(self) -> int | None:
        """Our lowest resting ask, or None."""
        return None if self._own_ask == _NO_ASK else self._own_ask

    # -- market events --------------------------------------------------------------------

    def on_depth(self, side: int, price_ticks: int, qty_units: int, ts_ns: int) -> list[EngineFill]:
        """The external level (``side``, ``price_ticks``) now holds ``qty_units``."""
        if side > 0:
            if self._bid_taken:
                self._bid_taken.pop(price_ticks, None)
            lvl = self._bids.get(price_ticks)
            if lvl is not None:
                self._requeue(lvl, qty_units)
            # An external bid at or above our ask: a buyer arrived at our price.
            if qty_units and price_ticks >= self._own_ask:
                return self._cross(Side.SELL, price_ticks, ts_ns)
        else:
            if self._ask_taken:
                self._ask_taken.pop(price_ticks, None)
            lvl = self._asks.get(price_ticks)
            if lvl is not None:
                self._requeue(lvl, qty_units)
            if qty_units and price_ticks <= self._own_bid:
                return self._cross(Side.BUY, price_ticks, ts_ns)
        return []

    def _requeue(self, lvl: _Level, new_qty: int) -> None:
        prev, traded = lvl.qty, lvl.traded
        lvl.qty = new_qty
        lvl.traded = 0
        if self._risk_averse:
            for o in lvl.orders:
                if o.ahead > new_qty:
                    o.ahead = new_qty
            return
        model = self.queue
        floor = 0
        for o in lvl.orders:
            ahead = model.on_depth(o.ahead, prev, new_qty, traded)
            # External quantity ahead of an earlier order of ours is ahead of a later one too.
            if ahead < floor:
                ahead = floor
            o.ahead = floor = ahead

    def on_bbo(self, best_bid: int | None, best_ask: int | None, ts_ns: int) -> list[EngineFill]:
        """Fill our orders that the external best bid or ask crosses (at our prices)."""
        fills: list[EngineFill] = []
        if best_bid is not None and best_bid >= self._own_ask:
            fills.extend(self._cross(Side.SELL, best_bid, ts_ns))
        if best_ask is not None and best_ask <= self._own_bid:
            fills.extend(self._cross(Side.BUY, best_ask, ts_ns))
        return fills

    def _cross(self, side: Side, through: int, ts: int) -> list[EngineFill]:
        # Fill every order of ours on ``side`` at or beyond ``through`` fully at its own price.
        fills: list[EngineFill] = []
        if side > 0:
            prices = sorted((p for p in self._bids if p >= through), reverse=True)
            levels = self._bids
        else:
            prices = sorted(p for p in self._asks if p <= through)
            levels = self._asks
        for p in prices:
            for o in levels[p].orders:
                fills.append(EngineFill(o.id, side, p, o.leaves, True, ts, 0))
                del self._orders[o.id]
            self._drop_level(side, p)
        return fills

    def on_trade(
        self, aggressor_side: int, price_ticks: int, qty_units: int, ts_ns: int
    ) -> list[EngineFill]:
        """A public trade of ``qty_units`` at ``price_ticks``; ``aggressor_side`` is the taker's.

        Raises:
            ValueError: A non-positive trade quantity.
        """
        if qty_units <= 0:
            raise ValueError(f"trade quantity must be positive, got {qty_units}")
        if aggressor_side > 0:
            # A buyer lifts asks: ours at or below the trade price are reached.
            if price_ticks < self._own_ask:
                return []
            side = Side.SELL
            levels = self._asks
            prices = sorted(p for p in levels if p <= price_ticks)
        else:
            if price_ticks > self._own_bid:
                return []
            side = Side.BUY
            levels = self._bids
            prices = sorted((p for p in levels if p >= price_ticks), reverse=True)
        fills: list[EngineFill] = []
        for p in prices:
            lvl = levels[p]
            if p != price_ticks:
                # The trade went through our price: everything resting there was taken first.
                for o in lvl.orders:
                    fills.append(EngineFill(o.id, side, p, o.leaves, True, ts_ns, 0))
                    del self._orders[o.id]
                self._drop_level(side, p)
            else:
                self._trade_at(lvl, side, p, qty_units, ts_ns, fills)
        return fills

    def _trade_at(
        self, lvl: _Level, side: Side, price: int, qty: int, ts: int, fills: list[EngineFill]
    ) -> None:
        lvl.traded += qty
        ours_ahead = 0  # our own quantity ahead in the FIFO, before this trade
        survivors: list[_Order] = []
        partial = self.partial_fills
        lot = self.lot_units
        half = lot // 2 if self.round_half_lot else 0
        for o in lvl.orders:
            reach = trade_reach(qty, o.ahead, ours_ahead, lot, half)
            ours_ahead += o.leaves
            o.ahead = o.ahead - qty if o.ahead > qty else 0
            if reach > 0:
                done = reach if partial and reach < o.leaves else o.leaves
                o.leaves -= done
                fills.append(EngineFill(o.id, side, price, done, True, ts, o.leaves))
                if o.leaves == 0:
                    del self._orders[o.id]
                    continue
            survivors.append(o)
        if survivors:
            lvl.orders = survivors
        else:
            self._drop_level(side, price)

    # -- taking liquidity -----------------------------------------------------------------

    def available(self, book: OrderBook, side: int, price_ticks: int) -> int:
        """External quantity at a level of ``book`` not yet consumed by :meth:`take`."""
        if side > 0:
            return book.bids.get(price_ticks, 0) - self._bid_taken.get(price_ticks, 0)
        return book.asks.get(price_ticks, 0) - self._ask_taken.get(price_ticks, 0)

    def take(
        self,
        book: OrderBook,
        side: int,
        qty_units: int,
        limit_ticks: int | None,
        order_id: OrderId,
        ts_ns: int,
    ) -> list[EngineFill]:
        """Take up to ``qty_units`` from the external book, best price first, as taker.

        Args:
            book: The external book (not modified).
            side: Our side: a buy takes asks, a sell takes bids.
            qty_units: Quantity wanted.
            limit_ticks: Worst acceptable price (None: any price, a market order).
            order_id: Id put on the fills.
            ts_ns: Time put on the fills.

        Returns:
            One fill per level taken; the last one's ``leaves_units`` is what was not
            filled (the caller rests or expires it).
        """
        if qty_units <= 0:
            raise ValueError(f"quantity must be positive, got {qty_units}")
        s = Side.BUY if side > 0 else Side.SELL
        if s > 0:
            external, taken = book.asks, self._ask_taken
            ticks = sorted(t for t in external if limit_ticks is None or t <= limit_ticks)
        else:
            external, taken = book.bids, self._bid_taken
            ticks = sorted(
                (t for t in external if limit_ticks is None or t >= limit_ticks), reverse=True
            )
        fills: list[EngineFill] = []
        left = qty_units
        for t in ticks:
            free = external[t] - taken.get(t, 0)
            if free <= 0:
                continue
            done = free if free < left else left
            taken[t] = taken.get(t, 0) + done
            left -= done
            fills.append(EngineFill(order_id, s, t, done, False, ts_ns, left))
            if not left:
                break
        return fills

    def place(
        self,
        book: OrderBook,
        order_id: OrderId,
        side: int,
        price_ticks: int,
        qty_units: int,
        ts_ns: int,
        *,
        post_only: bool = False,
    ) -> PlaceResult:
        """Place a limit order: take what is marketable, rest the remainder.

        A post-only order that would take anything is rejected and nothing changes. The
        remainder rests behind the external quantity at its price in ``book``, less what
        :meth:`take` consumed there.
        """
        if order_id in self._orders:
            raise ValueError(f"order {order_id!r} is already resting")
        if price_ticks <= 0 or qty_units <= 0:
            raise ValueError(f"order {order_id!r}: bad price {price_ticks} or qty {qty_units}")
        if post_only and self._marketable(book, side, price_ticks):
            return PlaceResult(rejected=True)
        fills = self.take(book, side, qty_units, price_ticks, order_id, ts_ns)
        left = fills[-1].leaves_units if fills else qty_units
        if not left:
            return PlaceResult(fills=fills)
        # What we took from this side ourselves is no longer ahead of us.
        ahead = max(self.available(book, side, price_ticks), 0)
        self._add(order_id, side, price_ticks, qty_units, left, ahead, ts_ns)
        return PlaceResult(fills=fills, resting=True)

    def _marketable(self, book: OrderBook, side: int, price: int) -> bool:
        if side > 0:
            return any(q > self._ask_taken.get(t, 0) for t, q in book.asks.items() if t <= price)
        return any(q > self._bid_taken.get(t, 0) for t, q in book.bids.items() if t >= price)
