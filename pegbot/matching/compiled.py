"""The fill engine's rules on arrays, compiled: our resting orders where a replay runs per row.

:class:`~pegbot.matching.engine.FillEngine` holds our orders as Python objects, which is right
for the simulator and the paper venue (a few events a second) and too slow for a backtest
(millions of rows, each of which may touch our orders). This module is the same engine as
numba functions over integer arrays, for the backtester's compiled exchange side: the same
rules, stated once in :mod:`pegbot.matching.engine`'s docstring, and the same per-event
arithmetic — :func:`~pegbot.matching.engine.trade_reach`,
:func:`~pegbot.matching.engine.amended_leaves` and
:func:`~pegbot.matching.queue.queue_ahead` are compiled here from their one definition. A
property test (``tests/unit/matching/test_matching_twin.py``) holds the two engines to the
same fills and the same queue on random event sequences.

Layout. The engine's counters and parameters are the first :data:`M_LEN` entries of an int64
state vector ``m`` (a caller may put its own state after them); its tables are one int64
array ``fe`` of 8 rows whose columns hold, one section after another, the orders (in arrival
order, so that the orders at one price are in queue order), our price levels, the levels
:func:`take` consumed (the overlay), and the fills the last calls produced, which the caller
reads and clears (``m[M_NFILL] = 0``). Order ids are ints.

Functions return negative codes instead of raising (compiled code cannot raise a useful
exception to a caller that must go on): see :data:`ERR_DUPLICATE` and the other ``ERR_``
constants. Sides are ``+1`` (buy, bids) and ``-1`` (sell, asks).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import jitcache
from .engine import amended_leaves, trade_reach
from .queue import RISK_AVERSE, QueueModel, capped_ahead, queue_ahead, queue_params

__all__ = [
    "ERR_BAD",
    "ERR_DUPLICATE",
    "ERR_FULL",
    "ERR_LOTS",
    "ERR_NOT_REDUCED",
    "M_LEN",
    "NOT_RESTING",
    "ArrayFills",
    "add",
    "alloc",
    "amend",
    "cancel",
    "configure",
    "grow",
    "on_depth",
    "on_trade",
    "take",
]

# -- the state vector: counters, then parameters -------------------------------------------
M_NORD = 0  # orders resting
M_NLVL = 1  # our price levels
M_NTAKEN = 2  # overlay entries
M_NFILL = 3  # fills waiting for the caller
M_OWN_BID = 4  # our highest bid (NO_BID when none)
M_OWN_ASK = 5  # our lowest ask (NO_ASK when none)
M_BID_LO = 6  # our lowest bid (INF when none)
M_ASK_HI = 7  # our highest ask (-INF when none)
M_MODEL = 8  # queue model code (pegbot.matching.queue)
M_PARTIAL = 9
M_LOT = 10
M_HALF = 11  # added before rounding reach down to lots
M_SCALE = 12
M_N = 13  # the model's exponent, as float64 bits
M_K = 14  # order capacity (also the level capacity)
M_T = 15  # overlay capacity
M_F = 16  # fill buffer capacity
#: Entries of the state vector the engine uses (from index 0).
M_LEN = 20

# -- rows of the tables, by section ----------------------------------------------------------
O_ID, O_SIDE, O_PRICE, O_QTY, O_LEAVES, O_AHEAD, O_TS = 0, 1, 2, 3, 4, 5, 6
L_SIDE, L_PRICE, L_QTY, L_TRADED = 0, 1, 2, 3
T_SIDE, T_PRICE, T_QTY = 0, 1, 2
F_TS, F_ID, F_SIDE, F_PRICE, F_QTY, F_MAKER, F_LEAVES = 0, 1, 2, 3, 4, 5, 6
ROWS = 8

NO_BID = -(1 << 62)
NO_ASK = 1 << 62
INF = 1 << 62

#: :func:`amend` of an order that is not resting (a race with a fill or a cancel).
NOT_RESTING = -1
#: The order id is resting already.
ERR_DUPLICATE = -2
#: A non-positive price or quantity, or a negative level quantity.
ERR_BAD = -3
#: A quantity that is not whole lots.
ERR_LOTS = -4
#: No room for another order (grow the tables) or another overlay entry.
ERR_FULL = -5
#: :func:`amend` to a quantity that does not reduce the order.
ERR_NOT_REDUCED = -6


# -- Python side: set up and grow ------------------------------------------------------------


def configure(
    m: np.ndarray[Any, Any],
    queue: QueueModel,
    partial_fills: bool,
    lot_units: int,
    round_half_lot: bool,
) -> None:
    """Write an empty engine's counters and its parameters into ``m[:M_LEN]``."""
    if lot_units <= 0:
        raise ValueError(f"lot_units must be positive, got {lot_units}")
    code, n, scale = queue_params(queue)
    m[:M_LEN] = 0
    m[M_OWN_BID] = NO_BID
    m[M_OWN_ASK] = NO_ASK
    m[M_BID_LO] = INF
    m[M_ASK_HI] = -INF
    m[M_MODEL] = code
    m[M_PARTIAL] = int(partial_fills)
    m[M_LOT] = lot_units
    m[M_HALF] = lot_units // 2 if round_half_lot else 0
    m[M_SCALE] = scale
    m[M_N : M_N + 1].view(np.float64)[0] = n


