"""The L2 order book in integer ticks and qty units: the hot path of live trading and backtests.

Each side is a plain ``dict`` from price tick to quantity (qty units, see :mod:`pegbot.market`),
and the best price of each side is kept up to date on every change. That is the fastest
exact structure Python offers for this job: a level update is one dict store plus an integer
compare, and only removing the best level needs a search, which walks a few ticks down a
dense book before falling back to ``max``. Batch methods take whole columns so the replay
path runs without a call per level.

Queries that need order (top levels, depth within a band) scan the dict: they run once per
strategy decision, not once per update.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from pegbot.quoting import band_ticks

# Sentinels keep the hot path free of ``None`` checks; properties translate them.
_NO_BID = -(1 << 62)
_NO_ASK = 1 << 62
# How far to walk tick by tick for the next best level before scanning the whole side.
_WALK_LIMIT = 32

BID = 1
ASK = -1

Level = tuple[int, int]


class CrossedBookError(RuntimeError):
    """The book's best bid is at or above its best ask."""


class OrderBook:
    """An L2 book: price tick → quantity in qty units, per side.

    Attributes:
        bids: Bid levels, tick → qty units. Read it; change it only through the methods.
        asks: Ask levels, tick → qty units.
        update_id: The venue's sequence number of the last applied change (0 if none).
        exch_ts: Exchange time (ns) of the last applied change.
        local_ts: Local receive time (ns) of the last applied change.
    """

    __slots__ = ("_ba", "_bb", "asks", "bids", "exch_ts", "local_ts", "update_id")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bb = _NO_BID
        self._ba = _NO_ASK
        self.update_id = 0
        self.exch_ts = 0
        self.local_ts = 0

    # -- changes --------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every level."""
        self.bids.clear()
        self.asks.clear()
        self._bb = _NO_BID
        self._ba = _NO_ASK
        self.update_id = 0

    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], update_id: int = 0
    ) -> None:
        """Replace the whole book; zero quantities are ignored."""
        self.bids = {p: q for p, q in bids if q}
        self.asks = {p: q for p, q in asks if q}
        self._bb = max(self.bids) if self.bids else _NO_BID
        self._ba = min(self.asks) if self.asks else _NO_ASK
        self.update_id = update_id

    def set_bid(self, tick: int, qty: int) -> None:
        """Set one bid level to an absolute quantity; 0 removes it."""
        bids = self.bids
        if qty:
            bids[tick] = qty
            if tick > self._bb:
                self._bb = tick
        elif bids.pop(tick, None) is not None and tick == self._bb:
            self._bb = _next_bid(bids, tick)

    def set_ask(self, tick: int, qty: int) -> None:
        """Set one ask level to an absolute quantity; 0 removes it."""
        asks = self.asks
        if qty:
            asks[tick] = qty
            if tick < self._ba:
                self._ba = tick
        elif asks.pop(tick, None) is not None and tick == self._ba:
            self._ba = _next_ask(asks, tick)

    def set_level(self, side: int, tick: int, qty: int) -> None:
        """Set a level on ``side`` (:data:`BID` = 1 or :data:`ASK` = -1)."""
        if side > 0:
            self.set_bid(tick, qty)
        else:
            self.set_ask(tick, qty)

    def apply_side(self, side: int, levels: Iterable[Level]) -> None:
        """Apply absolute-quantity levels to one side, as a depth diff message carries them."""
        if side > 0:
            book, best = self.bids, self._bb
            removed_best = False
            for tick, qty in levels:
                if qty:
                    book[tick] = qty
                    if tick > best:
                        best = tick
                        removed_best = False
                elif book.pop(tick, None) is not None and tick == best:
                    removed_best = True
            self._bb = _next_bid(book, best) if removed_best else best
        else:
            book, best = self.asks, self._ba
            removed_best = False
            for tick, qty in levels:
                if qty:
                    book[tick] = qty
                    if tick < best:
                        best = tick
                        removed_best = False
                elif book.pop(tick, None) is not None and tick == best:
                    removed_best = True
            self._ba = _next_ask(book, best) if removed_best else best

    def apply_columns(
        self,
        sides: Sequence[int],
        ticks: Sequence[int],
        qtys: Sequence[int],
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        """Apply rows ``start:stop`` of parallel columns (side, tick, qty): the replay path.

        The best prices are repaired once at the end, not after every removal, which keeps a
        burst of changes near the top of a deep book cheap.
        """
        bids, asks = self.bids, self.asks
        bb, ba = self._bb, self._ba
        bid_gone = ask_gone = False
        end = len(ticks) if stop is None else stop
        for i in range(start, end):
            tick = ticks[i]
            qty = qtys[i]
            if sides[i] > 0:
                if qty:
                    bids[tick] = qty
                    if tick > bb:
                        bb = tick
                        bid_gone = False
                elif bids.pop(tick, None) is not None and tick == bb:
                    bid_gone = True
            else:
                if qty:
                    asks[tick] = qty
                    if tick < ba:
                        ba = tick
                        ask_gone = False
                elif asks.pop(tick, None) is not None and tick == ba:
                    ask_gone = True
        self._bb = _next_bid(bids, bb) if bid_gone else bb
        self._ba = _next_ask(asks, ba) if ask_gone else ba

    # -- top of book ----------------------------------------------------------------------

    @property
    def best_bid(self) -> int | None:
        """Best bid tick, or None if there are no bids."""
        return None if self._bb == _NO_BID else self._bb

    @property
    def best_ask(self) -> int | None:
        """Best ask tick, or None if there are no asks."""
        return None if self._ba == _NO_ASK else self._ba

    @property
    def best_bid_qty(self) -> int:
        """Quantity at the best bid (0 if none)."""
        return self.bids.get(self._bb, 0)

    @property
    def best_ask_qty(self) -> int:
        """Quantity at the best ask (0 if none)."""
        return self.asks.get(self._ba, 0)

    @property
    def is_two_sided(self) -> bool:
        """Both sides have at least one level."""
        return self._bb != _NO_BID and self._ba != _NO_ASK

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask: impossible on a venue, so the book is wrong."""
        return self.is_two_sided and self._bb >= self._ba

    def mid_ticks(self) -> float | None:
        """Mid price in ticks (may be a half tick), or None if a side is empty."""
        if not self.is_two_sided:
            return None
        return (self._bb + self._ba) / 2

    def microprice_ticks(self) -> float | None:
        """Size-weighted mid: leans toward the side with less size, where the price is going."""
        if not self.is_two_sided:
            return None
        bq, aq = self.bids[self._bb], self.asks[self._ba]
        return (self._bb * aq + self._ba * bq) / (bq + aq)

    def spread_ticks(self) -> int | None:
        """Best ask minus best bid in ticks, or None if a side is empty."""
        if not self.is_two_sided:
            return None
        return self._ba - self._bb

    def spread_bps(self) -> float | None:
        """Spread relative to the mid, in basis points (tick size cancels out)."""
        if not self.is_two_sided:
            return None
        return (self._ba - self._bb) * 20_000 / (self._ba + self._bb)

    # -- depth ----------------------------------------------------------------------------

    def top(self, side: int, n: int) -> list[Level]:
        """The best ``n`` levels of a side, best first, as (tick, qty units)."""
        book = self.bids if side > 0 else self.asks
        if n <= 0 or not book:
            return []
        # Walk the grid from the best level when the book is dense near the top; fall back to
        # a heap selection when it is sparse.
        out: list[Level] = []
        step = -1 if side > 0 else 1
        tick = self._bb if side > 0 else self._ba
        for _ in range(n * 4):
            qty = book.get(tick)
            if qty:
                out.append((tick, qty))
                if len(out) == n:
                    return out
            tick += step
        ticks = heapq.nlargest(n, book) if side > 0 else heapq.nsmallest(n, book)
        return [(t, book[t]) for t in ticks]

    def levels(self, side: int) -> list[Level]:
        """Every level of a side, best first."""
        book = self.bids if side > 0 else self.asks
        return sorted(book.items(), reverse=side > 0)

    def depth_within(self, side: int, ref_ticks: float, bps: float) -> tuple[int, int]:
        """Size resting on ``side`` at prices within ±``bps`` of ``ref_ticks``.

        Returns:
            ``(qty_units, tick_units)``: the base quantity, and the sum of ``tick × qty``
            (convert with :meth:`pegbot.market.Market.notional_of_tick_units`).
        """
        lo, hi = band_ticks(ref_ticks, bps)
        book = self.bids if side > 0 else self.asks
        base = value = 0
        if hi < lo:
            return 0, 0
        if hi - lo + 1 < len(book):
            for tick in range(lo, hi + 1):
                qty = book.get(tick)
                if qty:
                    base += qty
                    value += qty * tick
        else:
            for tick, qty in book.items():
                if lo <= tick <= hi:
                    base += qty
                    value += qty * tick
        return base, value

    def check_not_crossed(self) -> None:
        """Raise :class:`CrossedBookError` if the book is crossed."""
        if self.is_crossed:
            raise CrossedBookError(
                f"crossed book: best bid {self._bb} >= best ask {self._ba} at update "
                f"{self.update_id}"
            )

    def copy(self) -> OrderBook:
        """An independent copy."""
        other = OrderBook()
        other.bids = dict(self.bids)
        other.asks = dict(self.asks)
        other._bb, other._ba = self._bb, self._ba
        other.update_id, other.exch_ts, other.local_ts = (
            self.update_id,
            self.exch_ts,
            self.local_ts,
        )
        return other

    def __repr__(self) -> str:
        return (
            f"OrderBook(bids={len(self.bids)}, asks={len(self.asks)}, best_bid={self.best_bid}, "
            f"best_ask={self.best_ask}, update_id={self.update_id})"
        )


class BookWithout:
    """The book as the rest of the market shows it: ``book`` less some resting quantities.

    A venue's depth aggregates every order at a price, ours included. Judging the market by
    a book that holds our own quotes is circular — right after a rate step, our old quotes
    at the top make a pegged market out of one that has moved — so risk and the signaler
    read this view: each level less the quantity of our orders resting there (levels that
    hold nothing else disappear). Read-only and computed from ``book`` as it is now: build
    a new one for each decision.

    Args:
        book: The venue's book.
        bids_out: Bid quantities to leave out, tick → qty units (our resting bids).
        asks_out: Ask quantities to leave out.
    """

    __slots__ = ("_ask", "_bid", "_book", "_levels", "_out")

    def __init__(
        self, book: OrderBook, bids_out: Mapping[int, int], asks_out: Mapping[int, int]
    ) -> None:
        self._book = book
        self._out = {BID: bids_out, ASK: asks_out}
        self._levels: dict[int, list[Level]] = {}
        # The best level of a side is among its top k + 1, k = our levels there.
        self._bid = self._net_top(BID, 1)
        self._ask = self._net_top(ASK, 1)

    def _net_top(self, side: int, n: int) -> list[Level]:
        out = self._out[side]
        if not out:
            return self._book.top(side, n)
        net = [(t, q - out.get(t, 0)) for t, q in self._book.top(side, n + len(out))]
        return [(t, q) for t, q in net if q > 0][:n]

    @property
    def best_bid(self) -> int | None:
        """Best bid tick of the rest of the market, or None."""
        return self._bid[0][0] if self._bid else None

    @property
    def best_ask(self) -> int | None:
        """Best ask tick of the rest of the market, or None."""
        return self._ask[0][0] if self._ask else None

    @property
    def best_bid_qty(self) -> int:
        """Quantity at that bid, ours left out."""
        return self._bid[0][1] if self._bid else 0

    @property
    def best_ask_qty(self) -> int:
        """Quantity at that ask, ours left out."""
        return self._ask[0][1] if self._ask else 0

    @property
    def is_two_sided(self) -> bool:
        """Both sides have a level besides ours."""
        return bool(self._bid and self._ask)

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask."""
        return bool(self._bid and self._ask and self._bid[0][0] >= self._ask[0][0])

    @property
    def local_ts(self) -> int:
        """Local receive time of the book's last change."""
        return self._book.local_ts

    @property
    def update_id(self) -> int:
        """The venue's sequence number of the book."""
        return self._book.update_id

    def mid_ticks(self) -> float | None:
        """Mid price in ticks, or None if a side is empty."""
        if not (self._bid and self._ask):
            return None
        return (self._bid[0][0] + self._ask[0][0]) / 2

    def microprice_ticks(self) -> float | None:
        """Size-weighted mid, or None if a side is empty."""
        if not (self._bid and self._ask):
            return None
        (bb, bq), (ba, aq) = self._bid[0], self._ask[0]
        return (bb * aq + ba * bq) / (bq + aq)

    def spread_ticks(self) -> int | None:
        """Best ask minus best bid, or None if a side is empty."""
        if not (self._bid and self._ask):
            return None
        return self._ask[0][0] - self._bid[0][0]

    def top(self, side: int, n: int) -> list[Level]:
        """The best ``n`` levels of a side besides ours, best first."""
        return self._net_top(side, n)

    def levels(self, side: int) -> list[Level]:
        """Every level of a side besides ours, best first."""
        cached = self._levels.get(side)
        if cached is None:
            out = self._out[side]
            net = ((t, q - out.get(t, 0)) for t, q in self._book.levels(side))
            cached = self._levels[side] = [(t, q) for t, q in net if q > 0]
        return cached


def _next_bid(bids: dict[int, int], start: int) -> int:
    # The best bid at or below ``start``. The removed best's neighbours are usually a tick
    # or two away on a live book, so walk before scanning.
    for tick in range(start, start - _WALK_LIMIT, -1):
        if tick in bids:
            return tick
    return max(bids) if bids else _NO_BID


def _next_ask(asks: dict[int, int], start: int) -> int:
    # The best ask at or above ``start``.
    for tick in range(start, start + _WALK_LIMIT):
        if tick in asks:
            return tick
    return min(asks) if asks else _NO_ASK
