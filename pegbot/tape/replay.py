"""Replaying tape rows into an :class:`~pegbot.book.OrderBook`, fast.

The replay path is the backtester's and the simulator's inner loop, so a batch is applied in
as few Python steps as possible: the depth rows between two ``CLEAR`` rows are selected with
numpy, turned into Python lists once, and handed to :meth:`OrderBook.apply_columns`, which
repairs the best prices once per run instead of once per row. Trades do not change the book.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pegbot.book import OrderBook
from pegbot.tape.reader import Array, Columns, TapeReader
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta

#: Top of book after one update id: (best bid, bid qty, best ask, ask qty), ticks and units.
Top = tuple[int | None, int, int | None, int]


class BookReplayer:
    """Applies tape rows, batch by batch, to one book.

    Attributes:
        book: The book being built.
        synced: False after a ``CLEAR`` until snapshot rows arrive: the book is unknown.
        level_updates: Depth rows applied so far.
        clears: ``CLEAR`` rows seen.
    """

    def __init__(self, book: OrderBook | None = None) -> None:
        self.book = book if book is not None else OrderBook()
        self.synced = False
        self.level_updates = 0
        self.clears = 0

    def apply(self, cols: Columns, start: int = 0, stop: int | None = None) -> None:
        """Apply rows ``start:stop`` of a column batch."""
        end = len(cols["kind"]) if stop is None else min(stop, len(cols["kind"]))
        if end <= start:
            return
        kind = cols["kind"][start:end]
        clear_at = np.flatnonzero(kind == CLEAR)
        bounds = [0, *(int(i) for i in clear_at), len(kind)]
        for seg in range(len(bounds) - 1):
            lo, hi = bounds[seg], bounds[seg + 1]
            if seg > 0:
                # ``lo`` is a CLEAR row.
                self.book.clear()
                self.synced = False
                self.clears += 1
                lo += 1
            if hi > lo:
                self._apply_depth(cols, kind, start, lo, hi)

    def _apply_depth(self, cols: Columns, kind: Array, base: int, lo: int, hi: int) -> None:
        k = kind[lo:hi]
        depth = k != TRADE
        if bool(depth.all()):
            a, b = base + lo, base + hi
            sides, prices, qtys = cols["side"][a:b], cols["price"][a:b], cols["qty"][a:b]
            last = b - 1
            snap = bool((k == SNAPSHOT).any())
        else:
            idx = np.flatnonzero(depth)
            if len(idx) == 0:
                return
            idx += base + lo
            sides, prices, qtys = cols["side"][idx], cols["price"][idx], cols["qty"][idx]
            last = int(idx[-1])
            snap = bool((k[depth] == SNAPSHOT).any())
        book = self.book
        book.apply_columns(sides.tolist(), prices.tolist(), qtys.tolist())
        if snap:
            self.synced = True
        self.level_updates += len(sides)
        book.update_id = int(cols["update_id"][last])
        book.exch_ts = int(cols["exch_ts"][last])
        book.local_ts = int(cols["local_ts"][last])


def replay(
    source: str | Path | TapeReader, until_ns: int | None = None
) -> tuple[OrderBook, BookReplayer, TapeMeta]:
    """Replay a tape from the start into a fresh book.

    Args:
        source: A tape path or an open reader.
        until_ns: Apply only rows with ``local_ts <= until_ns`` (all rows if None).

    Returns:
        The book, the replayer (is the book synced? how many updates?) and the tape's metadata.
    """
    reader = source if isinstance(source, TapeReader) else TapeReader(source)
    rep = BookReplayer()
    for cols in reader.iter_batches():
        stop = None
        if until_ns is not None:
            local = cols["local_ts"]
            stop = int(np.searchsorted(local, until_ns, side="right"))
        rep.apply(cols, 0, stop)
        if stop is not None and stop < len(cols["local_ts"]):
            break
    return rep.book, rep, reader.meta


def tops_by_update_id(batches: Iterable[Columns]) -> dict[int, Top]:
    """The top of book after each depth message, keyed by its update id (``u``).

    This walks message by message (slow: for checks, not backtests). It lets recorded
    ``bookTicker`` messages, which carry the update id they reflect, be compared with the
    replayed book. Only synced states are recorded.
    """
    rep = BookReplayer()
    out: dict[int, Top] = {}
    for cols in batches:
        kind, uid = cols["kind"], cols["update_id"]
        n = len(kind)
        # Split where the message changes: a new update id, kind or a CLEAR.
        change = np.flatnonzero((np.diff(uid) != 0) | (np.diff(kind) != 0) | (kind[1:] == CLEAR))
        starts = [0, *(int(i) + 1 for i in change)]
        ends = [*starts[1:], n]
        for a, b in zip(starts, ends, strict=True):
            rep.apply(cols, a, b)
            k = int(kind[a])
            if rep.synced and k in (SNAPSHOT, DIFF):
                book = rep.book
                out[int(uid[a])] = (
                    book.best_bid,
                    book.best_bid_qty,
                    book.best_ask,
                    book.best_ask_qty,
                )
    return out


@dataclass
class TickerCheck:
    """The outcome of comparing ``bookTicker`` messages with the replayed book.

    Attributes:
        tickers: bookTicker messages seen.
        comparable: Those whose update id equals a replayed depth message's ``u``.
        matched: Comparable tickers equal to the replayed best bid/ask and sizes.
        mismatched: Comparable tickers that differ (listed in ``examples``).
        examples: Up to ten mismatches, ``(update_id, ticker top, replayed top)``.
    """

    tickers: int = 0
    comparable: int = 0
    matched: int = 0
    mismatched: int = 0
    examples: list[tuple[int, Top, Top]] = field(default_factory=list)


def check_book_tickers(tops: dict[int, Top], tickers: Iterable[tuple[int, Top]]) -> TickerCheck:
    """Compare ``(update_id, top)`` tickers with :func:`tops_by_update_id` output."""
    res = TickerCheck()
    for uid, top in tickers:
        res.tickers += 1
        replayed = tops.get(uid)
        if replayed is None:
            continue
        res.comparable += 1
        if replayed == top:
            res.matched += 1
        else:
            res.mismatched += 1
            if len(res.examples) < 10:
                res.examples.append((uid, top, replayed))
    return res
