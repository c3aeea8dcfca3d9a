"""One venue's balances as the bot sees them: the venue's last snapshot plus the fills after it.

The venue reports balances as of one moment (:class:`~pegbot.execution.venue.Balances`,
``as_of_ns``: Binance's ``updateTime``); fills reach the bot on the user stream, from the
recovery fetch after a restart or reconnect, or both, in any order relative to the balance
fetch. A fill moves the balances here only when it happened after the snapshot's time — one at
or before it is in the snapshot already — and a new snapshot replaces the old one with the
fills after *its* time put back on top. So every fill counts once, whatever arrived first.

A venue that gives no time with its balances is taken as of the moment the request was sent
(local clock): a fill folded in before that is in them, a later one is not.

Pure: no I/O; times come in as arguments.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal

from pegbot.execution.venue import Balance, Balances, Fill
from pegbot.market import Market

__all__ = ["MEMORY", "VenueHoldings"]

#: Fills remembered after the snapshot (balance refreshes every few seconds keep it small; the
#: bound only matters if refreshes fail for a long time).
MEMORY = 20_000


class VenueHoldings:
    """Balances of one venue (see the module docstring).

    Args:
        market: The symbol's market (asset names, tick and qty units); may be set later,
            before the first fill.
        memory: Fills after the snapshot remembered at most.

    Attributes:
        balances: Balances now: the snapshot plus the fills after it (read-only for callers).
        as_of_ns: The snapshot's venue time (-1 before the first snapshot).
    """

    def __init__(self, market: Market | None = None, memory: int = MEMORY) -> None:
        self.market = market
        self.memory = memory
        self.balances: dict[str, Balance] = {}
        self.snapshot: dict[str, Balance] = {}
        self.as_of_ns = -1
        self._after: OrderedDict[str, Fill] = OrderedDict()

    def reset(self, snapshot: Balances | Mapping[str, Balance], sent_ns: int) -> None:
        """A fresh snapshot from the venue (``sent_ns``: when it was asked, local clock).

        One older than the current snapshot (two fetches answered out of order) is ignored.
        """
        as_of = getattr(snapshot, "as_of_ns", None)
        as_of = sent_ns if as_of is None else as_of
        if as_of < self.as_of_ns:
            return
        self.as_of_ns = as_of
        self.snapshot = dict(snapshot)
        for trade_id in [t for t, f in self._after.items() if f.ts_ns <= self.as_of_ns]:
            del self._after[trade_id]  # in the snapshot now
        self.balances = dict(self.snapshot)
        for f in self._after.values():
            self._move(f)

    def apply(self, fill: Fill) -> bool:
        """Fold a fill in (once per trade id); returns whether it moved the balances."""
        if fill.ts_ns <= self.as_of_ns or fill.trade_id in self._after:
            return False
        self._after[fill.trade_id] = fill
        if len(self._after) > self.memory:
            self._after.popitem(last=False)
        self._move(fill)
        return True

    def fills_after(self) -> list[Fill]:
        """The fills folded in on top of the snapshot, oldest first."""
        return list(self._after.values())

    def _move(self, f: Fill) -> None:
        m = self.market
        if m is None:
            raise RuntimeError("VenueHoldings: the market is needed before a fill")
        qty = m.units_to_qty(f.qty_units)
        notional = m.ticks_to_price(f.price_ticks) * qty
        sign = Decimal(int(f.side))
        self._adjust(m.base, sign * qty)
        self._adjust(m.quote, -sign * notional)
        if f.fee:
            self._adjust(f.fee_asset, -f.fee)

    def _adjust(self, asset: str, delta: Decimal) -> None:
        b = self.balances.get(asset, Balance(asset, Decimal(0), Decimal(0)))
        self.balances[asset] = Balance(asset, b.free + delta, b.locked)
