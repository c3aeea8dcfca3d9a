"""SimVenue: the backtest's venue as the shell sees it — requests out, answers and records in.

The shell (:mod:`pegbot.backtest.engine`) sends requests at its local time; each reaches the
venue ``entry_ns`` later (the latency model's entry time, taken here when the request is
sent), is acted on there against the *exchange-side* book, and its answers (ack, reject,
cancel ack, not found, fill, amended, expired, amend rejected, not attempted) reach the shell
``response_ns`` after that. Everything between sending and answering runs compiled, inside the
replay core: the request and answer tables, our resting orders and their fills
(:mod:`pegbot.backtest.exchange`, on the fill engine's rules in
:mod:`pegbot.matching.compiled`). This class owns those tables: it writes requests into them,
reads the due answers out (:meth:`take_outbox`), copies the venue's logs out when they fill
up, and turns them into the records the results tables read (:meth:`columns`) and the
venue's true account (every fill booked as the fill log is read).

The venue can also be driven directly, without a tape (:meth:`standalone`,
:meth:`set_level`, :meth:`trade`, :meth:`act`, :meth:`due`): the same compiled code, for
tests of its semantics.

Cash is kept exactly in *tick-units* (``price_ticks × qty_units``); one tick-unit is
``tick_size × qty_unit`` of the quote currency. Fees are exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from pegbot.backtest import exchange as xc
from pegbot.market import Market, Side
from pegbot.matching import (
    ConstantLatency,
    EngineFill,
    FillEngine,
    LatencyModel,
    LatencyTables,
    fill_fee,
)
from pegbot.matching import compiled as fx

# Answer kinds, as the shell sees them.
ACK = "ack"
REJECT = "reject"
CANCELED = "canceled"
NOT_FOUND = "not_found"
FILL = "fill"
AMENDED = "amended"
EXPIRED = "expired"
AMEND_REJECTED = "amend_rejected"
NOT_ATTEMPTED = "not_attempted"

_INF = fx.INF
#: One row of the request and answer tables (int64 fields, native order).
_ROW = struct.Struct(f"{xc.XQ_ROWS}q")
_ROW_SIZE = _ROW.size
_pack_into = _ROW.pack_into
# State vector indices and codes a request touches, as module constants (no attribute look-up
# per request).
_X_NRQ, _X_RQ_CAP, _X_SEQ, _X_NEXT_ARR = xc.X_NRQ, xc.X_RQ_CAP, xc.X_SEQ, xc.X_NEXT_ARR
_M_NORD, _M_K = fx.M_NORD, fx.M_K
_RQ_PLACE, _RQ_CANCEL = xc.RQ_PLACE, xc.RQ_CANCEL
_EV_SENT, _EV_CANCEL_SENT = xc.EV_SENT, xc.EV_CANCEL_SENT
# Answers the strategy must see whatever it reads: they change what the reconciler must do
# (an order filled, refused or gone).
_ALWAYS = sum(
    1 << k
    for k in (xc.REJECT, xc.NOT_FOUND, xc.FILL, xc.EXPIRED, xc.AMEND_REJECTED, xc.NOT_ATTEMPTED)
)
# Answers that confirm what was sent: they matter to a strategy reading its orders, and to
# the reconciler only when its last diff left something out waiting for them.
_CONFIRMS = (1 << xc.ACK) | (1 << xc.CANCELED) | (1 << xc.AMENDED)


class TabulatedLatency(LatencyModel, Protocol):
    """A latency model the compiled exchange side can use: it gives its tables."""

    def tables(self) -> LatencyTables:
        """``(entry times, entry ns, response times, response ns)`` for ``interp``."""
        ...


@dataclass(frozen=True, slots=True)
class Response:
    """An answer of the venue on its way to the shell.

    Attributes:
        at_ns: When it reaches the shell (local time).
        kind: One of the answer kinds (``ack``, ``reject``, ``canceled``, ``not_found``,
            ``fill``, ``amended``, ``expired``, ``amend_rejected``, ``not_attempted``).
        client_id: The order.
        fill: The fill, for ``fill``.
        leaves_units: The order's open quantity after a fill or an amend.
        exchange_ns: When the venue made it.
    """

    at_ns: int
    kind: str
    client_id: str
    fill: EngineFill | None = None
    leaves_units: int = 0
    exchange_ns: int = 0


@dataclass
class Account:
    """Holdings in exact integers: base in qty units, cash in tick-units, fees in quote."""

    base_units: int = 0
    cash_tu: int = 0
    fees: Decimal = Decimal(0)

    def apply(self, fill: EngineFill, fee: Decimal) -> None:
        """Book one fill and its fee."""
        self.book(int(fill.side), fill.price_ticks, fill.qty_units, fee)

    def book(self, side: int, price_ticks: int, qty_units: int, fee: Decimal | None = None) -> None:
        """Book a fill given by its numbers (``side`` > 0 buys)."""
        if side > 0:
            self.base_units += qty_units
            self.cash_tu -= price_ticks * qty_units
        else:
            self.base_units -= qty_units
            self.cash_tu += price_ticks * qty_units
        if fee is not None:
            self.fees += fee


#: Column names of each record table, in row-tuple order.
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("event", "ts_ns", "client_id", "side", "price_ticks", "qty_units"),
    "fills": (
        "ts_ns",
        "client_id",
        "side",
        "price_ticks",
        "qty_units",
        "maker",
        "fee",
        "leaves_units",
    ),
    "quotes": ("ts_ns", "own_bid", "bid_units", "own_ask", "ask_units"),
}


@dataclass
class VenueRecords:
    """What happened on the venue, row by row, for the results tables."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    fills: list[tuple[Any, ...]] = field(default_factory=list)
    quotes: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def columns(self) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
        """The rows as columns, as :meth:`SimVenue.columns` gives them."""
        out: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
        for name, rows in (("orders", self.orders), ("fills", self.fills), ("quotes", self.quotes)):
            names = RECORD_COLUMNS[name]
            cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * len(names)
            out[name] = {
                n: np.array(c, dtype=object if n in _OBJECT_COLUMNS else np.int64)
                for n, c in zip(names, cols, strict=True)
            }
            if "maker" in out[name]:
                out[name]["maker"] = out[name]["maker"].astype(bool)
        return out


