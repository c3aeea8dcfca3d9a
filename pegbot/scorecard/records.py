"""A backtest's records as the scorecard's event stream.

A backtest keeps what its venue did row by row (orders sent, accepted, cancelled; fills) and
the market's best prices at each change; it has no stream of scorecard events. This module
turns those plain records into one, so a backtest is scored by the same fold as a live bot or
an evaluation. It takes plain tuples and arrays (the shapes of
:class:`pegbot.backtest.venue.VenueRecords` and ``BacktestRun.bbo``) and imports nothing
from the backtest.

* Our resting orders: an order rests from its ``accepted`` record with its size; each fill
  takes its quantity off, an ``amended`` record what the amend gave back; a ``canceled`` or
  ``expired`` record takes it out.
* The market: the replayed book is everyone but us (``*_ex``); with us, the public best bid is
  the better of the market's and ours (likewise the ask), as if our orders were in the book.
* Holding: the starting base units plus our fills; order actions: accepted orders (placed)
  and cancels.
* Records at the same time go fair value first, then our orders and fills, then the book.
  A book whose prices did not change is not repeated (most of our order records leave the
  public best where it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from pegbot.market import Side

from .events import Book, Event, Fair, Holding, OrderAction, OrderKind, OwnFill, Quotes

__all__ = [
    "FILL_COLUMNS",
    "NO_ASK",
    "NO_BID",
    "ORDER_COLUMNS",
    "ORDER_EVENTS",
    "events_from_records",
]

#: The fields of an order record, in the order :func:`events_from_records` reads them.
ORDER_COLUMNS = ("event", "ts_ns", "client_id", "side", "price_ticks", "qty_units")
#: The order events it reads (others are skipped).
ORDER_EVENTS = ("accepted", "amended", "canceled", "expired")
#: The fields of a fill record it reads.
FILL_COLUMNS = ("ts_ns", "client_id", "side", "price_ticks", "qty_units", "maker")

#: Side by its integer value (a dict lookup; calling the enum is ten times slower).
_SIDE = {int(s): s for s in Side}

#: The sentinels of an empty side in a backtest's best-price timeline.
NO_BID = -(1 << 61)
NO_ASK = 1 << 61


def events_from_records(
    orders: Iterable[Sequence[Any]],
    fills: Iterable[Sequence[Any]],
    bbo: tuple[Sequence[int], Sequence[int], Sequence[int]],
    fair: Iterable[tuple[int, Fraction]],
    base_units: int,
) -> list[Event]:
    """The scorecard events of a backtest (see the module docstring).

    Args:
        orders: :data:`ORDER_COLUMNS` rows; ``event`` ``accepted``, ``amended`` (the quantity
            given back), ``canceled`` or ``expired`` here (others are skipped).
        fills: :data:`FILL_COLUMNS` rows (more fields after them are ignored).
        bbo: ``(ts_ns, best_bid, best_ask)`` columns of the replayed market (sentinels
            :data:`NO_BID` / :data:`NO_ASK` for an empty side).
        fair: ``(from ts_ns, fair in ticks)`` steps; empty when there is no fair value.
        base_units: Our base holding at the start.
    """
    raw: list[tuple[int, int, int, str, Any]] = []
    for ts, price in fair:
        raw.append((int(ts), 0, len(raw), "fair", price))
    for ev, ts, cid, side, price, units in (tuple(r[:6]) for r in orders):
        if ev == "accepted":
            raw.append((int(ts), 1, len(raw), "acc", (str(cid), int(side), int(price), int(units))))
        elif ev in ("canceled", "expired"):
            raw.append((int(ts), 1, len(raw), "can" if ev == "canceled" else "exp", str(cid)))
        elif ev == "amended":
            raw.append((int(ts), 1, len(raw), "amd", (str(cid), int(units))))
    for f in fills:
        ts, cid, side, price, units, maker = f[:6]
        raw.append(
            (
                int(ts),
                1,
                len(raw),
                "fill",
                (str(cid), int(side), int(price), int(units), bool(maker)),
            )
        )
    bts, bbid, bask = bbo
    for i in range(len(bts)):
        raw.append((int(bts[i]), 2, len(raw), "bbo", (int(bbid[i]), int(bask[i]))))
    raw.sort()  # by (ts, rank, seq): seq is unique, so the payloads are never compared

    out: list[Event] = []
    resting: dict[str, tuple[int, int, int]] = {}  # client id -> side, price, units left
    bid_ex: int | None = None
    ask_ex: int | None = None
    inventory = base_units
    bids: tuple[tuple[int, int], ...] = ()  # ours, best first
    asks: tuple[tuple[int, int], ...] = ()
    top: tuple[int | None, ...] = ()  # the last Book's prices: an unchanged one is not repeated
    if raw:
        out.append(Holding(raw[0][0], inventory))
    for ts, _, _, kind, data in raw:
        if kind == "fair":
            out.append(Fair(ts, data))
            continue
        if kind == "bbo":
            bid_ex = data[0] if data[0] > NO_BID else None
            ask_ex = data[1] if data[1] < NO_ASK else None
        elif kind == "acc":
            cid, side, price, units = data
            resting[cid] = (side, price, units)
            out.append(OrderAction(ts, OrderKind.PLACED, _SIDE[side]))
        elif kind in ("can", "exp"):
            gone = resting.pop(data, None)
            if gone is not None and kind == "can":
                out.append(OrderAction(ts, OrderKind.CANCELLED, _SIDE[gone[0]]))
        elif kind == "amd":
            cid, back = data
            known = resting.get(cid)
            if known is not None:
                out.append(OrderAction(ts, OrderKind.AMENDED, _SIDE[known[0]]))
                left = known[2] - back
                if left > 0:
                    resting[cid] = (known[0], known[1], left)
                else:
                    del resting[cid]
        else:
            cid, side, price, units, maker = data
            out.append(OwnFill(ts, _SIDE[side], price, units, maker))
            inventory += units if side > 0 else -units
            out.append(Holding(ts, inventory))
            known = resting.get(cid)
            if known is not None:
                left = known[2] - units
                if left > 0:
                    resting[cid] = (known[0], known[1], left)
                else:
                    del resting[cid]
        if kind != "bbo":  # the market's prices alone leave our orders as they were
            bids = tuple(sorted(((p, u) for s, p, u in resting.values() if s > 0), reverse=True))
            asks = tuple(sorted((p, u) for s, p, u in resting.values() if s < 0))
            out.append(Quotes(ts, bids, asks))
        bid, ask = bid_ex, ask_ex
        if bids and (bid is None or bids[0][0] > bid):
            bid = bids[0][0]
        if asks and (ask is None or asks[0][0] < ask):
            ask = asks[0][0]
        if (bid, ask, bid_ex, ask_ex) != top:
            top = (bid, ask, bid_ex, ask_ex)
            out.append(Book(ts, bid, ask, bid_ex, ask_ex))
    return out
