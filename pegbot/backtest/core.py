"""The compiled replay core: two dense books, the venue's exchange side and the wake-up timer.

A Python call per tape row caps a backtest at a few million rows a second, and the exchange
side of our orders (queue position, fills, latency) touches many rows, so all of it runs here
and Python runs only when the strategy is asked to decide. :func:`advance` (numba) walks one
window of tape columns with two cursors on one time axis:

* the **exchange side** applies rows in exchange-time order (``exch_ts``; a row without one,
  such as a REST snapshot, takes the previous row's, as the npz exporter does) to the
  exchange book, as hftbacktest's exchange processor does, and hands the rows at or through
  our prices to our resting orders (:func:`pegbot.backtest.exchange.on_row`: queue position,
  fills, answers). Requests reach the venue at their arrival time and are acted on there
  (:func:`pegbot.backtest.exchange.act`). Rows come in local-time order in windows, so the
  exchange side only runs up to ``HORIZON`` (the window's last local time minus the engine's
  reorder allowance) until the next window is loaded;
* the **local side** applies the same rows at ``local_ts`` to the book the strategy sees.

Both books are dense arrays of qty units indexed by ``tick − base``, with their best prices
kept up to date. :func:`advance` returns to Python (the engine: the strategy, risk, the
reconciler and the order tracker) only when

* ``EV_WAKE``: a timer wake-up at which one of the strategy's inputs changed (the flags in
  ``WAKE_ON``: best prices, best sizes, any level, a public trade, a fair value step), an
  answer the decision must see has arrived (``X_DIRTY_AT``; the answers due are then in the
  outbox), or ``max_idle`` passed since the last decision;
* ``EV_DATA``: a cursor reached the end of the window (load the next one);
* ``EV_FLUSH``: a log or the answer table is nearly full (copy the logs out, grow the table);
* ``EV_END``: no rows left and no request in flight.

At equal times rows come first, then a wake-up, then requests reaching the venue. All
scalar state lives in one int64 vector (the fill engine's and the venue's entries first,
then the indices below) so a call has few arguments.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from pegbot.backtest import exchange as xc
from pegbot.matching import compiled as fx
from pegbot.matching import jitcache

# -- state vector indices (after the venue's) ----------------------------------------------------
_B = xc.X_END
IE = _B + 0  # exchange cursor (next entry of ``perm`` to apply on the exchange side)
IL = _B + 1  # local cursor
N = _B + 2  # rows in the window
BBE = xc.X_BBE  # exchange-side best bid and ask (the venue reads them)
BAE = xc.X_BAE
BBL = _B + 5
BAL = _B + 6
BASE = xc.X_PRICE_BASE  # tick at dense index 0
SIZE = xc.X_BOOK_SIZE  # dense length
NEXT_WAKE = _B + 10
WAKE_NS = _B + 11
WAKE_ON = _B + 12  # W_* flags: what the strategy reads
LAST_EVAL = _B + 14
MAX_IDLE = _B + 15  # INF: no idle wake-ups
BBO_CHANGED = _B + 16  # the local best prices changed since the last decision
BOOK_CHANGED = _B + 17  # any local level changed
L_SYNCED = _B + 18
L_TS = _B + 19  # local_ts of the last local row applied
E_TS = _B + 20  # exchange time of the last exchange row applied
NOW = _B + 21  # time of the returned event
E_SYNCED = _B + 22
SIZE_CHANGED = _B + 23  # the quantity at a local best price changed
TRADE_SEEN = _B + 24  # a public trade reached the local side
FAIR_CHANGED = _B + 25  # a fair value change time passed
ROWS_E = _B + 34  # exchange rows applied (all windows)
END = _B + 35  # 1: no more data after this window
FAR = _B + 36  # depth rows outside the dense books' range (counted, not applied)
E_LO = _B + 37  # lowest and highest dense index ever set on the exchange books since a clear
E_HI = _B + 38
L_LO = _B + 39  # the same for the local books
L_HI = _B + 40
NPEND = _B + 41  # rows the exchange side has left in this window (entries of ``perm``)
HORIZON = _B + 43  # the exchange side waits for more data before rows later than this
STATE_LEN = _B + 48

#: ``WAKE_ON`` flags (see :class:`pegbot.strategy.Input`).
W_BEST_PRICES = 1
W_BEST_SIZES = 2
W_DEPTH = 4
W_TRADES = 8
W_FAIR_TIMES = 16

#: Columns of the window array passed to :func:`advance` (one row per tape row, a row's
#: fields in one cache line): the tape columns, exchange time, local time, then the exchange
#: side's schedule: ``perm`` (window rows not yet applied there, in exchange-time order)
#: and ``perm_t`` (their exchange times).
ROW_FIELDS = ("kind", "side", "price", "qty", "ex", "lo", "perm", "perm_t")
#: Rows of the books array: exchange bids/asks, local bids/asks.
BOOK_FIELDS = ("bid_e", "ask_e", "bid_l", "ask_l")

EV_WAKE = 2
EV_DATA = 4
EV_FLUSH = 5
EV_END = 6

NO_BID = fx.NO_BID
NO_ASK = fx.NO_ASK
INF = fx.INF

CLEAR = 1
SNAPSHOT = 2
TRADE = 4
# Room an event may need in the logs and the answer table: a fill per resting order, a few
# answers and records of a request, a taking order's levels.
_SLACK = xc.SEARCH + 16


def new_state() -> np.ndarray[Any, np.dtype[np.int64]]:
    """A fresh state vector: empty books, no orders of ours, no wake-up flags."""
    st = np.zeros(STATE_LEN, dtype=np.int64)
    xc.init_state(st)
    st[BBL] = NO_BID
    st[BAL] = NO_ASK
    st[LAST_EVAL] = -INF
    st[MAX_IDLE] = INF
    st[E_LO] = st[L_LO] = INF
    st[E_HI] = st[L_HI] = -1
    return st


@numba.njit(cache=True, nogil=True)
def _best_bid_below(arr: Any, ix: int, base: int) -> int:
    while ix >= 0:
        if arr[ix] != 0:
            return ix + base
        ix -= 1
    return NO_BID


@numba.njit(cache=True, nogil=True)
def _best_ask_above(arr: Any, ix: int, base: int) -> int:
    n = arr.shape[0]
    while ix < n:
        if arr[ix] != 0:
            return ix + base
        ix += 1
    return NO_ASK


@numba.njit(cache=True, nogil=True)
def _room(st: Any) -> bool:
    # Whether the logs and the answer table can take one more event's entries.
    need = st[fx.M_K] + _SLACK
    return bool(
        st[xc.X_RS_CAP] - st[xc.X_NRS] >= need
        and st[xc.X_LO_CAP] - st[xc.X_NLO] >= need
        and st[xc.X_LF_CAP] - st[xc.X_NLF] >= need
        and st[xc.X_LQ_CAP] - st[xc.X_NLQ] >= need
        and st[xc.X_NBB] < st[xc.X_BB_CAP]
    )


@numba.njit(cache=True, nogil=True)
def _need_wake(st: Any, xq: Any, nw: int) -> bool:
    # Whether the strategy must decide at the wake-up ``nw``.
    if nw > st[xc.X_DIRTY_AT]:
        return True
    if st[MAX_IDLE] < INF and nw - st[LAST_EVAL] >= st[MAX_IDLE]:
        return True
    w = st[WAKE_ON]
    if w & W_FAIR_TIMES:
        o, n = st[xc.X_FT_OFF], st[xc.X_NFT]
        while st[xc.X_FT_I] < n and xq[o + st[xc.X_FT_I], 0] <= nw:
            st[FAIR_CHANGED] = 1
            st[xc.X_FT_I] += 1
    return bool(
        (w & W_BEST_PRICES != 0 and st[BBO_CHANGED] != 0)
        or (w & W_BEST_SIZES != 0 and st[SIZE_CHANGED] != 0)
        or (w & W_DEPTH != 0 and st[BOOK_CHANGED] != 0)
        or (w & W_TRADES != 0 and st[TRADE_SEEN] != 0)
        or (w & W_FAIR_TIMES != 0 and st[FAIR_CHANGED] != 0)
    )


@numba.njit(cache=True, nogil=True)
def _skip_to(st: Any, xq: Any, nw: int, t: int, stop: int) -> bool:
    # Nothing to decide at ``nw``: jump the timer to the first wake-up at or after the next
    # row, request, idle limit, answer or fair step, whichever is first. False: none left.
    target = t
    if stop < target:
        target = stop
    if st[MAX_IDLE] < INF:
        idle = st[LAST_EVAL] + st[MAX_IDLE]
        if idle < target:
            target = idle
    if st[xc.X_DIRTY_AT] < target:
        target = st[xc.X_DIRTY_AT] + 1
    if st[WAKE_ON] & W_FAIR_TIMES and st[xc.X_FT_I] < st[xc.X_NFT]:
        ft = xq[st[xc.X_FT_OFF] + st[xc.X_FT_I], 0]
        if ft < target:
            target = ft
    if target >= INF:
        return False
    wake = st[WAKE_NS]
    k = (target - nw + wake - 1) // wake
    if k < 1:
        k = 1
    st[NEXT_WAKE] = nw + k * wake
    return True


@numba.njit(cache=True, nogil=True)
def advance(rows: Any, books: Any, st: Any, fe: Any, xq: Any, lg: Any) -> int:
    """Run until something Python must handle; returns the event code (module docstring)."""
    bid_e = books[0]
    ask_e = books[1]
    bid_l = books[2]
    ask_l = books[3]
    n = st[N]
    ie = st[IE]
    il = st[IL]
    base = st[BASE]
    size = st[SIZE]
    npend = st[NPEND]
    xc.refresh_dirty(st, xq)
    while True:
        if not _room(st):
            st[IE] = ie
            st[IL] = il
            return EV_FLUSH
        if ie >= npend or il >= n:
            st[IE] = ie
            st[IL] = il
            if st[END] == 0:
                return EV_DATA
        te = INF
        if ie < npend:
            te = rows[ie, 7]
            if te > st[HORIZON] and st[END] == 0:
                # A row not loaded yet may still belong before this one on the venue.
                st[IE] = ie
                st[IL] = il
                return EV_DATA
            if te < st[E_TS]:  # across a window boundary time never runs backwards
                te = st[E_TS]
        tloc = rows[il, 5] if il < n else INF
        t = te if te < tloc else tloc
        stop = st[xc.X_NEXT_ARR]
        if t >= INF:
            # No more rows: no more wake-ups either; only requests in flight remain.
            st[IE] = ie
            st[IL] = il
            if stop >= INF:
                return EV_END
            xc.act(st, fe, xq, lg, books, stop)
            continue
        nw = st[NEXT_WAKE]
        if nw < t and nw <= stop:
            if _need_wake(st, xq, nw):
                st[IE] = ie
                st[IL] = il
                st[NOW] = nw
                st[NEXT_WAKE] = nw + st[WAKE_NS]
                st[LAST_EVAL] = nw
                st[BBO_CHANGED] = st[SIZE_CHANGED] = st[BOOK_CHANGED] = 0
                st[TRADE_SEEN] = st[FAIR_CHANGED] = 0
                xc.deliver(st, xq, nw - 1)
                return EV_WAKE
            if not _skip_to(st, xq, nw, t, stop):
                st[IE] = ie
                st[IL] = il
                return EV_END
            continue
        if t > stop:
            xc.act(st, fe, xq, lg, books, stop)
            continue
        if te <= tloc:
            # -- exchange side ------------------------------------------------------------
            r = rows[ie, 6]
            k = rows[r, 0]
            s = rows[r, 1]
            p = rows[r, 2]
            q = rows[r, 3]
            st[E_TS] = te
            ie += 1
            st[ROWS_E] += 1
            if k == TRADE:
                if xc.touches(st, True, s, p, q):
                    xc.on_row(st, fe, xq, lg, True, s, p, q, te)
                continue
            if k == CLEAR:
                # Only the touched span: a deep snapshot may have set a few far levels.
                if st[E_LO] <= st[E_HI]:
                    bid_e[st[E_LO] : st[E_HI] + 1] = 0
                    ask_e[st[E_LO] : st[E_HI] + 1] = 0
                st[E_LO] = INF
                st[E_HI] = -1
                st[BBE] = NO_BID
                st[BAE] = NO_ASK
                st[E_SYNCED] = 0
                continue
            if k == SNAPSHOT:
                st[E_SYNCED] = 1
            ix = p - base
            if ix < 0 or ix >= size:
                st[FAR] += 1
                continue
            if ix < st[E_LO]:
                st[E_LO] = ix
            if ix > st[E_HI]:
                st[E_HI] = ix
            if s > 0:
                bid_e[ix] = q
                if q > 0:
                    if p > st[BBE]:
                        st[BBE] = p
                elif p == st[BBE]:
                    st[BBE] = _best_bid_below(bid_e, ix - 1, base)
            else:
                ask_e[ix] = q
                if q > 0:
                    if p < st[BAE]:
                        st[BAE] = p
                elif p == st[BAE]:
                    st[BAE] = _best_ask_above(ask_e, ix + 1, base)
            if xc.touches(st, False, s, p, q):
                xc.on_row(st, fe, xq, lg, False, s, p, q, te)
        else:
            # -- local side ---------------------------------------------------------------
            k = rows[il, 0]
            s = rows[il, 1]
            p = rows[il, 2]
            q = rows[il, 3]
            il += 1
            st[L_TS] = tloc
            if k == TRADE:
                st[TRADE_SEEN] = 1
                continue
            bb = st[BBL]
            ba = st[BAL]
            if k == CLEAR:
                if st[L_LO] <= st[L_HI]:
                    bid_l[st[L_LO] : st[L_HI] + 1] = 0
                    ask_l[st[L_LO] : st[L_HI] + 1] = 0
                st[L_LO] = INF
                st[L_HI] = -1
                st[BBL] = NO_BID
                st[BAL] = NO_ASK
                st[L_SYNCED] = 0
            else:
                if k == SNAPSHOT:
                    st[L_SYNCED] = 1
                ix = p - base
                if ix < 0 or ix >= size:
                    continue  # counted on the exchange side
                if ix < st[L_LO]:
                    st[L_LO] = ix
                if ix > st[L_HI]:
                    st[L_HI] = ix
                if s > 0:
                    bid_l[ix] = q
                    if q > 0:
                        if p > bb:
                            st[BBL] = p
                    elif p == bb:
                        st[BBL] = _best_bid_below(bid_l, ix - 1, base)
                else:
                    ask_l[ix] = q
                    if q > 0:
                        if p < ba:
                            st[BAL] = p
                    elif p == ba:
                        st[BAL] = _best_ask_above(ask_l, ix + 1, base)
            st[BOOK_CHANGED] = 1
            if st[BBL] != bb or st[BAL] != ba:
                st[BBO_CHANGED] = 1
                st[SIZE_CHANGED] = 1
                j = st[xc.X_NBB]
                lg[0, j] = tloc
                lg[1, j] = st[BBL]
                lg[2, j] = st[BAL]
                st[xc.X_NBB] = j + 1
            elif p == bb or p == ba or k == CLEAR:  # noqa: SIM109 (compiled: no tuple test)
                st[SIZE_CHANGED] = 1


@numba.njit(cache=True, nogil=True)
def fill_window(
    rows: Any,
    keep: int,
    kind: Any,
    side: Any,
    price: Any,
    qty: Any,
    exch: Any,
    local: Any,
    carry: int,
    first: int,
) -> tuple[int, int, int, int]:
    """Write a batch of tape columns into the window after its first ``keep`` rows.

    A row without exchange time takes the previous row's (the next row's at the very start,
    local time when no row has one), as the hftbacktest npz exporter does. When the rows
    from ``first`` on are all still to apply on the exchange side (``first >= 0``) and in
    exchange-time order, the schedule (``perm``, ``perm_t``) is written too.

    Returns:
        ``(lowest price, highest price, last exchange time, rows scheduled)``, the prices
        over the new rows that are not CLEAR; rows scheduled is -1 when the caller must
        sort the schedule.
    """
    m = len(kind)
    lo, hi = INF, -INF
    prev = carry
    if prev <= 0:
        for j in range(m):
            if exch[j] > 0:
                prev = exch[j]
                break
    for j in range(m):
        r = keep + j
        k = kind[j]
        rows[r, 0] = k
        rows[r, 1] = side[j]
        p = price[j]
        rows[r, 2] = p
        rows[r, 3] = qty[j]
        e = exch[j]
        if e <= 0:
            e = prev if prev > 0 else local[j]
        else:
            prev = e
        rows[r, 4] = e
        rows[r, 5] = local[j]
        if k != CLEAR:
            if p < lo:
                lo = p
            if p > hi:
                hi = p
    last = rows[keep + m - 1, 4] if m else carry
    if first < 0:
        return lo, hi, last, -1
    n = keep + m - first
    for j in range(first + 1, keep + m):
        if rows[j, 4] < rows[j - 1, 4]:
            return lo, hi, last, -1
    for j in range(n):
        rows[j, 6] = first + j
        rows[j, 7] = rows[first + j, 4]
    return lo, hi, last, n


def warm_up() -> None:
    """Compile (or load from numba's cache) :func:`advance` before anything is timed."""
    from pegbot.matching.queue import RiskAverse

    st = new_state()
    fx.configure(st, RiskAverse(), True, 1, False)
    fe = fx.alloc(st, 4, 4)
    xq = xc.alloc_xq(st, 4, 256, [0], [0], [])
    lg = xc.alloc_lg(st, 4, 256)
    st[END] = 1
    advance(np.zeros((0, 8), dtype=np.int64), np.zeros((4, 1), dtype=np.int64), st, fe, xq, lg)
    # The tape's columns as the reader gives them: read-only views of Arrow buffers.
    cols = [np.zeros(1, dtype=t) for t in (np.uint8, np.int8, np.int64)]
    for c in cols:
        c.setflags(write=False)
    k, s, i = cols
    fill_window(np.zeros((1, 8), dtype=np.int64), 0, k, s, i, i, i, i, 0, 0)
    xc.deliver(st, xq, INF)
    xc.refresh_next_arrival(st, xq)


def _deps() -> list[Any]:
    import sys

    from pegbot.matching import engine, latency, queue

    return [sys.modules[__name__], xc, fx, queue, engine, latency]


jitcache.guard(globals(), _deps())