def alloc(m: np.ndarray[Any, Any], orders: int = 64, taken: int = 1024) -> np.ndarray[Any, Any]:
    """Empty tables for ``orders`` resting orders and ``taken`` overlay entries."""
    fills = orders + taken + 8
    m[M_K], m[M_T], m[M_F] = orders, taken, fills
    return np.zeros((ROWS, 2 * orders + taken + fills), dtype=np.int64)


def grow(m: np.ndarray[Any, Any], fe: np.ndarray[Any, Any], orders: int) -> np.ndarray[Any, Any]:
    """Tables with room for ``orders`` orders and the same contents (``fe`` if it has room)."""
    k, t = int(m[M_K]), int(m[M_T])
    if orders <= k:
        return fe
    old = fe
    new = alloc(m, orders, t)
    k2 = orders
    new[:, : m[M_NORD]] = old[:, : m[M_NORD]]
    new[:, k2 : k2 + m[M_NLVL]] = old[:, k : k + m[M_NLVL]]
    new[:, 2 * k2 : 2 * k2 + m[M_NTAKEN]] = old[:, 2 * k : 2 * k + m[M_NTAKEN]]
    f_old, f_new = 2 * k + t, 2 * k2 + t
    new[:, f_new : f_new + m[M_NFILL]] = old[:, f_old : f_old + m[M_NFILL]]
    return new


def fill_section(m: np.ndarray[Any, Any]) -> int:
    """Column of the first buffered fill in the tables."""
    return int(2 * m[M_K] + m[M_T])


# -- compiled: lookups -----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def find_order(m: Any, fe: Any, oid: int) -> int:
    """Column of order ``oid``, or -1."""
    for i in range(m[M_NORD]):
        if fe[O_ID, i] == oid:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def _level_of(m: Any, fe: Any, side: int, price: int) -> int:
    k = m[M_K]
    for c in range(k, k + m[M_NLVL]):
        if fe[L_PRICE, c] == price and fe[L_SIDE, c] == side:
            return c
    return -1


@numba.njit(cache=True, nogil=True)
def _refresh_own(m: Any, fe: Any) -> None:
    k = m[M_K]
    bb, blo, ba, ahi = NO_BID, INF, NO_ASK, -INF
    for c in range(k, k + m[M_NLVL]):
        p = fe[L_PRICE, c]
        if fe[L_SIDE, c] > 0:
            bb = max(bb, p)
            blo = min(blo, p)
        else:
            ba = min(ba, p)
            ahi = max(ahi, p)
    m[M_OWN_BID], m[M_BID_LO], m[M_OWN_ASK], m[M_ASK_HI] = bb, blo, ba, ahi


@numba.njit(cache=True, nogil=True)
def _emit(
    m: Any, fe: Any, oid: int, side: int, price: int, qty: int, maker: int, ts: int, leaves: int
) -> None:
    c = 2 * m[M_K] + m[M_T] + m[M_NFILL]
    fe[F_TS, c] = ts
    fe[F_ID, c] = oid
    fe[F_SIDE, c] = side
    fe[F_PRICE, c] = price
    fe[F_QTY, c] = qty
    fe[F_MAKER, c] = maker
    fe[F_LEAVES, c] = leaves
    m[M_NFILL] += 1


