"""The backtest venue's exchange side, compiled: requests in flight, our orders, answers.

Everything that happens at the venue between two decisions of the strategy runs here, in
numba, called by the replay core (:mod:`pegbot.backtest.core`) as rows and requests reach
the venue:

* **requests in flight** — the shell writes each request (place, cancel, amend,
  cancel-replace) with the time it reaches the venue (its entry latency) into a table; the
  core acts on it when its clock reaches that time (:func:`act`), in (time, sequence) order,
  against the exchange-side book;
* **our resting orders** — the fill engine's rules on arrays
  (:mod:`pegbot.matching.compiled`): queue position, partial fills, crossing, taking;
  exchange rows at or through our prices reach them through :func:`on_row`;
* **answers in flight** — each answer (ack, reject, cancel ack, not found, fill, amended,
  expired, amend rejected, not attempted) is stamped with the time it reaches the shell
  (exchange time plus the response latency, :func:`pegbot.matching.latency.interp` over the
  model's table) and waits in a table until the core hands the due ones to the shell at a
  decision (:func:`deliver`), sorted by (time, sequence);
* **records** — what the venue did (orders accepted, rejected, cancelled, amended, expired;
  fills; our best quotes after each change) is appended to logs the shell copies out when
  they fill up, for the results tables.

Binance semantics for the two compound requests: an **amend** only reduces the quantity
(``new_units`` is the new total, executed included), keeps the order's place in its queue,
and expires the order when nothing would be left open; a **cancel-replace**
(``STOP_ON_FAILURE``) is one step at the venue: if the old order is not resting (filled,
cancelled) nothing is placed and the new order's answer is "not attempted"; otherwise the
old order is cancelled and the new one placed at the same instant (at the back of its
level's queue) — one quote record, so our quotes never show both orders nor neither.

Layout: the venue's counters live in the state vector after the fill engine's
(:data:`X0` on); its tables are two int64 arrays: ``xq`` (requests, answers in flight, the
outbox of due answers, the response-latency table, the fair value's change times) and ``lg``
(the best-price timeline the core writes, then the order, fill and quote logs), each cut
into sections whose offsets and capacities are in the state vector.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from pegbot.matching import compiled as fx
from pegbot.matching import jitcache
from pegbot.matching.latency import interp

# -- state vector (after the fill engine's entries) --------------------------------------------
X0 = fx.M_LEN
X_SEQ = X0 + 0  # sequence counter shared with the shell (requests, answers, log entries)
X_NRQ = X0 + 1  # requests in flight
X_NRS = X0 + 2  # answers in flight
X_NOB = X0 + 3  # answers in the outbox
X_RQ_CAP = X0 + 4
X_RS_OFF = X0 + 5
X_RS_CAP = X0 + 6  # also the outbox's capacity
X_OB_OFF = X0 + 7
X_LAT_OFF = X0 + 8
X_NLAT = X0 + 9
X_FT_OFF = X0 + 10  # fair value change times
X_NFT = X0 + 11
X_FT_I = X0 + 12  # next fair change time not yet passed
X_NEXT_ARR = X0 + 13  # first request's arrival (INF: none)
X_DIRTY_MASK = X0 + 14  # answer kinds (bits) the strategy must see
X_DIRTY_AT = X0 + 15  # first such answer's arrival at the shell (INF: none)
X_REJECTS = X0 + 16
X_ERR = X0 + 17  # an engine error code (the shell raises)
X_LO_OFF = X0 + 18
X_LO_CAP = X0 + 19
X_NLO = X0 + 20
X_LF_OFF = X0 + 21
X_LF_CAP = X0 + 22
X_NLF = X0 + 23
X_LQ_OFF = X0 + 24
X_LQ_CAP = X0 + 25
X_NLQ = X0 + 26
X_BB_CAP = X0 + 27  # best-price timeline capacity (section at 0 of ``lg``)
X_NBB = X0 + 28
X_PRICE_BASE = X0 + 29  # tick at index 0 of the books
X_BOOK_SIZE = X0 + 30
X_BBE = X0 + 31  # exchange-side best bid and ask (the core keeps them)
X_BAE = X0 + 32
#: First state index after the venue's.
X_END = X0 + 40

# -- request table rows --------------------------------------------------------------------------
RQ_AT, RQ_SEQ, RQ_KIND, RQ_ID, RQ_SIDE, RQ_PRICE, RQ_UNITS, RQ_FLAGS, RQ_ID2 = range(9)
RQ_PLACE, RQ_CANCEL, RQ_AMEND, RQ_REPLACE = 1, 2, 3, 4
# -- answer table rows (also the outbox's) -----------------------------------------------------
RS_AT, RS_SEQ, RS_KIND, RS_ID, RS_SIDE, RS_PRICE, RS_QTY, RS_LEAVES, RS_EXT, RS_MAKER = range(10)
XQ_ROWS = 10
ACK, REJECT, CANCELED, NOT_FOUND, FILL, AMENDED, EXPIRED, AMEND_REJECTED, NOT_ATTEMPTED = range(
    1, 10
)
#: Answer kinds by code, as the shell names them.
KIND_NAMES = (
    "",
    "ack",
    "reject",
    "canceled",
    "not_found",
    "fill",
    "amended",
    "expired",
    "amend_rejected",
    "not_attempted",
)
# -- log rows ---------------------------------------------------------------------------------
LO_TS, LO_SEQ, LO_EVENT, LO_ID, LO_SIDE, LO_PRICE, LO_UNITS = range(7)
EV_ACCEPTED, EV_REJECTED, EV_CANCELED, EV_AMENDED, EV_EXPIRED = 1, 2, 3, 4, 5
# What the shell sent (it records these itself, with the same sequence counter).
EV_SENT, EV_CANCEL_SENT, EV_AMEND_SENT, EV_REPLACE_SENT = 6, 7, 8, 9
#: Order log events by code, as the results tables name them.
EVENT_NAMES = (
    "",
    "accepted",
    "rejected",
    "canceled",
    "amended",
    "expired",
    "sent",
    "cancel_sent",
    "amend_sent",
    "replace_sent",
)
LG_ROWS = 7

#: Ticks past the opposite best a marketable (taking) order may reach.
SEARCH = 64
INF = fx.INF
NO_BID = fx.NO_BID
NO_ASK = fx.NO_ASK


# -- Python side: tables ---------------------------------------------------------------------


def alloc_xq(
    st: np.ndarray[Any, Any],
    requests: int,
    answers: int,
    lat_t: list[int],
    lat_v: list[int],
    fair_times: list[int],
    old: np.ndarray[Any, Any] | None = None,
) -> np.ndarray[Any, Any]:
    """The request/answer tables (copying what ``old`` holds in flight into them)."""
    nlat, nft = len(lat_t), len(fair_times)
    xq = np.zeros((requests + 2 * answers + nlat + nft, XQ_ROWS), dtype=np.int64)
    if old is not None:
        nrq, nrs = int(st[X_NRQ]), int(st[X_NRS])
        xq[:nrq] = old[:nrq]
        o = int(st[X_RS_OFF])
        xq[requests : requests + nrs] = old[o : o + nrs]
    st[X_RQ_CAP] = requests
    st[X_RS_OFF] = requests
    st[X_RS_CAP] = answers
    st[X_OB_OFF] = requests + answers
    st[X_LAT_OFF] = requests + 2 * answers
    st[X_NLAT] = nlat
    xq[st[X_LAT_OFF] : st[X_LAT_OFF] + nlat, 0] = lat_t
    xq[st[X_LAT_OFF] : st[X_LAT_OFF] + nlat, 1] = lat_v
    st[X_FT_OFF] = st[X_LAT_OFF] + nlat
    st[X_NFT] = nft
    xq[st[X_FT_OFF] : st[X_FT_OFF] + nft, 0] = fair_times
    return xq


def alloc_lg(st: np.ndarray[Any, Any], bbo: int, logs: int) -> np.ndarray[Any, Any]:
    """Empty logs: ``bbo`` best-price entries, ``logs`` entries of each venue log."""
    st[X_BB_CAP] = bbo
    st[X_LO_OFF], st[X_LO_CAP] = bbo, logs
    st[X_LF_OFF], st[X_LF_CAP] = bbo + logs, logs
    st[X_LQ_OFF], st[X_LQ_CAP] = bbo + 2 * logs, logs
    st[X_NBB] = st[X_NLO] = st[X_NLF] = st[X_NLQ] = 0
    return np.zeros((LG_ROWS, bbo + 3 * logs), dtype=np.int64)


def init_state(st: np.ndarray[Any, Any]) -> None:
    """Mark the venue idle: nothing in flight, no books yet."""
    st[X_NEXT_ARR] = INF
    st[X_DIRTY_AT] = INF
    st[X_BBE] = NO_BID
    st[X_BAE] = NO_ASK


# -- compiled: answers and logs ----------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def respond(
    st: Any, xq: Any, kind: int, oid: int, side: int, price: int, qty: int, leaves: int, ext: int
) -> None:
    """Queue an answer made at exchange time ``ext``; it reaches the shell a latency later."""
    lo = st[X_LAT_OFF]
    n = st[X_NLAT]
    at = ext + interp(xq[lo : lo + n, 0], xq[lo : lo + n, 1], ext)
    st[X_SEQ] += 1
    c = st[X_RS_OFF] + st[X_NRS]
    xq[c, RS_AT] = at
    xq[c, RS_SEQ] = st[X_SEQ]
    xq[c, RS_KIND] = kind
    xq[c, RS_ID] = oid
    xq[c, RS_SIDE] = side
    xq[c, RS_PRICE] = price
    xq[c, RS_QTY] = qty
    xq[c, RS_LEAVES] = leaves
    xq[c, RS_EXT] = ext
    xq[c, RS_MAKER] = 0
    st[X_NRS] += 1
    if (st[X_DIRTY_MASK] >> kind) & 1 and at < st[X_DIRTY_AT]:
        st[X_DIRTY_AT] = at


@numba.njit(cache=True, nogil=True)
def _log_order(
    st: Any, lg: Any, ts: int, event: int, oid: int, side: int, price: int, units: int
) -> None:
    st[X_SEQ] += 1
    c = st[X_LO_OFF] + st[X_NLO]
    lg[LO_TS, c] = ts
    lg[LO_SEQ, c] = st[X_SEQ]
    lg[LO_EVENT, c] = event
    lg[LO_ID, c] = oid
    lg[LO_SIDE, c] = side
    lg[LO_PRICE, c] = price
    lg[LO_UNITS, c] = units
    st[X_NLO] += 1


@numba.njit(cache=True, nogil=True)
def _drain_fills(st: Any, fe: Any, xq: Any, lg: Any) -> int:
    # The fills the engine just produced: to the fill log and on their way to the shell.
    n = st[fx.M_NFILL]
    c0 = 2 * st[fx.M_K] + st[fx.M_T]
    for j in range(n):
        c = c0 + j
        d = st[X_LF_OFF] + st[X_NLF]
        for r in range(fx.F_LEAVES + 1):
            lg[r, d] = fe[r, c]
        st[X_NLF] += 1
        respond(
            st,
            xq,
            FILL,
            fe[fx.F_ID, c],
            fe[fx.F_SIDE, c],
            fe[fx.F_PRICE, c],
            fe[fx.F_QTY, c],
            fe[fx.F_LEAVES, c],
            fe[fx.F_TS, c],
        )
        xq[st[X_RS_OFF] + st[X_NRS] - 1, RS_MAKER] = fe[fx.F_MAKER, c]
    st[fx.M_NFILL] = 0
    return int(n)


@numba.njit(cache=True, nogil=True)
def _log_quote(st: Any, fe: Any, lg: Any, at: int) -> None:
    # Our resting best prices and the sizes there, for uptime and depth statistics.
    bb = ba = bq = aq = 0
    for i in range(st[fx.M_NORD]):
        p, u = fe[fx.O_PRICE, i], fe[fx.O_LEAVES, i]
        if fe[fx.O_SIDE, i] > 0:
            if p > bb:
                bb, bq = p, u
            elif p == bb:
                bq += u
        elif ba == 0 or p < ba:
            ba, aq = p, u
        elif p == ba:
            aq += u
    c = st[X_LQ_OFF] + st[X_NLQ]
    lg[0, c] = at
    lg[1, c] = bb
    lg[2, c] = bq
    lg[3, c] = ba
    lg[4, c] = aq
    st[X_NLQ] += 1


# -- compiled: acting on requests --------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _place(
    st: Any,
    fe: Any,
    xq: Any,
    lg: Any,
    books: Any,
    at: int,
    oid: int,
    side: int,
    price: int,
    units: int,
    post_only: bool,
) -> bool:
    # True when the order was accepted (it may have filled at once).
    bb, ba = st[X_BBE], st[X_BAE]
    base, size = st[X_PRICE_BASE], st[X_BOOK_SIZE]
    crosses = (side > 0 and ba != NO_ASK and price >= ba) or (
        side < 0 and bb != NO_BID and price <= bb
    )
    bad = price <= 0 or units <= 0 or units % st[fx.M_LOT] != 0
    if (crosses and post_only) or bad or fx.find_order(st, fe, oid) >= 0:
        st[X_REJECTS] += 1
        respond(st, xq, REJECT, oid, side, price, 0, 0, at)
        _log_order(st, lg, at, EV_REJECTED, oid, side, price, units)
        return False
    if crosses:
        respond(st, xq, ACK, oid, side, price, 0, units, at)
        # The levels a taking order can reach: up to SEARCH ticks past the opposite best.
        if side > 0:
            lo, hi, levels = ba - base, min(price, ba + SEARCH) - base, books[1]
        else:
            lo, hi, levels = max(price, bb - SEARCH) - base, bb - base, books[0]
        lo = max(lo, 0)
        hi = min(hi, size - 1)
        left = fx.take(st, fe, levels, base, lo, hi, side, units, oid, at)
        if left < 0:
            st[X_ERR] = left
            left = 0
        _drain_fills(st, fe, xq, lg)
        if left > 0:
            # The remainder rests behind nothing of the opposite book it was given.
            err = fx.add(st, fe, oid, side, price, units, left, 0, at)
            if err < 0:
                st[X_ERR] = err
    else:
        ix = price - base
        level = 0
        if 0 <= ix < size:
            level = books[0 if side > 0 else 1, ix]
        err = fx.add(st, fe, oid, side, price, units, units, level, at)
        if err < 0:
            st[X_ERR] = err
        respond(st, xq, ACK, oid, side, price, 0, units, at)
    _log_order(st, lg, at, EV_ACCEPTED, oid, side, price, units)
    return True


@numba.njit(cache=True, nogil=True)
def _cancel(st: Any, fe: Any, xq: Any, lg: Any, at: int, oid: int) -> bool:
    left = fx.cancel(st, fe, oid)
    if left:
        respond(st, xq, CANCELED, oid, 0, 0, left, 0, at)
        _log_order(st, lg, at, EV_CANCELED, oid, 0, 0, left)
        return True
    respond(st, xq, NOT_FOUND, oid, 0, 0, 0, 0, at)
    return False


@numba.njit(cache=True, nogil=True)
def _amend(st: Any, fe: Any, xq: Any, lg: Any, at: int, oid: int, new_units: int) -> bool:
    i = fx.find_order(st, fe, oid)
    if i < 0:
        respond(st, xq, NOT_FOUND, oid, 0, 0, 0, 0, at)
        return False
    side, price, before = fe[fx.O_SIDE, i], fe[fx.O_PRICE, i], fe[fx.O_LEAVES, i]
    left = fx.amend(st, fe, oid, new_units)
    if left == 0:
        respond(st, xq, EXPIRED, oid, side, price, 0, 0, at)
        _log_order(st, lg, at, EV_EXPIRED, oid, side, price, before)
        return True
    if left < 0:
        respond(st, xq, AMEND_REJECTED, oid, side, price, 0, before, at)
        return False
    respond(st, xq, AMENDED, oid, side, price, 0, left, at)
    _log_order(st, lg, at, EV_AMENDED, oid, side, price, before - left)
    return True


@numba.njit(cache=True, nogil=True)
def _next_request(st: Any, xq: Any) -> int:
    best = -1
    for c in range(st[X_NRQ]):
        if best < 0 or (xq[c, RQ_AT], xq[c, RQ_SEQ]) < (xq[best, RQ_AT], xq[best, RQ_SEQ]):
            best = c
    return best


@numba.njit(cache=True, nogil=True)
def refresh_next_arrival(st: Any, xq: Any) -> None:
    """Set the time of the first request in flight (after the shell added requests)."""
    c = _next_request(st, xq)
    st[X_NEXT_ARR] = INF if c < 0 else xq[c, RQ_AT]


@numba.njit(cache=True, nogil=True)
def act(st: Any, fe: Any, xq: Any, lg: Any, books: Any, now: int) -> None:
    """Act on every request that has reached the venue by exchange time ``now``."""
    while True:
        c = _next_request(st, xq)
        if c < 0 or xq[c, RQ_AT] > now:
            break
        at, kind, oid = xq[c, RQ_AT], xq[c, RQ_KIND], xq[c, RQ_ID]
        side, price, units = xq[c, RQ_SIDE], xq[c, RQ_PRICE], xq[c, RQ_UNITS]
        post_only, new_id = xq[c, RQ_FLAGS] != 0, xq[c, RQ_ID2]
        last = st[X_NRQ] - 1
        for r in range(XQ_ROWS):
            xq[c, r] = xq[last, r]
        st[X_NRQ] = last
        changed = True
        if kind == RQ_PLACE:
            changed = _place(st, fe, xq, lg, books, at, oid, side, price, units, post_only)
        elif kind == RQ_CANCEL:
            changed = _cancel(st, fe, xq, lg, at, oid)
        elif kind == RQ_AMEND:
            changed = _amend(st, fe, xq, lg, at, oid, units)
        elif fx.find_order(st, fe, oid) < 0:
            # Cancel-replace, STOP_ON_FAILURE: the old order is gone, nothing is placed.
            respond(st, xq, NOT_FOUND, oid, 0, 0, 0, 0, at)
            respond(st, xq, NOT_ATTEMPTED, new_id, side, price, 0, 0, at)
            changed = False
        else:
            _cancel(st, fe, xq, lg, at, oid)
            _place(st, fe, xq, lg, books, at, new_id, side, price, units, post_only)
        if changed:
            _log_quote(st, fe, lg, at)
    c = _next_request(st, xq)
    st[X_NEXT_ARR] = INF if c < 0 else xq[c, RQ_AT]


# -- compiled: market rows reaching our orders -------------------------------------------------


@numba.njit(cache=True, nogil=True)
def touches(st: Any, kind_trade: bool, side: int, price: int, qty: int) -> bool:
    """Whether an exchange row can change one of our orders or the taking overlay."""
    if kind_trade:
        return (side > 0 and price >= st[fx.M_OWN_ASK]) or (side < 0 and price <= st[fx.M_OWN_BID])
    if st[fx.M_NTAKEN]:
        return True
    if side > 0:
        return (st[fx.M_BID_LO] <= price <= st[fx.M_OWN_BID]) or (
            qty > 0 and price >= st[fx.M_OWN_ASK]
        )
    return (st[fx.M_OWN_ASK] <= price <= st[fx.M_ASK_HI]) or (qty > 0 and price <= st[fx.M_OWN_BID])


@numba.njit(cache=True, nogil=True)
def on_row(
    st: Any, fe: Any, xq: Any, lg: Any, kind_trade: bool, side: int, price: int, qty: int, ts: int
) -> None:
    """An exchange row at our orders (see :func:`touches`): fills, answers, records."""
    if kind_trade:
        if qty <= 0:
            return
        fx.on_trade(st, fe, side, price, qty, ts)
    else:
        fx.on_depth(st, fe, side, price, qty, ts)
    if _drain_fills(st, fe, xq, lg):
        _log_quote(st, fe, lg, ts)


# -- compiled: answers reaching the shell ------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def refresh_dirty(st: Any, xq: Any) -> None:
    """Recompute when the first answer the strategy must see arrives (after a mask change)."""
    o, mask = st[X_RS_OFF], st[X_DIRTY_MASK]
    first = INF
    for c in range(o, o + st[X_NRS]):
        if (mask >> xq[c, RS_KIND]) & 1 and xq[c, RS_AT] < first:
            first = xq[c, RS_AT]
    st[X_DIRTY_AT] = first


@numba.njit(cache=True, nogil=True)
def deliver(st: Any, xq: Any, upto: int) -> int:
    """Move the answers arriving at or before ``upto`` to the outbox, in (time, sequence) order.

    Returns:
        How many are in the outbox (``st[X_NOB]``).
    """
    o, ob = st[X_RS_OFF], st[X_OB_OFF]
    n = st[X_NRS]
    k = 0
    keep = 0
    for c in range(o, o + n):
        if xq[c, RS_AT] <= upto:
            # Insertion into the outbox, sorted by (time, sequence).
            j = ob + k
            while j > ob and (xq[j - 1, RS_AT], xq[j - 1, RS_SEQ]) > (xq[c, RS_AT], xq[c, RS_SEQ]):
                for r in range(XQ_ROWS):
                    xq[j, r] = xq[j - 1, r]
                j -= 1
            for r in range(XQ_ROWS):
                xq[j, r] = xq[c, r]
            k += 1
        else:
            if keep != c - o:
                for r in range(XQ_ROWS):
                    xq[o + keep, r] = xq[c, r]
            keep += 1
    st[X_NRS] = keep
    st[X_NOB] = k
    refresh_dirty(st, xq)
    return k


def _deps() -> list[Any]:
    import sys

    from pegbot.matching import engine, latency, queue

    return [sys.modules[__name__], fx, queue, engine, latency]


jitcache.guard(globals(), _deps())
