"""SimVenue: the backtest's exchange side — order latency, the fill engine, the true account.

The shell (:mod:`pegbot.backtest.engine`) sends requests at its local time; each reaches the
venue ``entry_ns`` later, is acted on there against the *exchange-side* book, and its answer
(ack, reject, cancel ack, not found, fill) reaches the shell ``response_ns`` after that. Fills
come from :class:`pegbot.matching.FillEngine`, the queue and fill model shared with the
simulator. The venue's account (base, cash, fees) moves at the exchange time of each fill;
the shell's view moves when the fill's response arrives, as on a real venue.

Cash is kept exactly in *tick-units* (``price_ticks × qty_units``); one tick-unit is
``tick_size × qty_unit`` of the quote currency. Fees are exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.matching import EngineFill, FillEngine, LatencyModel, fill_fee

# Response kinds, as the shell sees them.
ACK = "ack"
REJECT = "reject"
CANCELED = "canceled"
NOT_FOUND = "not_found"
FILL = "fill"

_DIRTYING = frozenset((FILL, REJECT, NOT_FOUND))
_SEARCH = 64  # ticks of the opposite side copied for a marketable (taking) order
_INF = 1 << 62  # pegbot.backtest.core.INF (not imported: numba is not needed here)


@dataclass(frozen=True, slots=True)
class Response:
    """An answer of the venue on its way to the shell.

    Attributes:
        at_ns: When it reaches the shell (local time).
        kind: ``ack``, ``reject``, ``canceled``, ``not_found`` or ``fill``.
        client_id: The order.
        fill: The fill, for ``fill``.
        reason: Why, for ``reject``.
    """

    at_ns: int
    kind: str
    client_id: str
    fill: EngineFill | None = None
    reason: str = ""


@dataclass
class Account:
    """Holdings in exact integers: base in qty units, cash in tick-units, fees in quote."""

    base_units: int = 0
    cash_tu: int = 0
    fees: Decimal = Decimal(0)

    def apply(self, fill: EngineFill, fee: Decimal) -> None:
        """Book one fill and its fee."""
        if fill.side is Side.BUY:
            self.base_units += fill.qty_units
            self.cash_tu -= fill.price_ticks * fill.qty_units
        else:
            self.base_units -= fill.qty_units
            self.cash_tu += fill.price_ticks * fill.qty_units
        self.fees += fee


@dataclass(slots=True)
class _Req:
    kind: str  # "place" or "cancel"
    client_id: str
    side: int = 0
    price: int = 0
    units: int = 0
    post_only: bool = True


@dataclass
class VenueRecords:
    """What happened on the venue, row by row, for the results tables."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    fills: list[tuple[Any, ...]] = field(default_factory=list)
    quotes: list[tuple[int, int, int, int, int]] = field(default_factory=list)


