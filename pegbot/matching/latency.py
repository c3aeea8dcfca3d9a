"""Order latency models: request → venue, and venue → us, in integer nanoseconds.

The backtester delays each of our requests by :meth:`LatencyModel.entry_ns` before the venue
acts on it, and each answer by :meth:`LatencyModel.response_ns` before the strategy sees it.
:class:`ConstantLatency` is one fixed pair; :class:`InterpolatedLatency` interpolates recorded
``(request, exchange, response)`` timestamps the way hftbacktest's ``intp_order_latency``
does. The interpolation itself is :func:`interp`, a pure function of int sequences and an
int; the backtester's compiled exchange side compiles the same function (``register_jitable``)
over the tables :meth:`ConstantLatency.tables` and :meth:`InterpolatedLatency.tables` give.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from numba.extending import register_jitable

__all__ = [
    "ConstantLatency",
    "InterpolatedLatency",
    "LatencyDataError",
    "LatencyModel",
    "LatencyTables",
    "interp",
]


#: Latency as tables: ``(entry times, entry ns, response times, response ns)``.
LatencyTables = tuple[list[int], list[int], list[int], list[int]]


@register_jitable
def interp(ts: Sequence[int], vs: Sequence[int], t: int) -> int:
    """``vs`` at ``t`` by linear interpolation over ascending ``ts``; constant outside.

    Integer arithmetic, rounded down; at repeated times the later value wins.
    """
    # bisect_right, written out so that compiled code runs the same lines.
    i, hi = 0, len(ts)
    while i < hi:
        mid = (i + hi) // 2
        if t < ts[mid]:
            hi = mid
        else:
            i = mid + 1
    if i == 0:
        return vs[0]
    if i == len(ts):
        return vs[-1]
    t0, t1 = ts[i - 1], ts[i]
    v0, v1 = vs[i - 1], vs[i]
    if t1 == t0:
        return v1
    return v0 + (v1 - v0) * (t - t0) // (t1 - t0)


class LatencyModel(Protocol):
    """Order latency: request to venue, and venue back to us (ns)."""

    def entry_ns(self, request_ts: int) -> int:
        """Nanoseconds from sending a request at ``request_ts`` to the venue acting on it."""
        ...

    def response_ns(self, exchange_ts: int) -> int:
        """Nanoseconds from the venue acting at ``exchange_ts`` to our receiving the answer."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    """The same entry and response latency for every request.

    Attributes:
        entry: Request → venue, ns.
        response: Venue → us, ns.
    """

    entry: int
    response: int

    def __post_init__(self) -> None:
        if self.entry < 0 or self.response < 0:
            raise ValueError(f"latency must not be negative: {self.entry}, {self.response}")

    def entry_ns(self, request_ts: int) -> int:
        """See :meth:`LatencyModel.entry_ns`."""
        return self.entry

    def response_ns(self, exchange_ts: int) -> int:
        """See :meth:`LatencyModel.response_ns`."""
        return self.response

    def tables(self) -> LatencyTables:
        """The model as :func:`interp` tables (one point each: constant)."""
        return [0], [self.entry], [0], [self.response]


class LatencyDataError(ValueError):
    """Recorded latencies are empty, unordered or negative."""


class InterpolatedLatency:
    """Latency interpolated linearly from recorded (request, exchange, response) times.

    Entry latency ``exchange − request`` is interpolated at the request time, response latency
    ``response − exchange`` at the exchange time (hftbacktest's ``intp_order_latency``); both
    are held constant outside the recorded range. Integer arithmetic, rounded down.
    """

    __slots__ = ("_entry_t", "_entry_v", "_resp_t", "_resp_v")

    def __init__(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """Build from rows of ``(request_ts, exchange_ts, response_ts)`` in ns.

        Raises:
            LatencyDataError: No rows, or a row whose times are not
                ``request ≤ exchange ≤ response`` (a negative latency is a recording error).
        """
        data = sorted(rows)
        if not data:
            raise LatencyDataError("no latency rows")
        for req, exch, resp in data:
            if not req <= exch <= resp:
                raise LatencyDataError(
                    f"latency row ({req}, {exch}, {resp}) is not request <= exchange <= response"
                )
        self._entry_t = [r[0] for r in data]
        self._entry_v = [r[1] - r[0] for r in data]
        by_exch = sorted((r[1], r[2] - r[1]) for r in data)
        self._resp_t = [r[0] for r in by_exch]
        self._resp_v = [r[1] for r in by_exch]

    def entry_ns(self, request_ts: int) -> int:
        """See :meth:`LatencyModel.entry_ns`."""
        return interp(self._entry_t, self._entry_v, request_ts)

    def response_ns(self, exchange_ts: int) -> int:
        """See :meth:`LatencyModel.response_ns`."""
        return interp(self._resp_t, self._resp_v, exchange_ts)

    def tables(self) -> LatencyTables:
        """The model as :func:`interp` tables (copies)."""
        return list(self._entry_t), list(self._entry_v), list(self._resp_t), list(self._resp_v)