@numba.njit(cache=True, nogil=True)
def _remove_order(m: Any, fe: Any, i: int) -> None:
    # Keep arrival order: shift the later orders left by one.
    n = m[M_NORD]
    for j in range(i, n - 1):
        for r in range(O_TS + 1):
            fe[r, j] = fe[r, j + 1]
    m[M_NORD] = n - 1


@numba.njit(cache=True, nogil=True)
def _drop_level(m: Any, fe: Any, c: int) -> None:
    last = m[M_K] + m[M_NLVL] - 1
    for r in range(L_TRADED + 1):
        fe[r, c] = fe[r, last]
    m[M_NLVL] -= 1
    _refresh_own(m, fe)


@numba.njit(cache=True, nogil=True)
def _level_empty(m: Any, fe: Any, side: int, price: int) -> bool:
    for i in range(m[M_NORD]):  # noqa: SIM110 (compiled: no generators)
        if fe[O_PRICE, i] == price and fe[O_SIDE, i] == side:
            return False
    return True


# -- compiled: orders ----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _requeue(m: Any, fe: Any, c: int, new_qty: int) -> None:
    # The level's quantity is now ``new_qty``: move the queue ahead of each order there.
    prev, traded = fe[L_QTY, c], fe[L_TRADED, c]
    fe[L_QTY, c] = new_qty
    fe[L_TRADED, c] = 0
    side, price = fe[L_SIDE, c], fe[L_PRICE, c]
    model = m[M_MODEL]
    if model == RISK_AVERSE:
        for i in range(m[M_NORD]):
            if fe[O_PRICE, i] == price and fe[O_SIDE, i] == side:
                fe[O_AHEAD, i] = capped_ahead(fe[O_AHEAD, i], new_qty)
        return
    n = m[M_N : M_N + 1].view(np.float64)[0]
    scale = m[M_SCALE]
    floor = 0
    for i in range(m[M_NORD]):
        if fe[O_PRICE, i] != price or fe[O_SIDE, i] != side:
            continue
        ahead = queue_ahead(model, n, scale, fe[O_AHEAD, i], prev, new_qty, traded)
        # External quantity ahead of an earlier order of ours is ahead of a later one too.
        if ahead < floor:
            ahead = floor
        fe[O_AHEAD, i] = ahead
        floor = ahead


@numba.njit(cache=True, nogil=True)
def add(
    m: Any, fe: Any, oid: int, side: int, price: int, qty: int, leaves: int, level_qty: int, ts: int
) -> int:
    """Rest an order behind ``level_qty`` external units (``FillEngine._add``); 0 or an error."""
    if find_order(m, fe, oid) >= 0:
        return ERR_DUPLICATE
    if price <= 0 or qty <= 0 or leaves <= 0 or leaves > qty or level_qty < 0:
        return ERR_BAD
    if leaves % m[M_LOT]:
        return ERR_LOTS
    n = m[M_NORD]
    if n >= m[M_K]:
        return ERR_FULL
    s = 1 if side > 0 else -1
    c = _level_of(m, fe, s, price)
    if c < 0:
        c = m[M_K] + m[M_NLVL]
        fe[L_SIDE, c] = s
        fe[L_PRICE, c] = price
        fe[L_QTY, c] = level_qty
        fe[L_TRADED, c] = 0
        m[M_NLVL] += 1
        _refresh_own(m, fe)
    else:
        # A fresher level quantity re-caps the queues already there.
        _requeue(m, fe, c, level_qty)
    fe[O_ID, n] = oid
    fe[O_SIDE, n] = s
    fe[O_PRICE, n] = price
    fe[O_QTY, n] = qty
    fe[O_LEAVES, n] = leaves
    fe[O_AHEAD, n] = level_qty
    fe[O_TS, n] = ts
    m[M_NORD] = n + 1
    return 0