_OBJECT_COLUMNS = frozenset({"event", "client_id", "fee"})


class SimVenue:
    """The exchange side of a backtest (see the module docstring).

    Args:
        market: The market (fees, lot).
        engine: The fill engine whose rules and parameters (queue model, partial fills, lot,
            rounding) the compiled side follows; it holds no orders itself.
        latency: Entry and response latency; must give its tables (the two models of
            :mod:`pegbot.matching.latency` do).
        initial: The account at the start.
        state: The replay core's state vector to live in (a fresh one when None).
        fair_times: Times the fair value changes (for the core's wake-ups).
    """

    def __init__(
        self,
        market: Market,
        engine: FillEngine,
        latency: LatencyModel,
        initial: Account,
        state: np.ndarray[Any, Any] | None = None,
        fair_times: list[int] | None = None,
    ) -> None:
        tables = getattr(latency, "tables", None)
        if tables is None:
            raise TypeError(f"{latency!r}: the backtest needs a latency model with tables()")
        self.market = market
        self.latency = latency
        self.account = initial
        if state is None:
            from pegbot.backtest import core

            state = core.new_state()
        self.st = st = state
        fx.configure(
            st, engine.queue, engine.partial_fills, engine.lot_units, engine.round_half_lot
        )
        xc.init_state(st)
        self._lat = tables()
        self._fair_times = list(fair_times or [])
        self.fe = fx.alloc(st, 16)
        self.xq = xc.alloc_xq(st, 64, 1024, self._lat[2], self._lat[3], self._fair_times)
        self.lg = xc.alloc_lg(st, 4096, 4096)
        self.books: np.ndarray[Any, Any] = np.zeros((4, 1), dtype=np.int64)
        self._views()
        self._entry = latency.entry_ns
        # A constant entry latency is read once (-1: ask the model each time).
        self._entry_const = latency.entry if isinstance(latency, ConstantLatency) else -1
        self._ids: list[str] = []
        self._handle: dict[str, int] = {}
        # What the shell sent, 7 ints an entry: seq, event, time, order, side, price, units.
        self._sent = array("q")
        self._order_chunks: list[np.ndarray[Any, Any]] = []
        self._fill_chunks: list[np.ndarray[Any, Any]] = []
        self._quote_chunks: list[np.ndarray[Any, Any]] = []
        self._fees: dict[tuple[int, int, int], Decimal] = {}
        self._fill_fees: list[Decimal] = []
        self._records: VenueRecords | None = None

    @classmethod
    def standalone(
        cls, market: Market, engine: FillEngine, latency: LatencyModel, lo: int, hi: int
    ) -> SimVenue:
        """A venue with its own exchange book over ticks ``lo..hi``, driven by hand."""
        v = cls(market, engine, latency, Account())
        v.attach_books(np.zeros((4, hi - lo + 1), dtype=np.int64), lo)
        return v

    def attach_books(self, books: np.ndarray[Any, Any], base: int) -> None:
        """The dense books the venue reads (the core's; after every reallocation)."""
        self.books = books
        self.st[xc.X_PRICE_BASE] = base
        self.st[xc.X_BOOK_SIZE] = books.shape[1]

    # -- requests from the shell ---------------------------------------------------------

    def _new_id(self, client_id: str) -> int:
        h = self._handle.get(client_id)
        if h is None:
            h = self._handle[client_id] = len(self._ids)
            self._ids.append(client_id)
        return h

    def _views(self) -> None:
        # A memoryview over the state vector (an element read or written through it costs a
        # third of numpy's scalar indexing) and the request/answer table as bytes: a request
        # is one packed row, an answer one unpacked row.
        self._sv = self.st.data
        self._xb = self.xq.data.cast("B")

    def _push(
        self, now_ns: int, kind: int, h: int, side: int, price: int, units: int, flags: int, h2: int
    ) -> int:
        # Up to a few requests per decision: state indices are module constants, read once.
        sv = self._sv
        n = sv[_X_NRQ]
        if n >= sv[_X_RQ_CAP] or sv[_M_NORD] + n + 2 > sv[_M_K]:
            self._grow(requests=2 * n + 2)
            sv = self._sv
        ec = self._entry_const
        at = now_ns + (ec if ec >= 0 else self._entry(now_ns))
        seq = sv[_X_SEQ] + 1
        sv[_X_SEQ] = seq
        _pack_into(self._xb, n * _ROW_SIZE, at, seq, kind, h, side, price, units, flags, h2, 0)
        sv[_X_NRQ] = n + 1
        if at < sv[_X_NEXT_ARR]:
            sv[_X_NEXT_ARR] = at
        return seq

    def send_place(
        self, now_ns: int, client_id: str, side: int, price: int, units: int, post_only: bool
    ) -> None:
        """Send a new order at local time ``now_ns``."""
        self.send_places(now_ns, ((client_id, side, price, units, post_only),))

    def send_cancel(self, now_ns: int, client_id: str) -> None:
        """Send a cancel at local time ``now_ns``."""
        self.send_cancels(now_ns, (client_id,))

    def send_places(self, now_ns: int, places: Iterable[tuple[str, int, int, int, bool]]) -> None:
        """Send new orders at local time ``now_ns``, in this order.

        Each is ``(client_id, side, price ticks, units, post_only)``. A decision's requests
        go out together: the table's counters are read and written once.
        """
        handle, ids = self._handle, self._ids
        sv, xb = self._sv, self._xb
        n, seq, first = sv[_X_NRQ], sv[_X_SEQ], sv[_X_NEXT_ARR]
        ec = self._entry_const
        sent: list[int] = []
        for client_id, side, price, units, post_only in places:
            h = handle.get(client_id)
            if h is None:
                h = handle[client_id] = len(ids)
                ids.append(client_id)
            if n >= sv[_X_RQ_CAP] or sv[_M_NORD] + n + 2 > sv[_M_K]:
                sv[_X_NRQ], sv[_X_SEQ] = n, seq  # what _grow copies
                self._grow(requests=2 * n + 2)
                sv, xb = self._sv, self._xb
            at = now_ns + (ec if ec >= 0 else self._entry(now_ns))
            seq += 1
            flags = 1 if post_only else 0
            _pack_into(xb, n * _ROW_SIZE, at, seq, _RQ_PLACE, h, side, price, units, flags, 0, 0)
            n += 1
            if at < first:
                first = at
            sent += (seq, _EV_SENT, now_ns, h, side, price, units)
        sv[_X_NRQ], sv[_X_SEQ], sv[_X_NEXT_ARR] = n, seq, first
        self._sent.extend(sent)

    def send_cancels(self, now_ns: int, client_ids: Iterable[str]) -> None:
        """Send cancels at local time ``now_ns``, in this order (see :meth:`send_places`)."""
        handle, ids = self._handle, self._ids
        sv, xb = self._sv, self._xb
        n, seq, first = sv[_X_NRQ], sv[_X_SEQ], sv[_X_NEXT_ARR]
        ec = self._entry_const
        sent: list[int] = []
        for client_id in client_ids:
            h = handle.get(client_id)
            if h is None:
                h = handle[client_id] = len(ids)
                ids.append(client_id)
            if n >= sv[_X_RQ_CAP] or sv[_M_NORD] + n + 2 > sv[_M_K]:
                sv[_X_NRQ], sv[_X_SEQ] = n, seq  # what _grow copies
                self._grow(requests=2 * n + 2)
                sv, xb = self._sv, self._xb
            at = now_ns + (ec if ec >= 0 else self._entry(now_ns))
            seq += 1
            _pack_into(xb, n * _ROW_SIZE, at, seq, _RQ_CANCEL, h, 0, 0, 0, 0, 0, 0)
            n += 1
            if at < first:
                first = at
            sent += (seq, _EV_CANCEL_SENT, now_ns, h, 0, 0, 0)
        sv[_X_NRQ], sv[_X_SEQ], sv[_X_NEXT_ARR] = n, seq, first
        self._sent.extend(sent)

    def send_amend(self, now_ns: int, client_id: str, new_units: int) -> None:
        """Send an amend (keep priority) to ``new_units`` in all, executed included.

        Answers: ``amended`` (with the open quantity), ``expired`` (nothing left open: the
        new total is at or below what executed), ``not_found`` (the order is not resting)
        or ``amend_rejected`` (not a reduction, or not whole lots).
        """
        h = self._new_id(client_id)
        seq = self._push(now_ns, xc.RQ_AMEND, h, 0, 0, new_units, 0, 0)
        self._sent.extend((seq, xc.EV_AMEND_SENT, now_ns, h, 0, 0, new_units))

    def send_replace(
        self,
        now_ns: int,
        old_client_id: str,
        new_client_id: str,
        side: int,
        price_ticks: int,
        units: int,
        post_only: bool,
    ) -> None:
        """Send a cancel-replace (``STOP_ON_FAILURE``): one step at the venue.

        Answers: the old order ``canceled`` and the new one's ``ack`` (or ``reject``, and
        fills) at the same exchange time; or, when the old order is not resting, the old
        one ``not_found`` and the new one ``not_attempted`` (nothing placed).
        """
        old = self._new_id(old_client_id)
        new = self._new_id(new_client_id)
        seq = self._push(now_ns, xc.RQ_REPLACE, old, side, price_ticks, units, int(post_only), new)
        self._sent.extend((seq, xc.EV_SENT, now_ns, new, side, price_ticks, units))
        self._sent.extend((seq, xc.EV_REPLACE_SENT, now_ns, old, 0, 0, 0))

    def _grow(self, requests: int = 0, answers: int = 0) -> None:
        st = self.st
        need = int(st[fx.M_NORD]) + int(st[xc.X_NRQ]) + 2
        k = int(st[fx.M_K])
        if need > k:
            self.fe = fx.grow(st, self.fe, max(2 * k, need))
        rq, rs = int(st[xc.X_RQ_CAP]), int(st[xc.X_RS_CAP])
        if requests > rq or answers > rs:
            self.xq = xc.alloc_xq(
                st,
                max(rq, requests),
                max(rs, answers),
                self._lat[2],
                self._lat[3],
                self._fair_times,
                old=self.xq,
            )
            self._views()

    def make_room(self) -> None:
        """Copy the logs out and grow the answer table (the core asked: ``EV_FLUSH``)."""
        self.flush_logs()
        st = self.st
        need = int(st[fx.M_K]) + xc.SEARCH + 16
        if int(st[xc.X_RS_CAP]) - int(st[xc.X_NRS]) < need:
            self._grow(answers=2 * int(st[xc.X_RS_CAP]) + need)

    # -- answers to the shell ---------------------------------------------------------------

    def set_dirty_mask(self, confirms: bool) -> None:
        """Which answers wake the strategy: the ones it must see, and confirmations if asked."""
        self._sv[xc.X_DIRTY_MASK] = _ALWAYS | (_CONFIRMS if confirms else 0)

    def take_outbox(self) -> list[tuple[int, ...]]:
        """The due answers the core put in the outbox, as rows of the answer table; emptied.

        Each row is ``(at, seq, kind, order, side, price, qty, leaves, exchange time,
        maker)``: the ``RS_`` fields of :mod:`pegbot.backtest.exchange`.
        """
        sv = self._sv
        n = sv[xc.X_NOB]
        if not n:
            return []
        sv[xc.X_NOB] = 0
        o = sv[xc.X_OB_OFF] * _ROW.size
        return list(_ROW.iter_unpack(self._xb[o : o + n * _ROW.size]))

    @property
    def ids(self) -> list[str]:
        """Client ids by order handle (the tables' ids index it)."""
        return self._ids

    def client_id(self, handle: int) -> str:
        """The client id behind an order handle of the tables."""
        return self._ids[handle]

    @property
    def rejects(self) -> int:
        """Orders the venue rejected."""
        return int(self.st[xc.X_REJECTS])

    @property
    def in_flight(self) -> bool:
        """Whether a request or an answer is still on its way."""
        return bool(self.st[xc.X_NRQ] or self.st[xc.X_NRS])

    def check(self) -> None:
        """Raise if the compiled side met an impossible request (an engine error code)."""
        err = int(self.st[xc.X_ERR])
        if err:
            raise RuntimeError(f"backtest venue: fill engine error {err}")

    # -- records -------------------------------------------------------------------------

    def flush_logs(self) -> None:
        """Copy the venue's logs out of the tables (the account moves with the fills)."""
        st, lg = self.st, self.lg
        for n_i, off_i, out in (
            (xc.X_NLO, xc.X_LO_OFF, self._order_chunks),
            (xc.X_NLF, xc.X_LF_OFF, self._fill_chunks),
            (xc.X_NLQ, xc.X_LQ_OFF, self._quote_chunks),
        ):
            n = int(st[n_i])
            if n:
                o = int(st[off_i])
                chunk = lg[:, o : o + n].copy()
                out.append(chunk)
                st[n_i] = 0
                if out is self._fill_chunks:
                    self._book_fills(chunk)
                self._records = None

    def _book_fills(self, chunk: np.ndarray[Any, Any]) -> None:
        acct, fees, market = self.account, self._fees, self.market
        for _, _, side, price, qty, maker, _ in chunk.T.tolist():
            key = (maker, price, qty)
            fee = fees.get(key)
            if fee is None:
                if len(fees) >= 4096:
                    fees.clear()
                fee = fees[key] = fill_fee(
                    market, EngineFill(0, Side(side), price, qty, bool(maker), 0, 0)
                )
            acct.book(side, price, qty, fee)
            self._fill_fees.append(fee)

    def columns(self) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
        """The venue's records as numpy columns: ``orders``, ``fills`` and ``quotes``.

        The same rows as :attr:`records`, without building a tuple per row (the results
        tables are made from these).
        """
        self.flush_logs()
        ids = np.array(self._ids, dtype=object)
        sent = np.frombuffer(self._sent, dtype=np.int64).reshape(-1, 7).T
        logged = [
            c[[xc.LO_SEQ, xc.LO_EVENT, xc.LO_TS, xc.LO_ID, xc.LO_SIDE, xc.LO_PRICE, xc.LO_UNITS]]
            for c in self._order_chunks
        ]
        o = np.concatenate([sent, *logged], axis=1) if logged else sent
        o = o[:, np.argsort(o[0], kind="stable")]
        names = np.array(xc.EVENT_NAMES, dtype=object)
        f = (
            np.concatenate(self._fill_chunks, axis=1)
            if self._fill_chunks
            else np.zeros((xc.LG_ROWS, 0), dtype=np.int64)
        )
        q = (
            np.concatenate(self._quote_chunks, axis=1)[:5]
            if self._quote_chunks
            else np.zeros((5, 0), dtype=np.int64)
        )
        return {
            "orders": {
                "event": names[o[1]],
                "ts_ns": o[2],
                "client_id": ids[o[3]],
                "side": o[4],
                "price_ticks": o[5],
                "qty_units": o[6],
            },
            "fills": {
                "ts_ns": f[fx.F_TS],
                "client_id": ids[f[fx.F_ID]],
                "side": f[fx.F_SIDE],
                "price_ticks": f[fx.F_PRICE],
                "qty_units": f[fx.F_QTY],
                "maker": f[fx.F_MAKER].astype(bool),
                "fee": np.array(self._fill_fees, dtype=object),
                "leaves_units": f[fx.F_LEAVES],
            },
            "quotes": {
                "ts_ns": q[0],
                "own_bid": q[1],
                "bid_units": q[2],
                "own_ask": q[3],
                "ask_units": q[4],
            },
        }

    @property
    def records(self) -> VenueRecords:
        """The venue's records as row tuples (built from the logs on first read)."""
        self.flush_logs()
        if self._records is None:
            cols = self.columns()

            def rows(table: dict[str, np.ndarray[Any, Any]]) -> list[tuple[Any, ...]]:
                return list(zip(*(c.tolist() for c in table.values()), strict=True))

            self._records = VenueRecords(
                rows(cols["orders"]),
                rows(cols["fills"]),
                rows(cols["quotes"]),  # type: ignore[arg-type]
            )
        return self._records

    # -- driving the venue by hand (tests) -----------------------------------------------------

    def set_level(self, side: int, price: int, qty: int, ts: int) -> None:
        """An exchange-side depth row: the level is now ``qty`` (reaches our orders)."""
        st, books = self.st, self.books
        ix = price - int(st[xc.X_PRICE_BASE])
        books[0 if side > 0 else 1, ix] = qty
        self._refresh_best()
        if xc.touches(st, False, side, price, qty):
            xc.on_row(st, self.fe, self.xq, self.lg, False, side, price, qty, ts)
        self.check()

    def trade(self, aggressor: int, price: int, qty: int, ts: int) -> None:
        """A public trade on the exchange side (reaches our orders at or through it)."""
        if xc.touches(self.st, True, aggressor, price, qty):
            xc.on_row(self.st, self.fe, self.xq, self.lg, True, aggressor, price, qty, ts)
        self.check()

    def _refresh_best(self) -> None:
        st, base = self.st, int(self.st[xc.X_PRICE_BASE])
        bids, asks = np.flatnonzero(self.books[0]), np.flatnonzero(self.books[1])
        st[xc.X_BBE] = base + int(bids[-1]) if len(bids) else fx.NO_BID
        st[xc.X_BAE] = base + int(asks[0]) if len(asks) else fx.NO_ASK

    def act(self, now_ns: int) -> None:
        """Act on every request that has reached the venue by exchange time ``now_ns``."""
        xc.act(self.st, self.fe, self.xq, self.lg, self.books, now_ns)
        self.check()

    def due(self, now_ns: int) -> list[Response]:
        """The answers that have reached the shell by ``now_ns``, in order."""
        xc.deliver(self.st, self.xq, now_ns)
        out = []
        for at, _, kind, h, side, price, qty, leaves, ext, maker in self.take_outbox():
            fill = None
            if kind == xc.FILL:
                fill = EngineFill(self._ids[h], Side(side), price, qty, bool(maker), ext, leaves)
            out.append(Response(at, xc.KIND_NAMES[kind], self._ids[h], fill, leaves, ext))
        return out

    def resting(self) -> dict[str, tuple[int, int, int, int]]:
        """Our resting orders: client id → (side, price, open units, queue ahead)."""
        st, fe = self.st, self.fe
        return {
            self._ids[int(fe[fx.O_ID, i])]: (
                int(fe[fx.O_SIDE, i]),
                int(fe[fx.O_PRICE, i]),
                int(fe[fx.O_LEAVES, i]),
                int(fe[fx.O_AHEAD, i]),
            )
            for i in range(int(st[fx.M_NORD]))
        }
