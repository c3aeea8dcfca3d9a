"""A compiled scanner for the common lines of Binance raw recordings (the converter's fast path).

Why: the converter's cost was per message in Python (JSON parse, level lists, string →
integer conversion). Almost every line of a recording is one of three compact shapes
(``bookTicker``, ``depthUpdate``, ``trade``); this module reads those straight from the
decompressed bytes with numba and hands back integer columns, so Python only runs
:class:`~pegbot.feeds.sync.BookSync` per depth message.

The contract that keeps the tape identical: a line is taken here only when it is compact,
printable ASCII JSON of a known shape whose every field is exactly what the slow path would
read, with prices and sizes on the ``10**-d`` grid by plain digits (the rule of
``_fast_units``). Anything else — whitespace, escapes, floats, signs, exponents, duplicate
keys, other symbols, off-grid values, snapshots, unknown streams, error replies — is marked
``C_MSG`` (the caller parses it with orjson and the original code) or stops the scan
(``C_STOP``: a timestamp only Python's ``int()`` can judge). No line is guessed about.

numba is optional: :data:`AVAILABLE` is False without it and the converter stays on its
pure-Python path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

from pegbot.timeunits import NS_PER_MS

try:  # pragma: no cover - exercised by the environment, not by a test
    from numba import njit as _njit

    AVAILABLE = True
except ImportError:  # pragma: no cover
    _njit = None  # type: ignore[assignment]
    AVAILABLE = False


_F = TypeVar("_F", bound=Callable[..., Any])


def njit(**kwargs: Any) -> Callable[[_F], _F]:
    """Compile with numba's ``njit`` when installed; else leave the function as it is."""

    def wrap(fn: _F) -> _F:
        return cast(_F, _njit(**kwargs)(fn)) if _njit is not None else fn

    return wrap


#: Line classes written to ``cls``.
C_TICKER = 0  # bookTicker skipped unparsed (counted only)
C_DEPTH = 1  # depthUpdate, fully read
C_TRADE = 2  # trade, fully read
C_MSG = 3  # timestamp read (and clamped); the caller parses the JSON the slow way
C_BADTS = 4  # timestamp field empty or too small: the caller counts it the slow way
C_STOP = 5  # the caller handles this whole line (timestamp too), then scans on

_NS_MIN = 10**17
_US_MIN = 10**14
_MS_MIN = 10**11
# The largest µs / ms stamps whose value in ns fits int64.
_US_MAX = ((1 << 63) - 1) // 1_000
_MS_MAX = ((1 << 63) - 1) // NS_PER_MS
# E and T are ms; E * 10**6 must fit in int64.
_MAX_MS = 9 * 10**12
_MAX_DIGITS = 18

_TICKER = np.frombuffer(b"@bookTicker", dtype=np.uint8)
_K_STREAM = np.frombuffer(b"stream", dtype=np.uint8)
_K_DATA = np.frombuffer(b"data", dtype=np.uint8)
_V_DEPTH = np.frombuffer(b"depthUpdate", dtype=np.uint8)
_V_TRADE = np.frombuffer(b"trade", dtype=np.uint8)
_V_MARKET = np.frombuffer(b"MARKET", dtype=np.uint8)
_V_TRUE = np.frombuffer(b"true", dtype=np.uint8)
_V_FALSE = np.frombuffer(b"false", dtype=np.uint8)
_V_NULL = np.frombuffer(b"null", dtype=np.uint8)

# Known keys of the data object, as bits (a repeated key sends the line to the slow path).
_B_E = 1
_B_EE = 2
_B_T = 4
_B_S = 8
_B_U = 16
_B_UU = 32
_B_PU = 64
_B_B = 128
_B_A = 256
_B_TT = 512
_B_P = 1024
_B_Q = 2048
_B_M = 4096
_B_MM = 8192
_B_X = 16384