@numba.njit(cache=True, nogil=True)
def cancel(m: Any, fe: Any, oid: int) -> int:
    """Remove a resting order; its open quantity, 0 when it was not resting."""
    i = find_order(m, fe, oid)
    if i < 0:
        return 0
    side, price, left = fe[O_SIDE, i], fe[O_PRICE, i], fe[O_LEAVES, i]
    _remove_order(m, fe, i)
    if _level_empty(m, fe, side, price):
        _drop_level(m, fe, _level_of(m, fe, side, price))
    return int(left)


@numba.njit(cache=True, nogil=True)
def amend(m: Any, fe: Any, oid: int, new_qty: int) -> int:
    """Reduce an order to ``new_qty`` in all, keeping its place (``FillEngine.amend``).

    Returns:
        The open quantity after the amend; 0 when nothing is left (the order left the
        engine); :data:`NOT_RESTING`, :data:`ERR_NOT_REDUCED` or :data:`ERR_LOTS`.
    """
    i = find_order(m, fe, oid)
    if i < 0:
        return NOT_RESTING
    if new_qty <= 0 or new_qty >= fe[O_QTY, i]:
        return ERR_NOT_REDUCED
    leaves = amended_leaves(fe[O_QTY, i], fe[O_LEAVES, i], new_qty)
    if leaves <= 0:
        cancel(m, fe, oid)
        return 0
    if leaves % m[M_LOT]:
        return ERR_LOTS
    fe[O_QTY, i] = new_qty
    fe[O_LEAVES, i] = leaves
    return leaves


# -- compiled: market events ---------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _fill_level_fully(m: Any, fe: Any, c: int, ts: int) -> None:
    # Every order of ours at level ``c`` fills in full at its price, as maker.
    side, price = fe[L_SIDE, c], fe[L_PRICE, c]
    i = 0
    while i < m[M_NORD]:
        if fe[O_PRICE, i] == price and fe[O_SIDE, i] == side:
            _emit(m, fe, fe[O_ID, i], side, price, fe[O_LEAVES, i], 1, ts, 0)
            _remove_order(m, fe, i)
        else:
            i += 1
    _drop_level(m, fe, c)


@numba.njit(cache=True, nogil=True)
def _next_level(m: Any, fe: Any, side: int, after: int, limit: int) -> int:
    # Our next level on ``side`` past ``after`` toward ``limit`` (bids high to low, asks low
    # to high), or -1.
    k = m[M_K]
    best = -1
    for c in range(k, k + m[M_NLVL]):
        if fe[L_SIDE, c] != side:
            continue
        p = fe[L_PRICE, c]
        if side > 0:
            if after > p >= limit and (best < 0 or p > fe[L_PRICE, best]):
                best = c
        elif after < p <= limit and (best < 0 or p < fe[L_PRICE, best]):
            best = c
    return best


@numba.njit(cache=True, nogil=True)
def _cross(m: Any, fe: Any, side: int, through: int, ts: int) -> None:
    # Fill every order of ours on ``side`` at or beyond ``through``, best price first.
    after = INF if side > 0 else -INF
    limit = through
    while True:
        c = _next_level(m, fe, side, after, limit)
        if c < 0:
            return
        after = fe[L_PRICE, c]
        _fill_level_fully(m, fe, c, ts)


@numba.njit(cache=True, nogil=True)
def _pop_taken(m: Any, fe: Any, side: int, price: int) -> None:
    base = 2 * m[M_K]
    n = m[M_NTAKEN]
    for c in range(base, base + n):
        if fe[T_PRICE, c] == price and fe[T_SIDE, c] == side:
            last = base + n - 1
            for r in range(T_QTY + 1):
                fe[r, c] = fe[r, last]
            m[M_NTAKEN] = n - 1
            return


@numba.njit(cache=True, nogil=True)
def taken_at(m: Any, fe: Any, side: int, price: int) -> int:
    """What :func:`take` consumed at the external level (``side``, ``price``)."""
    base = 2 * m[M_K]
    for c in range(base, base + m[M_NTAKEN]):
        if fe[T_PRICE, c] == price and fe[T_SIDE, c] == side:
            return int(fe[T_QTY, c])
    return 0


