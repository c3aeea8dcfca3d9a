"""The compiled replay core: two dense books and the wake-up timer, between Python decisions.

A Python call per tape row caps a backtest near 2–3 M rows/s (measured with a minimal market
maker), so the rows that cannot change a decision never reach Python. :func:`advance` (numba) walks
one window of tape columns with two cursors on one time axis:

* the **exchange side** applies rows in exchange-time order (``exch_ts``; a row without one,
  such as a REST snapshot, takes the previous row's, as the npz exporter does) to the
  exchange book, as hftbacktest's exchange processor does. Rows come in local-time order
  in windows (row groups), so the exchange side only runs up to ``HORIZON`` (the window's
  last local time minus the engine's reorder allowance) until the next window is loaded;
* the **local side** applies the same rows at ``local_ts`` to the book the strategy sees.

Both books are dense arrays of qty units indexed by ``tick − base``, with their best prices
kept up to date. :func:`advance` returns to Python (the engine, which owns the
:class:`~pegbot.matching.FillEngine`, the orders and the strategy) only when

* ``EV_ROW``: an exchange row can change one of our resting orders: a trade at or through
  our price, a depth row that crosses our price, a depth row at a level we took from, or
  (probabilistic queues) any depth row at our price. With the risk-averse queue, depth rows
  at our price that do not cross only lower a cap (``ahead = min(ahead, level)``), so their
  minimum is kept in ``pend_*`` and handed over in one call before anything else happens;
* ``EV_WAKE``: a timer wake-up at which the strategy's inputs may have changed (the best
  prices for a strategy reading only them, any local row otherwise, a flag set by Python
  after an order response, or ``max_idle`` since the last decision);
* ``EV_TIME``: the clock reached ``stop`` (an order request reaching the venue). Responses
  reaching us are delivered by Python at the next wake-up; ``DIRTY_AT`` says when the first
  one the strategy must see arrives;
* ``EV_DATA``: a cursor reached the end of the window (load the next row group);
* ``EV_FLUSH``: the best-price timeline buffer is full.

At equal times rows come first, then a wake-up, then ``stop``. All state lives in one int64
vector (indices below) so a call has few arguments.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

# -- state vector indices ------------------------------------------------------------------
IE = 0  # exchange cursor (next row to apply on the exchange side)
IL = 1  # local cursor
N = 2  # rows in the window
BBE = 3
BAE = 4
BBL = 5
BAL = 6
BASE = 7  # tick at dense index 0
SIZE = 8  # dense length
STOP = 9  # return EV_TIME once every row at or before this time is applied
NEXT_WAKE = 10
WAKE_NS = 11
DIRTY = 12  # Python: evaluate at the next wake-up
BBO_ONLY = 13  # the strategy reads only the best prices
LAST_EVAL = 14
MAX_IDLE = 15
BBO_CHANGED = 16
BOOK_CHANGED = 17
L_SYNCED = 18
L_TS = 19  # local_ts of the last local row applied
E_TS = 20  # exchange time of the last exchange row applied
NOW = 21  # time of the returned event
E_SYNCED = 22
OWN_BID_MIN = 23
OWN_BID_MAX = 24
OWN_ASK_MIN = 25
OWN_ASK_MAX = 26
DEFER = 27  # risk-averse queue: defer non-crossing depth rows at our levels
TAKEN_BID_LO = 28
TAKEN_BID_HI = 29
TAKEN_ASK_LO = 30
TAKEN_ASK_HI = 31
NBBO = 32  # entries written to the best-price timeline
PEND_N = 33  # deferred depth rows since Python last synced them
ROWS_E = 34  # exchange rows applied (all windows)
END = 35  # 1: no more data after this window
FAR = 36  # depth rows outside the dense books' range (counted, not applied)
E_LO = 37  # lowest and highest dense index ever set on the exchange books since a clear
E_HI = 38
L_LO = 39  # the same for the local books
L_HI = 40
NPEND = 41  # rows the exchange side has left in this window (entries of ``perm``)
ROW = 42  # window row of the last EV_ROW
HORIZON = 43  # the exchange side waits for more data before rows later than this
DIRTY_AT = 44  # an order response that the strategy must see arrives at this time
STATE_LEN = 48

#: Rows of the window array passed to :func:`advance`: the tape columns, exchange time, local
#: time, then the exchange side's schedule: ``perm`` (window rows not yet applied there, in
#: exchange-time order) and ``perm_t`` (their exchange times).
ROW_FIELDS = ("kind", "side", "price", "qty", "ex", "lo", "perm", "perm_t")
#: Rows of the books array: exchange bids/asks, local bids/asks, deferred minima bids/asks
#: (stored as minimum + 1, so that an all-zero array, which the OS maps lazily, means none).
BOOK_FIELDS = ("bid_e", "ask_e", "bid_l", "ask_l", "pend_b", "pend_a")

EV_ROW = 1
EV_WAKE = 2
EV_TIME = 3
EV_DATA = 4
EV_FLUSH = 5
EV_END = 6

NO_BID = -(1 << 62)
NO_ASK = 1 << 62
INF = 1 << 62

CLEAR = 1
SNAPSHOT = 2
TRADE = 4


def new_state() -> np.ndarray[Any, np.dtype[np.int64]]:
    """A fresh state vector: empty books, no orders of ours, no taken levels."""
    st = np.zeros(STATE_LEN, dtype=np.int64)
    st[BBE] = st[BBL] = NO_BID
    st[BAE] = st[BAL] = NO_ASK
    st[STOP] = INF
    st[DIRTY_AT] = INF
    st[LAST_EVAL] = -INF
    no_orders(st)
    st[TAKEN_BID_LO] = st[TAKEN_ASK_LO] = INF
    st[TAKEN_BID_HI] = st[TAKEN_ASK_HI] = -INF
    st[E_LO] = st[L_LO] = INF
    st[E_HI] = st[L_HI] = -1
    return st


def no_orders(st: np.ndarray[Any, np.dtype[np.int64]]) -> None:
    """Mark that none of our orders rest (ranges that no price can fall in)."""
    st[OWN_BID_MIN] = INF
    st[OWN_BID_MAX] = NO_BID
    st[OWN_ASK_MIN] = NO_ASK
    st[OWN_ASK_MAX] = -INF


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
def advance(rows: Any, books: Any, tl: Any, st: Any) -> int:
    """Run until something Python must handle; returns the event code (module docstring)."""
    kind = rows[0]
    side = rows[1]
    price = rows[2]
    qty = rows[3]
    lo_t = rows[5]
    perm = rows[6]
    perm_t = rows[7]
    bid_e = books[0]
    ask_e = books[1]
    bid_l = books[2]
    ask_l = books[3]
    pend_b = books[4]
    pend_a = books[5]
    n = st[N]
    ie = st[IE]
    il = st[IL]
    base = st[BASE]
    wake = st[WAKE_NS]
    stop = st[STOP]
    size = st[SIZE]
    cap = tl.shape[1]
    npend = st[NPEND]
    while True:
        if ie >= npend or il >= n:
            st[IE] = ie
            st[IL] = il
            if st[END] == 0:
                return EV_DATA
        te = INF
        if ie < npend:
            te = perm_t[ie]
            if te > st[HORIZON] and st[END] == 0:
                # A row not loaded yet may still belong before this one on the venue.
                st[IE] = ie
                st[IL] = il
                return EV_DATA
            if te < st[E_TS]:  # across a window boundary time never runs backwards
                te = st[E_TS]
        tloc = lo_t[il] if il < n else INF
        t = te if te < tloc else tloc
        if t >= INF:
            # No more rows: no more wake-ups either; only requests in flight remain.
            st[IE] = ie
            st[IL] = il
            if stop >= INF:
                return EV_END
            st[NOW] = stop
            return EV_TIME
        nw = st[NEXT_WAKE]
        if nw < t and nw <= stop:
            need = st[DIRTY] != 0 or nw > st[DIRTY_AT] or nw - st[LAST_EVAL] >= st[MAX_IDLE]
            if not need:
                need = st[BBO_CHANGED] != 0 if st[BBO_ONLY] != 0 else st[BOOK_CHANGED] != 0
            if need:
                st[IE] = ie
                st[IL] = il
                st[NOW] = nw
                st[NEXT_WAKE] = nw + wake
                return EV_WAKE
            # Nothing to decide: jump the timer to the first wake-up at or after the next
            # row, ``stop`` or the idle limit, whichever is first.
            target = t
            if stop < target:
                target = stop
            idle = st[LAST_EVAL] + st[MAX_IDLE]
            if idle < target:
                target = idle
            if st[DIRTY_AT] < target:
                target = st[DIRTY_AT] + 1
            if target >= INF:
                st[IE] = ie
                st[IL] = il
                return EV_END
            k = (target - nw + wake - 1) // wake
            if k < 1:
                k = 1
            st[NEXT_WAKE] = nw + k * wake
            continue
        if t > stop:
            st[IE] = ie
            st[IL] = il
            st[NOW] = stop
            return EV_TIME
        if t >= INF:
            st[IE] = ie
            st[IL] = il
            return EV_END
        if te <= tloc:
            # -- exchange side ------------------------------------------------------------
            r = perm[ie]
            k = kind[r]
            s = side[r]
            p = price[r]
            q = qty[r]
            st[E_TS] = te
            st[ROW] = r
            ie += 1
            st[ROWS_E] += 1
            if k == TRADE:
                if (s > 0 and p >= st[OWN_ASK_MIN]) or (s < 0 and p <= st[OWN_BID_MAX]):
                    st[IE] = ie
                    st[IL] = il
                    st[NOW] = te
                    return EV_ROW
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
                hit = q > 0 and p >= st[OWN_ASK_MIN]
                hit = hit or (st[TAKEN_BID_LO] <= p <= st[TAKEN_BID_HI])
                mine = st[OWN_BID_MIN] <= p <= st[OWN_BID_MAX]
                if mine and not hit and st[DEFER] != 0:
                    if pend_b[ix] == 0 or q + 1 < pend_b[ix]:
                        pend_b[ix] = q + 1
                    st[PEND_N] += 1
                    mine = False
            else:
                ask_e[ix] = q
                if q > 0:
                    if p < st[BAE]:
                        st[BAE] = p
                elif p == st[BAE]:
                    st[BAE] = _best_ask_above(ask_e, ix + 1, base)
                hit = q > 0 and p <= st[OWN_BID_MAX]
                hit = hit or (st[TAKEN_ASK_LO] <= p <= st[TAKEN_ASK_HI])
                mine = st[OWN_ASK_MIN] <= p <= st[OWN_ASK_MAX]
                if mine and not hit and st[DEFER] != 0:
                    if pend_a[ix] == 0 or q + 1 < pend_a[ix]:
                        pend_a[ix] = q + 1
                    st[PEND_N] += 1
                    mine = False
            if hit or mine:
                st[IE] = ie
                st[IL] = il
                st[NOW] = te
                return EV_ROW
        else:
            # -- local side ---------------------------------------------------------------
            k = kind[il]
            s = side[il]
            p = price[il]
            q = qty[il]
            il += 1
            st[L_TS] = tloc
            if k == TRADE:
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
                j = st[NBBO]
                tl[0, j] = tloc
                tl[1, j] = st[BBL]
                tl[2, j] = st[BAL]
                st[NBBO] = j + 1
                if j + 1 >= cap:
                    st[IE] = ie
                    st[IL] = il
                    st[NOW] = tloc
                    return EV_FLUSH


def warm_up() -> None:
    """Compile (or load from numba's cache) :func:`advance` before anything is timed."""
    st = new_state()
    st[END] = 1
    advance(
        np.zeros((8, 0), dtype=np.int64),
        np.zeros((6, 1), dtype=np.int64),
        np.zeros((3, 1), dtype=np.int64),
        st,
    )