class SimVenue:
    """The exchange side of a backtest (see the module docstring).

    Args:
        market: The market (fees, lot).
        engine: The fill engine holding our resting orders.
        latency: Entry and response latency.
        initial: The account at the start.
    """

    def __init__(
        self, market: Market, engine: FillEngine, latency: LatencyModel, initial: Account
    ) -> None:
        self.market = market
        self.engine = engine
        self.latency = latency
        self.account = initial
        self.records = VenueRecords()
        # client id -> [side, price, leaves units]
        self.resting: dict[str, list[int]] = {}
        self.taken: dict[int, set[int]] = {1: set(), -1: set()}
        self._arrivals: list[tuple[int, int, _Req]] = []
        # (local time, seq, kind, client id, fill, reason)
        self._responses: list[tuple[int, int, str, str, EngineFill | None, str]] = []
        # (local time, seq) of the pending fills, rejects and "not found" answers: the
        # shell asks for the first of them after every event.
        self._dirtying: list[tuple[int, int]] = []
        # Fees by (maker, price, qty): fills repeat the same few sizes and prices.
        self._fees: dict[tuple[bool, int, int], Decimal] = {}
        self._seq = 0
        self.rejects = 0
        #: Set when the resting orders or taken levels may have changed (the shell clears it).
        self.changed = False

    # -- requests from the shell ---------------------------------------------------------

    def send_place(
        self, now_ns: int, client_id: str, side: int, price: int, units: int, post_only: bool
    ) -> None:
        """Send a new order at local time ``now_ns``."""
        at = now_ns + self.latency.entry_ns(now_ns)
        self._push_arrival(at, _Req("place", client_id, side, price, units, post_only))
        self.records.orders.append(("sent", now_ns, client_id, side, price, units))

    def send_cancel(self, now_ns: int, client_id: str) -> None:
        """Send a cancel at local time ``now_ns``."""
        at = now_ns + self.latency.entry_ns(now_ns)
        self._push_arrival(at, _Req("cancel", client_id))
        self.records.orders.append(("cancel_sent", now_ns, client_id, 0, 0, 0))

    def _push_arrival(self, at: int, req: _Req) -> None:
        self._seq += 1
        heapq.heappush(self._arrivals, (at, self._seq, req))

    def _respond(
        self,
        exch_ns: int,
        resp_kind: str,
        cid: str,
        fill: EngineFill | None = None,
        reason: str = "",
    ) -> None:
        at = exch_ns + self.latency.response_ns(exch_ns)
        self._seq += 1
        heapq.heappush(self._responses, (at, self._seq, resp_kind, cid, fill, reason))
        if resp_kind in _DIRTYING:
            heapq.heappush(self._dirtying, (at, self._seq))

    @property
    def next_arrival(self) -> int | None:
        """Exchange time of the next request to act on."""
        return self._arrivals[0][0] if self._arrivals else None

    @property
    def next_response(self) -> int | None:
        """Local time of the next answer to deliver."""
        return self._responses[0][0] if self._responses else None

    def next_event(self, default: int) -> int:
        """The earlier of :attr:`next_arrival` and :attr:`next_response`, else ``default``."""
        t = self._arrivals[0][0] if self._arrivals else default
        if self._responses and self._responses[0][0] < t:
            return int(self._responses[0][0])
        return int(t)

    def next_times(self, dirtying_only: bool) -> tuple[int, int]:
        """:attr:`next_arrival` and :meth:`first_response_at` in one call, ``INF`` for none.

        ``INF`` is :data:`pegbot.backtest.core.INF` (``1 << 62``), "never" to the replay core.
        """
        a = self._arrivals[0][0] if self._arrivals else _INF
        if dirtying_only:
            r = self._dirtying[0][0] if self._dirtying else _INF
        else:
            r = self._responses[0][0] if self._responses else _INF
        return a, r

    def first_response_at(self, dirtying_only: bool) -> int | None:
        """Time of the first pending answer (only fills, rejects and "not found" if asked)."""
        if not dirtying_only:
            return self._responses[0][0] if self._responses else None
        return self._dirtying[0][0] if self._dirtying else None

    def pop_due(self, now_ns: int) -> list[tuple[int, int, str, str, EngineFill | None, str]]:
        """Like :meth:`due_responses`, as raw ``(at, seq, kind, client id, fill, reason)``."""
        heap = self._responses
        if not heap or heap[0][0] > now_ns:
            return []
        out = []
        while heap and heap[0][0] <= now_ns:
            out.append(heapq.heappop(heap))
        self._drop_dirtying(now_ns)
        return out

    def due_responses(self, now_ns: int) -> list[Response]:
        """Answers that have reached the shell by ``now_ns``, in order."""
        out = []
        heap = self._responses
        while heap and heap[0][0] <= now_ns:
            at, _, kind, cid, fill, reason = heapq.heappop(heap)
            out.append(Response(at, kind, cid, fill, reason))
        self._drop_dirtying(now_ns)
        return out

    def _drop_dirtying(self, now_ns: int) -> None:
        # Both heaps order by (time, seq) and lose everything up to now_ns together.
        dirty = self._dirtying
        while dirty and dirty[0][0] <= now_ns:
            heapq.heappop(dirty)

    # -- the exchange side ---------------------------------------------------------------

    def act(
        self,
        now_ns: int,
        books: np.ndarray[Any, Any],
        base: int,
        best_bid: int | None,
        best_ask: int | None,
    ) -> None:
        """Act on every request that has reached the venue by ``now_ns``.

        Args:
            now_ns: Exchange time.
            books: The replay core's books (:data:`pegbot.backtest.core.BOOK_FIELDS`).
            base: Tick at index 0 of the books.
            best_bid: Exchange-side best bid.
            best_ask: Exchange-side best ask.
        """
        while self._arrivals and self._arrivals[0][0] <= now_ns:
            at, _, req = heapq.heappop(self._arrivals)
            if req.kind == "cancel":
                left = self.engine.cancel(req.client_id)
                if left:
                    del self.resting[req.client_id]
                    self._quote_changed(at)
                    self._respond(at, CANCELED, req.client_id)
                    self.records.orders.append(("canceled", at, req.client_id, 0, 0, left))
                else:
                    self._respond(at, NOT_FOUND, req.client_id)
                continue
            self._place(at, req, books, base, best_bid, best_ask)

    def _place(
        self,
        at: int,
        req: _Req,
        books: np.ndarray[Any, Any],
        base: int,
        bb: int | None,
        ba: int | None,
    ) -> None:
        crosses = (req.side > 0 and ba is not None and req.price >= ba) or (
            req.side < 0 and bb is not None and req.price <= bb
        )
        cid = req.client_id
        if crosses and req.post_only:
            self.rejects += 1
            self._respond(at, REJECT, cid, reason="post_only")
            self.records.orders.append(("rejected", at, cid, req.side, req.price, req.units))
            return
        ix = req.price - base
        if crosses:
            book = self._opposite_book(req.side, req.price, books[0], books[1], base, bb, ba)
            res = self.engine.place(book, cid, req.side, req.price, req.units, at)
            self._respond(at, ACK, cid)
            for f in res.fills:
                self.taken[-req.side].add(f.price_ticks)
                self._fill(f)
            if res.resting:
                view = self.engine.order(cid)
                left = view.leaves_units if view is not None else req.units
                self.resting[cid] = [req.side, req.price, left]
        else:
            row = 0 if req.side > 0 else 1
            level = 0
            if 0 <= ix < books.shape[1]:
                level = books.item(row, ix)
                # Deferred depth at this price predates the order: it must not reach it.
                books[row + 4, ix] = 0
            self.engine.add(cid, req.side, req.price, req.units, level, at)
            self.resting[cid] = [req.side, req.price, req.units]
            self._respond(at, ACK, cid)
        self.records.orders.append(("accepted", at, cid, req.side, req.price, req.units))
        self._quote_changed(at)

    def _opposite_book(
        self,
        side: int,
        price: int,
        bid_e: np.ndarray[Any, Any],
        ask_e: np.ndarray[Any, Any],
        base: int,
        bb: int | None,
        ba: int | None,
    ) -> OrderBook:
        # The levels a taking order can reach, as a small OrderBook for FillEngine.place.
        book = OrderBook()
        if side > 0 and ba is not None:
            lo, hi = ba - base, min(price, ba + _SEARCH) - base + 1
            for i in np.flatnonzero(ask_e[lo:hi]).tolist():
                book.set_ask(base + lo + i, int(ask_e[lo + i]))
        elif side < 0 and bb is not None:
            lo, hi = max(price, bb - _SEARCH) - base, bb - base + 1
            for i in np.flatnonzero(bid_e[lo:hi]).tolist():
                book.set_bid(base + lo + i, int(bid_e[lo + i]))
        return book

    def on_fills(self, fills: list[EngineFill]) -> None:
        """Book fills the engine produced from a market row."""
        for f in fills:
            self._fill(f)
        if fills:
            self._quote_changed(fills[-1].ts_ns)

    def _fill(self, f: EngineFill) -> None:
        key = (f.maker, f.price_ticks, f.qty_units)
        fee = self._fees.get(key)
        if fee is None:
            if len(self._fees) >= 4096:
                self._fees.clear()
            fee = self._fees[key] = fill_fee(self.market, f)
        self.account.apply(f, fee)
        cid = str(f.order_id)
        if f.closed:
            self.resting.pop(cid, None)
        elif cid in self.resting:
            self.resting[cid][2] = f.leaves_units
        self.records.fills.append(
            (f.ts_ns, cid, int(f.side), f.price_ticks, f.qty_units, f.maker, fee, f.leaves_units)
        )
        self._respond(f.ts_ns, FILL, cid, fill=f)

    def _quote_changed(self, at: int) -> None:
        # Our resting best prices and the sizes there, for uptime and depth statistics.
        self.changed = True
        bb_own = ba_own = bq = aq = 0
        for side, price, units in self.resting.values():
            if side > 0:
                if price > bb_own:
                    bb_own, bq = price, units
                elif price == bb_own:
                    bq += units
            elif ba_own == 0 or price < ba_own:
                ba_own, aq = price, units
            elif price == ba_own:
                aq += units
        self.records.quotes.append((at, bb_own, bq, ba_own, aq))