@numba.njit(cache=True, nogil=True)
def on_depth(m: Any, fe: Any, side: int, price: int, qty: int, ts: int) -> None:
    """The external level (``side``, ``price``) now holds ``qty`` (``FillEngine.on_depth``)."""
    if m[M_NTAKEN]:
        _pop_taken(m, fe, 1 if side > 0 else -1, price)
    if side > 0:
        if m[M_BID_LO] <= price <= m[M_OWN_BID]:
            c = _level_of(m, fe, 1, price)
            if c >= 0:
                _requeue(m, fe, c, qty)
        # An external bid at or above our ask: a buyer arrived at our price.
        if qty and price >= m[M_OWN_ASK]:
            _cross(m, fe, -1, price, ts)
    else:
        if m[M_OWN_ASK] <= price <= m[M_ASK_HI]:
            c = _level_of(m, fe, -1, price)
            if c >= 0:
                _requeue(m, fe, c, qty)
        if qty and price <= m[M_OWN_BID]:
            _cross(m, fe, 1, price, ts)


@numba.njit(cache=True, nogil=True)
def _trade_at(m: Any, fe: Any, c: int, qty: int, ts: int) -> None:
    fe[L_TRADED, c] += qty
    side, price = fe[L_SIDE, c], fe[L_PRICE, c]
    partial = m[M_PARTIAL] != 0
    lot, half = m[M_LOT], m[M_HALF]
    ours_ahead = 0  # our own quantity ahead in the FIFO, before this trade
    i = 0
    while i < m[M_NORD]:
        if fe[O_PRICE, i] != price or fe[O_SIDE, i] != side:
            i += 1
            continue
        ahead, leaves = fe[O_AHEAD, i], fe[O_LEAVES, i]
        reach = trade_reach(qty, ahead, ours_ahead, lot, half)
        ours_ahead += leaves
        fe[O_AHEAD, i] = ahead - qty if ahead > qty else 0
        if reach > 0:
            done = reach if partial and reach < leaves else leaves
            leaves -= done
            fe[O_LEAVES, i] = leaves
            _emit(m, fe, fe[O_ID, i], side, price, done, 1, ts, leaves)
            if leaves == 0:
                _remove_order(m, fe, i)
                continue
        i += 1
    if _level_empty(m, fe, side, price):
        _drop_level(m, fe, c)


@numba.njit(cache=True, nogil=True)
def on_trade(m: Any, fe: Any, aggressor: int, price: int, qty: int, ts: int) -> int:
    """A public trade (``FillEngine.on_trade``); 0, or :data:`ERR_BAD` for ``qty <= 0``."""
    if qty <= 0:
        return ERR_BAD
    if aggressor > 0:
        # A buyer lifts asks: ours at or below the trade price are reached.
        if price < m[M_OWN_ASK]:
            return 0
        side, after = -1, -INF
    else:
        if price > m[M_OWN_BID]:
            return 0
        side, after = 1, INF
    while True:
        c = _next_level(m, fe, side, after, price)
        if c < 0:
            return 0
        p = fe[L_PRICE, c]
        after = p
        if p != price:
            # The trade went through our price: everything resting there was taken first.
            _fill_level_fully(m, fe, c, ts)
        else:
            _trade_at(m, fe, c, qty, ts)


