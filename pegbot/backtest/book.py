"""A read-only :class:`~pegbot.strategy.BookView` over the replay core's dense local book.

The core keeps the strategy's book as two arrays of qty units indexed by ``tick − base`` and
its best prices; this view answers the same questions as :class:`pegbot.book.OrderBook` for
the strategy, without copying the book at every decision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pegbot.book import Level
from pegbot.quoting import band_ticks as _band


class DenseBookView:
    """The strategy's book at one decision (valid until the replay moves on).

    Args:
        bids: Bid quantities by ``tick − base``.
        asks: Ask quantities by ``tick − base``.
        base: Tick at index 0.
        best_bid: Best bid tick or None.
        best_ask: Best ask tick or None.
        local_ts: Local time of the last change.
    """

    __slots__ = ("_asks", "_ba", "_base", "_bb", "_bids", "_local_ts")

    def __init__(
        self,
        bids: np.ndarray[Any, Any],
        asks: np.ndarray[Any, Any],
        base: int,
        best_bid: int | None,
        best_ask: int | None,
        local_ts: int,
    ) -> None:
        # One view per decision: plain stores, no tuple packing.
        self._bids = bids
        self._asks = asks
        self._base = base
        self._bb = best_bid
        self._ba = best_ask
        self._local_ts = local_ts

    @property
    def best_bid(self) -> int | None:
        """Best bid tick."""
        return self._bb

    @property
    def best_ask(self) -> int | None:
        """Best ask tick."""
        return self._ba

    @property
    def best_bid_qty(self) -> int:
        """Quantity at the best bid (qty units)."""
        return 0 if self._bb is None else int(self._bids[self._bb - self._base])

    @property
    def best_ask_qty(self) -> int:
        """Quantity at the best ask (qty units)."""
        return 0 if self._ba is None else int(self._asks[self._ba - self._base])

    @property
    def is_two_sided(self) -> bool:
        """Both sides have a level."""
        return self._bb is not None and self._ba is not None

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask."""
        return self._bb is not None and self._ba is not None and self._bb >= self._ba

    @property
    def local_ts(self) -> int:
        """Local receive time of the last change (ns)."""
        return self._local_ts

    def mid_ticks(self) -> float | None:
        """Mid price in ticks."""
        if self._bb is None or self._ba is None:
            return None
        return (self._bb + self._ba) / 2

    def microprice_ticks(self) -> float | None:
        """Size-weighted mid in ticks."""
        if self._bb is None or self._ba is None:
            return None
        bq, aq = self.best_bid_qty, self.best_ask_qty
        return (self._bb * aq + self._ba * bq) / (bq + aq)

    def spread_ticks(self) -> int | None:
        """Best ask minus best bid."""
        if self._bb is None or self._ba is None:
            return None
        return self._ba - self._bb

    def top(self, side: int, n: int) -> list[Level]:
        """Best ``n`` levels of a side, best first, as (tick, qty units)."""
        out: list[Level] = []
        if n <= 0:
            return out
        base = self._base
        if side > 0:
            if self._bb is None:
                return out
            hi = self._bb - base + 1
            window = 64 * n
            while True:
                lo = max(0, hi - window)
                seg = self._bids[lo:hi]
                idx = np.flatnonzero(seg)[::-1][:n]
                if len(idx) >= n or lo == 0:
                    return [(base + lo + int(i), int(seg[i])) for i in idx]
                window *= 8
        if self._ba is None:
            return out
        lo = self._ba - base
        window = 64 * n
        while True:
            hi = min(len(self._asks), lo + window)
            seg = self._asks[lo:hi]
            idx = np.flatnonzero(seg)[:n]
            if len(idx) >= n or hi == len(self._asks):
                return [(base + lo + int(i), int(seg[i])) for i in idx]
            window *= 8

    def depth_within(self, side: int, ref_ticks: float, bps: float) -> tuple[int, int]:
        """Size on ``side`` within ±``bps`` of ``ref_ticks``: (qty units, sum of tick × qty)."""
        lo, hi = _band(ref_ticks, bps)
        arr = self._bids if side > 0 else self._asks
        a, b = max(0, lo - self._base), min(len(arr), hi - self._base + 1)
        if b <= a:
            return 0, 0
        seg = arr[a:b]
        ticks = np.arange(a + self._base, b + self._base, dtype=np.int64)
        return int(seg.sum()), int((seg * ticks).sum())

    @property
    def update_id(self) -> int:
        """A replayed book carries no venue sequence number: always 0."""
        return 0

    def levels(self, side: int) -> list[Level]:
        """Every level of a side, best first (the signaler sizes a signal from these)."""
        base = self._base
        if side > 0:
            idx = np.flatnonzero(self._bids)[::-1]
            return [(base + int(i), int(self._bids[i])) for i in idx]
        idx = np.flatnonzero(self._asks)
        return [(base + int(i), int(self._asks[i])) for i in idx]