@njit(cache=True, nogil=True)
def _eq(buf: Any, s: int, e: int, lit: Any) -> bool:
    n = e - s
    if n != len(lit):
        return False
    for k in range(n):  # noqa: SIM110 - a plain loop compiles to a tight loop in numba
        if buf[s + k] != lit[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _str_end(buf: Any, p: int, end: int) -> int:
    # p is just after the opening quote; return the index of the closing quote, or -1 for
    # anything orjson would read differently (escapes, control bytes, non-ASCII).
    while p < end:
        c = buf[p]
        if c == 34:
            return p
        if c < 32 or c == 92 or c >= 127:
            return -1
        p += 1
    return -1


@njit(cache=True, nogil=True)
def _uint_end(buf: Any, p: int, end: int) -> int:
    # A JSON non-negative integer of at most _MAX_DIGITS digits, no leading zero; return the
    # index after it, or -1. The byte after must end the value (no fraction or exponent).
    q = p
    while q < end and 48 <= buf[q] <= 57:
        q += 1
    n = q - p
    if n == 0 or n > _MAX_DIGITS or (n > 1 and buf[p] == 48):
        return -1
    if q < end and buf[q] != 44 and buf[q] != 125 and buf[q] != 93:
        return -1
    return q


@njit(cache=True, nogil=True)
def _skip_simple(buf: Any, p: int, end: int) -> int:
    # An unread value: a plain string, a JSON unsigned integer, true, false or null; the
    # index after it, or -1 for anything else (objects, arrays, floats: the slow path).
    if p >= end:
        return -1
    c = buf[p]
    if c == 34:
        q = _str_end(buf, p + 1, end)
        return q + 1 if q >= 0 else -1
    if 48 <= c <= 57:
        return _uint_end(buf, p, end)
    if c == 116 and p + 4 <= end and _eq(buf, p, p + 4, _V_TRUE):
        return p + 4
    if c == 102 and p + 5 <= end and _eq(buf, p, p + 5, _V_FALSE):
        return p + 5
    if c == 110 and p + 4 <= end and _eq(buf, p, p + 4, _V_NULL):
        return p + 4
    return -1


@njit(cache=True, nogil=True)
def _uint_val(buf: Any, p: int, q: int) -> int:
    v = 0
    for k in range(p, q):
        v = v * 10 + (buf[k] - 48)
    return v


@njit(cache=True, nogil=True)
def units(buf: Any, s: int, e: int, d: int) -> int:
    """Plain decimal digits ``buf[s:e]`` as integer units of ``10**-d``; -1 to decline.

    The same rule as the converter's ``_fast_units``: an integer part of ASCII digits, an
    optional ``.`` and ASCII digits, digits past ``d`` all zeros. Declines (-1) anything
    else and values of more than 18 significant places (they go to the exact slow path).
    """
    dot = -1
    for k in range(s, e):
        c = buf[k]
        if c == 46:
            if dot >= 0:
                return -1
            dot = k
        elif c < 48 or c > 57:
            return -1
    ip_end = dot if dot >= 0 else e
    if ip_end == s:
        return -1
    if ip_end - s + d > _MAX_DIGITS:
        return -1
    v = 0
    for k in range(s, ip_end):
        v = v * 10 + (buf[k] - 48)
    n_frac = 0
    if dot >= 0:
        for k in range(dot + 1, e):
            c = buf[k] - 48
            if n_frac < d:
                v = v * 10 + c
                n_frac += 1
            elif c != 0:
                return -1
    while n_frac < d:
        v *= 10
        n_frac += 1
    return v


@njit(cache=True, nogil=True)
def _levels(
    buf: Any, p: int, end: int, pdec: int, qdec: int, lvp: Any, lvq: Any, cur: int
) -> tuple[int, int]:
    # p at '['; parse [["p","q"],...] into lvp/lvq from cur. Return (index after ']', new
    # cursor) or (-1, cur) to decline.
    p += 1
    if p < end and buf[p] == 93:
        return p + 1, cur
    while p < end:
        if buf[p] != 91 or p + 1 >= end or buf[p + 1] != 34:
            return -1, cur
        s1 = p + 2
        e1 = _str_end(buf, s1, end)
        if e1 < 0 or e1 + 2 >= end or buf[e1 + 1] != 44 or buf[e1 + 2] != 34:
            return -1, cur
        s2 = e1 + 3
        e2 = _str_end(buf, s2, end)
        if e2 < 0 or e2 + 1 >= end or buf[e2 + 1] != 93:
            return -1, cur
        tick = units(buf, s1, e1, pdec)
        qty = units(buf, s2, e2, qdec)
        if tick < 0 or qty < 0 or cur >= len(lvp):
            return -1, cur
        lvp[cur] = tick
        lvq[cur] = qty
        cur += 1
        p = e2 + 2
        if p < end and buf[p] == 44:
            p += 1
        elif p < end and buf[p] == 93:
            return p + 1, cur
        else:
            return -1, cur
    return -1, cur


@njit(cache=True, nogil=True)
def _upper_eq(buf: Any, s: int, e: int, sym: Any) -> bool:
    if e - s != len(sym):
        return False
    for k in range(e - s):
        c = buf[s + k]
        if 97 <= c <= 122:
            c -= 32
        if c != sym[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _data(
    buf: Any,
    p: int,
    end: int,
    sym: Any,
    pdec: int,
    qdec: int,
    lvp: Any,
    lvq: Any,
    cur: int,
    ints: Any,
) -> tuple[int, int, int]:
    # Parse the data object at p ('{'). Return (kind, index after '}', level cursor) with
    # kind C_DEPTH / C_TRADE, or C_MSG to decline. ints gets E, exch ms, U, u, pu, has_pu,
    # nb, na, t, side.
    seen = 0
    ev = 0  # 1 depth, 2 trade
    e_ms = t_ms = big_u = small_u = pu = t_id = 0
    maker = -1
    nb = na = 0
    lists = 0  # 1: b came as a level list, 2: a did
    ps = pe = qs = qe = 0
    p += 1
    while True:
        if p >= end or buf[p] != 34:
            return C_MSG, -1, cur
        ks = p + 1
        ke = _str_end(buf, ks, end)
        if ke < 0 or ke + 1 >= end or buf[ke + 1] != 58:
            return C_MSG, -1, cur
        p = ke + 2
        if p >= end:
            return C_MSG, -1, cur
        c = buf[p]
        bit = 0
        klen = ke - ks
        k0 = buf[ks]
        if klen == 1:
            if k0 == 101:  # e
                bit = _B_E
                if c != 34:
                    return C_MSG, -1, cur
                ve = _str_end(buf, p + 1, end)
                if ve < 0:
                    return C_MSG, -1, cur
                if _eq(buf, p + 1, ve, _V_DEPTH):
                    ev = 1
                elif _eq(buf, p + 1, ve, _V_TRADE):
                    ev = 2
                else:
                    return C_MSG, -1, cur
                p = ve + 1
            elif k0 == 115:  # s
                bit = _B_S
                if c != 34:
                    return C_MSG, -1, cur
                ve = _str_end(buf, p + 1, end)
                if ve < 0 or not _upper_eq(buf, p + 1, ve, sym):
                    return C_MSG, -1, cur
                p = ve + 1
            elif k0 == 112 or k0 == 113 or k0 == 88:  # p q X
                if c != 34:
                    return C_MSG, -1, cur
                ve = _str_end(buf, p + 1, end)
                if ve < 0:
                    return C_MSG, -1, cur
                if k0 == 112:
                    bit = _B_P
                    ps, pe = p + 1, ve
                elif k0 == 113:
                    bit = _B_Q
                    qs, qe = p + 1, ve
                else:
                    bit = _B_X
                    if not _eq(buf, p + 1, ve, _V_MARKET):
                        return C_MSG, -1, cur
                p = ve + 1
            elif k0 == 109 or k0 == 77:  # m M
                bit = _B_M if k0 == 109 else _B_MM
                if c == 116 and p + 4 <= end and buf[p + 1] == 114 and buf[p + 2] == 117:
                    if buf[p + 3] != 101:
                        return C_MSG, -1, cur
                    val = 1
                    p += 4
                elif c == 102 and p + 5 <= end and buf[p + 1] == 97 and buf[p + 2] == 108:
                    if buf[p + 3] != 115 or buf[p + 4] != 101:
                        return C_MSG, -1, cur
                    val = 0
                    p += 5
                else:
                    return C_MSG, -1, cur
                if k0 == 109:
                    maker = val
            elif (k0 == 98 or k0 == 97) and c == 91:  # b a as level lists
                if k0 == 98:
                    bit = _B_B
                    if seen & _B_A:
                        return C_MSG, -1, cur  # asks before bids: rows must be bids first
                    start = cur
                    p, cur = _levels(buf, p, end, pdec, qdec, lvp, lvq, cur)
                    nb = cur - start
                    lists |= 1
                else:
                    bit = _B_A
                    start = cur
                    p, cur = _levels(buf, p, end, pdec, qdec, lvp, lvq, cur)
                    na = cur - start
                    lists |= 2
                if p < 0:
                    return C_MSG, -1, cur
            elif k0 in (69, 84, 85, 117, 116, 98, 97):  # E T U u t, b a as trade ids
                q = _uint_end(buf, p, end)
                if q < 0:
                    return C_MSG, -1, cur
                v = _uint_val(buf, p, q)
                p = q
                if k0 == 69:
                    bit = _B_EE
                    e_ms = v
                elif k0 == 84:
                    bit = _B_T
                    t_ms = v
                elif k0 == 85:
                    bit = _B_U
                    big_u = v
                elif k0 == 117:
                    bit = _B_UU
                    small_u = v
                elif k0 == 116:
                    bit = _B_TT
                    t_id = v
                elif k0 == 98:
                    bit = _B_B
                else:
                    bit = _B_A
            else:
                p = _skip_simple(buf, p, end)  # a key the converter does not read
                if p < 0:
                    return C_MSG, -1, cur
        elif klen == 2 and k0 == 112 and buf[ks + 1] == 117:  # pu
            bit = _B_PU
            q = _uint_end(buf, p, end)
            if q < 0:
                return C_MSG, -1, cur
            pu = _uint_val(buf, p, q)
            p = q
        else:
            p = _skip_simple(buf, p, end)  # a key the converter does not read ("ps")
            if p < 0:
                return C_MSG, -1, cur
        if seen & bit:
            return C_MSG, -1, cur
        seen |= bit
        if p >= end:
            return C_MSG, -1, cur
        if buf[p] == 44:
            p += 1
        elif buf[p] == 125:
            p += 1
            break
        else:
            return C_MSG, -1, cur
    if e_ms >= _MAX_MS or t_ms >= _MAX_MS:
        return C_MSG, -1, cur
    if ev == 1:
        need = _B_E | _B_EE | _B_S | _B_U | _B_UU | _B_B | _B_A
        # Levels must have come as lists (not trade-style integers).
        if seen & need != need or lists != 3:
            return C_MSG, -1, cur
        ints[0] = e_ms
        ints[1] = t_ms if seen & _B_T else e_ms
        ints[2] = big_u
        ints[3] = small_u
        ints[4] = pu
        ints[5] = 1 if seen & _B_PU else 0
        ints[6] = nb
        ints[7] = na
        return C_DEPTH, p, cur
    if ev == 2:
        need = _B_E | _B_EE | _B_S | _B_T | _B_TT | _B_P | _B_Q | _B_M
        if seen & need != need or lists:
            return C_MSG, -1, cur
        tick = units(buf, ps, pe, pdec)
        qty = units(buf, qs, qe, qdec)
        if tick < 0 or qty < 0 or cur >= len(lvp):
            return C_MSG, -1, cur
        lvp[cur] = tick
        lvq[cur] = qty
        cur += 1
        ints[0] = e_ms
        ints[1] = t_ms
        ints[8] = t_id
        ints[9] = -1 if maker == 1 else 1
        return C_TRADE, p, cur
    return C_MSG, -1, cur


@njit(cache=True, nogil=True)
def scan(
    buf: Any,
    nl: Any,
    first: int,
    sym: Any,
    pdec: int,
    qdec: int,
    skip_tickers: bool,
    last_local: int,
    lv_cap: int,
) -> tuple[Any, ...]:
    """Classify and read the lines of ``buf`` from line ``first`` on.

    ``nl`` holds the offsets of the newlines of ``buf`` (a line ends at each). Stops after a
    ``C_STOP`` line or at the last newline. Returns ``(n, next_pos,
    last_local, n_ns, n_us, n_ms, n_clamped, n_levels, cls, start, end, local, ints, lo,
    lvp, lvq)``: per line its class, byte span, clamped local ns, the integer fields
    (``ints[i]``: E, exch ms, U, u, pu, has_pu, nb, na, trade id, trade side) and the offset
    of its rows in ``lvp`` (ticks) and ``lvq`` (qty units).
    """
    n_cap = len(nl) - first
    cls = np.empty(n_cap, np.int8)
    start = np.empty(n_cap, np.int64)
    stop_ = np.empty(n_cap, np.int64)
    local = np.zeros(n_cap, np.int64)
    ints = np.zeros((n_cap, 10), np.int64)
    lo = np.zeros(n_cap, np.int64)
    lvp = np.empty(lv_cap, np.int64)
    lvq = np.empty(lv_cap, np.int64)
    n_ns = n_us = n_ms = n_clamped = 0
    cur = 0
    n = 0
    pos = nl[first - 1] + 1 if first > 0 else 0
    while n < n_cap:
        end = nl[first + n]
        i = n
        n += 1
        start[i] = pos
        stop_[i] = end
        lo[i] = cur
        line_pos = pos
        pos = end + 1
        length = end - line_pos
        # bookTicker lines are counted unparsed, before the timestamp (as the slow path does).
        if skip_tickers and length >= 2 and buf[end - 1] == 125 and buf[end - 2] == 125:
            lim = min(length, 60) - 11
            found = False
            for j in range(line_pos, line_pos + lim + 1):
                if buf[j] == 64 and _eq(buf, j, j + 11, _TICKER):  # '@' first: cheap reject
                    found = True
                    break
            if found:
                cls[i] = C_TICKER
                continue
        sp = line_pos
        while sp < end and buf[sp] != 32:
            sp += 1
        if sp >= end or sp == line_pos:
            cls[i] = C_BADTS  # no space, or an empty first field: value -1
            continue
        nd = sp - line_pos
        ok = nd <= 19 and not (nd == 19 and buf[line_pos] >= 57)
        value = 0
        if ok:
            for k in range(line_pos, sp):
                c = buf[k]
                if c < 48 or c > 57:
                    ok = False
                    break
                value = value * 10 + (c - 48)
        if not ok:
            cls[i] = C_STOP  # signs, underscores, huge numbers: Python's int() decides
            break
        if (_US_MIN <= value < _NS_MIN and value > _US_MAX) or (
            _MS_MIN <= value < _US_MIN and value > _MS_MAX
        ):
            cls[i] = C_STOP  # in ns it would not fit int64: Python's ints decide
            break
        if value >= _NS_MIN:
            n_ns += 1
        elif value >= _US_MIN:
            value *= 1_000
            n_us += 1
        elif value >= _MS_MIN:
            value *= 1_000_000
            n_ms += 1
        else:
            cls[i] = C_BADTS
            continue
        if value < last_local:
            value = last_local
            n_clamped += 1
        else:
            last_local = value
        local[i] = value
        p = sp + 1
        kind = C_MSG
        if p < end and buf[p] == 123:
            if (
                p + 11 < end
                and buf[p + 1] == 34
                and _eq(buf, p + 2, p + 8, _K_STREAM)
                and buf[p + 8] == 34
                and buf[p + 9] == 58
                and buf[p + 10] == 34
            ):
                se = _str_end(buf, p + 11, end)
                if (
                    se > 0
                    and se + 9 < end
                    and buf[se + 1] == 44
                    and buf[se + 2] == 34
                    and _eq(buf, se + 3, se + 7, _K_DATA)
                    and buf[se + 7] == 34
                    and buf[se + 8] == 58
                    and buf[se + 9] == 123
                ):
                    kind, q, cur2 = _data(buf, se + 9, end, sym, pdec, qdec, lvp, lvq, cur, ints[i])
                    if kind != C_MSG and not (q + 1 == end and buf[q] == 125):
                        kind = C_MSG
                    if kind != C_MSG:
                        cur = cur2
            else:
                kind, q, cur2 = _data(buf, p, end, sym, pdec, qdec, lvp, lvq, cur, ints[i])
                if kind != C_MSG and q != end:
                    kind = C_MSG
                if kind != C_MSG:
                    cur = cur2
        cls[i] = kind
    return (
        n,
        pos,
        last_local,
        n_ns,
        n_us,
        n_ms,
        n_clamped,
        cur,
        cls,
        start,
        stop_,
        local,
        ints,
        lo,
        lvp,
        lvq,
    )