# -- compiled: taking liquidity ------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def take(
    m: Any,
    fe: Any,
    levels: Any,
    base: int,
    lo: int,
    hi: int,
    side: int,
    qty: int,
    oid: int,
    ts: int,
) -> int:
    """Take up to ``qty`` from one side of a dense book, best price first, as taker.

    ``levels`` is the side taken (asks for a buy, bids for a sell), quantity by
    ``tick − base``; indices ``lo..hi`` (inclusive) are the prices the order may reach.
    As ``FillEngine.take``: each level gives what the overlay has not consumed, one taker
    fill per level, the last fill's ``leaves`` is what was not filled.

    Returns:
        The quantity not filled, or :data:`ERR_FULL` when the overlay had no room (what was
        taken until then stands).
    """
    book_side = -1 if side > 0 else 1
    s = 1 if side > 0 else -1
    left = qty
    step = 1 if side > 0 else -1
    ix = lo if side > 0 else hi
    end = hi + 1 if side > 0 else lo - 1
    tbase = 2 * m[M_K]
    while ix != end and left > 0:
        q = levels[ix]
        if q > 0:
            price = base + ix
            c = -1
            for j in range(tbase, tbase + m[M_NTAKEN]):
                if fe[T_PRICE, j] == price and fe[T_SIDE, j] == book_side:
                    c = j
                    break
            free = q - (fe[T_QTY, c] if c >= 0 else 0)
            if free > 0:
                if c < 0:
                    if m[M_NTAKEN] >= m[M_T]:
                        return ERR_FULL
                    c = tbase + m[M_NTAKEN]
                    fe[T_SIDE, c] = book_side
                    fe[T_PRICE, c] = price
                    fe[T_QTY, c] = 0
                    m[M_NTAKEN] += 1
                done = free if free < left else left
                fe[T_QTY, c] += done
                left -= done
                _emit(m, fe, oid, s, price, done, 0, ts, left)
        ix += step
    return left


# -- a Python face, for tests and tools ------------------------------------------------------


class ArrayFills:
    """The compiled engine behind a small Python interface (the twin of ``FillEngine``).

    Fills come back as tuples ``(ts, id, side, price, qty, maker, leaves)``.

    Args:
        queue: The queue model (one of :mod:`pegbot.matching.queue`'s).
        partial_fills: As ``FillEngine``.
        lot_units: As ``FillEngine``.
        round_half_lot: As ``FillEngine``.
        orders: Initial order capacity (grown as needed).
    """

    def __init__(
        self,
        queue: QueueModel,
        *,
        partial_fills: bool = True,
        lot_units: int = 1,
        round_half_lot: bool = False,
        orders: int = 16,
    ) -> None:
        self.m = np.zeros(M_LEN, dtype=np.int64)
        configure(self.m, queue, partial_fills, lot_units, round_half_lot)
        self.fe = alloc(self.m, orders)

    def _fills(self) -> list[tuple[int, ...]]:
        c, n = fill_section(self.m), int(self.m[M_NFILL])
        out = [tuple(int(x) for x in self.fe[:7, c + j]) for j in range(n)]
        self.m[M_NFILL] = 0
        return out

    def add(self, oid: int, side: int, price: int, qty: int, level_qty: int, ts: int) -> int:
        """Rest an order (0, or an ``ERR_`` code)."""
        if int(self.m[M_NORD]) >= int(self.m[M_K]):
            self.fe = grow(self.m, self.fe, 2 * int(self.m[M_K]))
        return int(add(self.m, self.fe, oid, side, price, qty, qty, level_qty, ts))

    def cancel(self, oid: int) -> int:
        """Cancel; the open quantity canceled (0: not resting)."""
        return int(cancel(self.m, self.fe, oid))

    def amend(self, oid: int, new_qty: int) -> int:
        """Amend keep-priority; see :func:`amend`."""
        return int(amend(self.m, self.fe, oid, new_qty))

    def on_depth(self, side: int, price: int, qty: int, ts: int) -> list[tuple[int, ...]]:
        """A depth change; the fills it caused."""
        on_depth(self.m, self.fe, side, price, qty, ts)
        return self._fills()

    def on_trade(self, side: int, price: int, qty: int, ts: int) -> list[tuple[int, ...]]:
        """A public trade; the fills it caused."""
        on_trade(self.m, self.fe, side, price, qty, ts)
        return self._fills()

    def orders(self) -> list[tuple[int, int, int, int, int, int]]:
        """``(id, side, price, qty, leaves, ahead)`` of every resting order, in arrival order."""
        n = int(self.m[M_NORD])
        return [tuple(int(x) for x in self.fe[:6, i]) for i in range(n)]  # type: ignore[misc]

    def taken(self, side: int, price: int) -> int:
        """What taking consumed at an external level (``side`` of the book)."""
        return int(taken_at(self.m, self.fe, side, price))


def _deps() -> list[Any]:
    import sys

    from . import engine, latency, queue

    return [sys.modules[__name__], queue, engine, latency]


jitcache.guard(globals(), _deps())
