"""Queue-position and fill models for our orders resting beside an external L2 book.

The backtester (replaying a tape) and the simulator (a replayed tape, or paper trading on a
live book) both hold orders of ours next to a book they do not control. This module decides
when those orders fill. It is pure and deterministic: no clock reads, no randomness, integer
ticks and qty units (:mod:`pegbot.market`) throughout, so a backtest repeats exactly.

Contracts
---------

:class:`FillEngine` holds our resting orders by (side, price) and is fed the external market:

* ``add(order_id, side, price_ticks, qty_units, level_qty, ts_ns)`` rests an order. Its
  *queue ahead* starts at ``level_qty``, the external book's quantity at that price when the
  order arrives (pass ``book.bids.get(price, 0)``). Several orders of ours at one price keep
  their arrival order (FIFO); each one's queue ahead counts external quantity only.
* ``cancel(order_id) -> int`` removes it and returns the quantity canceled; 0 when the order is
  not resting (already filled or unknown): a cancel racing a fill is normal, not an error.
* ``on_depth(side, price_ticks, qty_units, ts_ns) -> list[Fill]``: the external level is now
  ``qty_units`` (absolute). Call it for every depth change, after applying it to your book.
  It moves queue positions (through the :class:`QueueModel`), forgets what :meth:`take`
  consumed at that level, and fills orders the level now crosses (see below).
* ``on_trade(aggressor_side, price_ticks, qty_units, ts_ns) -> list[Fill]``: a public trade.
  At our price it eats the queue: with our orders at one price in FIFO, an order fills by
  ``qty − ahead − (our quantity ahead of it at that price)``, clamped to ``[0, leaves]``;
  every order's queue ahead then falls by ``qty``. A trade *through* our price (a buyer paid
  more than our ask, a seller got less than our bid) fills our orders there fully.
* ``on_bbo(best_bid, best_ask, ts_ns) -> list[Fill]``: cross check against whole-book
  bests, for callers that apply snapshots rather than level changes.
* ``take(book, side, qty_units, limit_ticks, order_id, ts_ns) -> list[Fill]`` walks the
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
  :class:`Fill` with ``leaves_units == 0``, leaves the engine, and later events, cancels
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

Queue models (:class:`QueueModel`): :class:`RiskAverse` — the queue ahead falls only on trades
at our price; a depth decrease only caps it (``ahead = min(ahead, level)``). The probability
family (:class:`PowerProbQueue`, :class:`PowerProbQueue2`, :class:`PowerProbQueue3`,
:class:`LogProbQueue`, :class:`LogProbQueue2`) splits a decrease not explained by trades between
the front and the back of our order with ``p = f(back) / (f(back) + f(front))``. Trades at the
level since its last depth update are netted out of the next decrease so they are not counted
twice. Every model keeps ``0 ≤ ahead ≤ level`` and never puts ahead higher than
:class:`RiskAverse` would, so RiskAverse never fills earlier.

Latency models (:class:`LatencyModel`): ``entry_ns(request_ts)`` (our request to the venue)
and ``response_ns(exchange_ts)`` (the venue back to us). :class:`ConstantLatency`, and
:class:`InterpolatedLatency` built from recorded (request, exchange, response) timestamps.

Fees: :func:`fill_fee` prices a :class:`Fill` with the market's maker or taker fee.

Parity: on a random single-level stream (``benchmarks/bench_matching.py --crosscheck``), with
``lot_units = units_per_lot`` and ``round_half_lot=True``, every order fills at the same
exchange time as in hftbacktest 2.4.4 with its risk-averse and power-probability (n = 3)
queues and no partial fills. One known difference, not exercised there: when a trade and a
cancel both happen between two depth updates, the cancel's split counts the back of the queue
without the traded quantity (hftbacktest keeps the traded quantity in the back).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from pegbot.book import OrderBook
from pegbot.market import Market, Side

OrderId = int | str

# Sentinels for "no order of ours on this side", so the hot path compares plain ints.
_NO_BID = -(1 << 62)
_NO_ASK = 1 << 62


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders.

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


def fill_fee(market: Market, fill: Fill) -> Decimal:
    """The fee of ``fill`` in the quote currency (negative is a rebate), exact."""
    rate = market.maker_fee if fill.maker else market.taker_fee
    return market.notional(fill.price_ticks, fill.qty_units) * rate


# -- queue models ---------------------------------------------------------------------------


class QueueModel(Protocol):
    """How a depth change at our price moves the external quantity ahead of our order."""

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """The new queue ahead after the level went from ``prev_qty`` to ``new_qty``.

        Args:
            ahead: External quantity ahead of our order, ``0 ≤ ahead``.
            prev_qty: The level's quantity at its previous depth update (or when we arrived).
            new_qty: The level's quantity now.
            traded: Quantity traded at the level since ``prev_qty`` (already taken off
                ``ahead`` by the trades themselves).

        Returns:
            The new queue ahead, within ``[0, min(ahead, new_qty)]``.
        """
        ...


class RiskAverse:
    """The queue ahead falls only on trades at our price; depth changes only cap it."""

    __slots__ = ()

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """See :meth:`QueueModel.on_depth`."""
        return ahead if ahead <= new_qty else new_qty

    def __repr__(self) -> str:
        return "RiskAverse()"


class ProbQueue:
    """Base of the probability family: split a non-trade decrease between front and back.

    A decrease ``chg`` not explained by trades is a cancellation somewhere in the queue. With
    ``front`` ahead of us and ``back`` behind, a share ``p = prob(front, back)`` of it is taken
    from the back and the rest from the front; whatever the back cannot absorb comes from the
    front too. The front's reduction is rounded *down* to whole qty units, the conservative
    side. Subclasses define :meth:`prob`.
    """

    __slots__ = ("scale",)

    def __init__(self, scale: int = 1) -> None:
        """Create the model.

        Args:
            scale: Qty units per unit that :meth:`prob` sees. The power family is
                scale-free; the log family is not (``ln(1 + x)``), so to match hftbacktest,
                which sees base-asset quantities, pass the market's qty units per base unit
                (``10**qty_decimals``).
        """
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    def prob(self, front: float, back: float) -> float:
        """Share of a cancellation taken from behind our order (0..1)."""
        raise NotImplementedError

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """See :meth:`QueueModel.on_depth`."""
        chg = prev_qty - new_qty - traded
        if chg <= 0 or ahead == 0:
            return ahead if ahead <= new_qty else new_qty
        back = prev_qty - traded - ahead
        if back < 0:
            back = 0
        s = self.scale
        p = self.prob(ahead / s, back / s)
        if not 0.0 <= p <= 1.0:  # 0/0 or overflow: treat the whole change as behind us
            p = 1.0
        overflow = chg * p - back
        cut = chg * (1.0 - p) + (overflow if overflow > 0 else 0.0)
        est = ahead - math.floor(cut)
        if est < 0:
            est = 0
        return est if est <= new_qty else new_qty

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale})"


class PowerProbQueue(ProbQueue):
    """``f(x) = x**n``, ``p = f(back) / (f(back) + f(front))``.

    hftbacktest's ``PowerProbQueueFunc``; ``n = 3`` is its usual choice.
    """

    __slots__ = ("n",)

    def __init__(self, n: float = 3.0, scale: int = 1) -> None:
        """Create the model with exponent ``n`` (> 0)."""
        super().__init__(scale)
        if not n > 0:
            raise ValueError(f"n must be positive, got {n}")
        self.n = float(n)

    def prob(self, front: float, back: float) -> float:
        """See :meth:`ProbQueue.prob`."""
        if back <= 0.0:
            return 0.0
        # The ratio form cannot overflow the way back**n + front**n can.
        try:
            return 1.0 / (1.0 + math.pow(front / back, self.n))
        except OverflowError:
            return 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, scale={self.scale})"


class PowerProbQueue2(PowerProbQueue):
    """``p = f(back) / f(back + front)`` with ``f(x) = x**n``."""

    __slots__ = ()

    def prob(self, front: float, back: float) -> float:
        """See :meth:`ProbQueue.prob`."""
        return math.pow(back / (back + front), self.n)


class PowerProbQueue3(PowerProbQueue):
    """``p = 1 − (front / (front + back))**n``."""

    __slots__ = ()

    def prob(self, front: float, back: float) -> float:
        """See :meth:`ProbQueue.prob`."""
        return 1.0 - math.pow(front / (front + back), self.n)


class LogProbQueue(ProbQueue):
    """``f(x) = ln(1 + x)``, ``p = f(back) / (f(back) + f(front))``."""

    __slots__ = ()

    def prob(self, front: float, back: float) -> float:
        """See :meth:`ProbQueue.prob`."""
        fb = math.log1p(back)
        return fb / (fb + math.log1p(front))


class LogProbQueue2(ProbQueue):
    """``p = f(back) / f(back + front)`` with ``f(x) = ln(1 + x)``."""

    __slots__ = ()

    def prob(self, front: float, back: float) -> float:
        """See :meth:`ProbQueue.prob`."""
        return math.log1p(back) / math.log1p(back + front)


# -- latency --------------------------------------------------------------------------------


class LatencyModel(Protocol):
    """Order latency: request to venue, and venue back to us (ns)."""

    def entry_ns(self, request_ts: int) -> int:
        """Nanoseconds from sending a request at ``request_ts`` to the venue acting on it."""
        ...

    def response_ns(self, exchange_ts: int) -> int:
        """Nanoseconds from the venue acting at ``exchange_ts`` to our receiving the answer."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    """The same entry and response latency for every request.

    Attributes:
        entry: Request → venue, ns.
        response: Venue → us, ns.
    """

    entry: int
    response: int

    def __post_init__(self) -> None:
        if self.entry < 0 or self.response < 0:
            raise ValueError(f"latency must not be negative: {self.entry}, {self.response}")

    def entry_ns(self, request_ts: int) -> int:
        """See :meth:`LatencyModel.entry_ns`."""
        return self.entry

    def response_ns(self, exchange_ts: int) -> int:
        """See :meth:`LatencyModel.response_ns`."""
        return self.response


class LatencyDataError(ValueError):
    """Recorded latencies are empty, unordered or negative."""


class InterpolatedLatency:
    """Latency interpolated linearly from recorded (request, exchange, response) times.

    Entry latency ``exchange − request`` is interpolated at the request time, response latency
    ``response − exchange`` at the exchange time (hftbacktest's ``intp_order_latency``); both
    are held constant outside the recorded range. Integer arithmetic, rounded down.
    """

    __slots__ = ("_entry_t", "_entry_v", "_resp_t", "_resp_v")

    def __init__(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """Build from rows of ``(request_ts, exchange_ts, response_ts)`` in ns.

        Raises:
            LatencyDataError: No rows, or a row whose times are not
                ``request ≤ exchange ≤ response`` (a negative latency is a recording error).
        """
        data = sorted(rows)
        if not data:
            raise LatencyDataError("no latency rows")
        for req, exch, resp in data:
            if not req <= exch <= resp:
                raise LatencyDataError(
                    f"latency row ({req}, {exch}, {resp}) is not request <= exchange <= response"
                )
        self._entry_t = [r[0] for r in data]
        self._entry_v = [r[1] - r[0] for r in data]
        by_exch = sorted((r[1], r[2] - r[1]) for r in data)
        self._resp_t = [r[0] for r in by_exch]
        self._resp_v = [r[1] for r in by_exch]

    @staticmethod
    def _interp(ts: list[int], vs: list[int], t: int) -> int:
        i = bisect.bisect_right(ts, t)
        if i == 0:
            return vs[0]
        if i == len(ts):
            return vs[-1]
        t0, t1 = ts[i - 1], ts[i]
        v0, v1 = vs[i - 1], vs[i]
        if t1 == t0:
            return v1
        return v0 + (v1 - v0) * (t - t0) // (t1 - t0)

    def entry_ns(self, request_ts: int) -> int:
        """See :meth:`LatencyModel.entry_ns`."""
        return self._interp(self._entry_t, self._entry_v, request_ts)

    def response_ns(self, exchange_ts: int) -> int:
        """See :meth:`LatencyModel.response_ns`."""
        return self._interp(self._resp_t, self._resp_v, exchange_ts)


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

    fills: list[Fill] = field(default_factory=list)
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

    def on_depth(self, side: int, price_ticks: int, qty_units: int, ts_ns: int) -> list[Fill]:
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

    def on_bbo(self, best_bid: int | None, best_ask: int | None, ts_ns: int) -> list[Fill]:
        """Fill our orders that the external best bid or ask crosses (at our prices)."""
        fills: list[Fill] = []
        if best_bid is not None and best_bid >= self._own_ask:
            fills.extend(self._cross(Side.SELL, best_bid, ts_ns))
        if best_ask is not None and best_ask <= self._own_bid:
            fills.extend(self._cross(Side.BUY, best_ask, ts_ns))
        return fills

    def _cross(self, side: Side, through: int, ts: int) -> list[Fill]:
        # Fill every order of ours on ``side`` at or beyond ``through`` fully at its own price.
        fills: list[Fill] = []
        if side > 0:
            prices = sorted((p for p in self._bids if p >= through), reverse=True)
            levels = self._bids
        else:
            prices = sorted(p for p in self._asks if p <= through)
            levels = self._asks
        for p in prices:
            for o in levels[p].orders:
                fills.append(Fill(o.id, side, p, o.leaves, True, ts, 0))
                del self._orders[o.id]
            self._drop_level(side, p)
        return fills

    def on_trade(
        self, aggressor_side: int, price_ticks: int, qty_units: int, ts_ns: int
    ) -> list[Fill]:
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
        fills: list[Fill] = []
        for p in prices:
            lvl = levels[p]
            if p != price_ticks:
                # The trade went through our price: everything resting there was taken first.
                for o in lvl.orders:
                    fills.append(Fill(o.id, side, p, o.leaves, True, ts_ns, 0))
                    del self._orders[o.id]
                self._drop_level(side, p)
            else:
                self._trade_at(lvl, side, p, qty_units, ts_ns, fills)
        return fills

    def _trade_at(
        self, lvl: _Level, side: Side, price: int, qty: int, ts: int, fills: list[Fill]
    ) -> None:
        lvl.traded += qty
        ours_ahead = 0  # our own quantity ahead in the FIFO, before this trade
        survivors: list[_Order] = []
        partial = self.partial_fills
        lot = self.lot_units
        half = lot // 2 if self.round_half_lot else 0
        for o in lvl.orders:
            reach = qty - o.ahead - ours_ahead
            ours_ahead += o.leaves
            o.ahead = o.ahead - qty if o.ahead > qty else 0
            if lot > 1 and reach > 0:
                reach = (reach + half) // lot * lot
            if reach > 0:
                done = reach if partial and reach < o.leaves else o.leaves
                o.leaves -= done
                fills.append(Fill(o.id, side, price, done, True, ts, o.leaves))
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
    ) -> list[Fill]:
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
        fills: list[Fill] = []
        left = qty_units
        for t in ticks:
            free = external[t] - taken.get(t, 0)
            if free <= 0:
                continue
            done = free if free < left else left
            taken[t] = taken.get(t, 0) + done
            left -= done
            fills.append(Fill(order_id, s, t, done, False, ts_ns, left))
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
