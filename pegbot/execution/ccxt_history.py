"""The account-history half of ``CcxtVenue``: balances and past fills, for recovery.

A mixin, as :mod:`pegbot.execution.ccxt_stream` is for the user stream, so the venue file
stays one concern: requests and orders there, what the account *was* here. Both answers say
when they are from: balances carry the venue time of the account's newest change
(:class:`~pegbot.execution.venue.Balances`), fills their trade time, so the bot can count
each fill once whether the balances already hold it or not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from pegbot.execution import errors
from pegbot.execution.ccxt_parse import num
from pegbot.execution.quirks import VenueQuirks
from pegbot.execution.venue import Balance, Balances, Fill
from pegbot.logging import event_log
from pegbot.market import Market
from pegbot.timeunits import NS_PER_MS

__all__ = ["MAX_TRADES_PAGE", "AccountHistoryMixin"]

log = event_log("pegbot.execution.ccxt_venue")

#: Most trades one ``myTrades`` page may hold (Binance's limit).
MAX_TRADES_PAGE = 1000


class AccountHistoryMixin:
    """Balances and fill history of :class:`pegbot.execution.ccxt_venue.CcxtVenue`."""

    # Provided by the venue.
    client: Any
    symbol: str
    name: str
    quirks: VenueQuirks
    fills_page: int
    _client_ids: OrderedDict[str, str]
    _call: Callable[..., Awaitable[Any]]
    _fill: Callable[[Any, Market], Fill]
    _name_order: Callable[[str, str], None]

    @property
    def market(self) -> Market:
        """The venue's market (the venue provides it)."""
        raise NotImplementedError

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Our fills from ``since_ns`` on, oldest first, paging through the venue's history.

        The first page is asked by time; later pages continue after the last trade id where
        the venue supports it (``quirks.trades_from_id_param``), else by time.
        """
        market = self.market
        out: dict[str, Fill] = {}
        since_ms: int | None = since_ns // NS_PER_MS
        params: dict[str, Any] = {}
        limit = min(self.fills_page, MAX_TRADES_PAGE)
        while True:
            raws = await self._call(
                "fills", self.client.fetch_my_trades, self.symbol, since_ms, limit, params
            )
            await self._learn_client_ids({str(r.get("order") or "") for r in raws})
            newest_ms, last_id = since_ms or 0, -1
            for raw in raws:
                fill = self._fill(raw, market)
                if fill.ts_ns >= since_ns:
                    out[fill.trade_id] = fill
                newest_ms = max(newest_ms, fill.ts_ns // NS_PER_MS)
                if fill.trade_id.isdigit():
                    last_id = max(last_id, int(fill.trade_id))
            if len(raws) < limit:
                break
            from_id = self.quirks.trades_from_id_param
            if from_id and last_id >= 0:
                since_ms, params = None, {from_id: str(last_id + 1)}
            elif newest_ms != since_ms:
                since_ms = newest_ms  # the page's last millisecond comes again: deduplicated
            elif limit < MAX_TRADES_PAGE:
                limit = min(limit * 2, MAX_TRADES_PAGE)  # one millisecond filled the page
            else:
                raise errors.UnknownVenueError(
                    f"{self.name}: over {limit} trades within one millisecond at {since_ms};"
                    " paging by time cannot get past it"
                )
        return sorted(out.values(), key=lambda f: (f.ts_ns, f.trade_id))

    async def _learn_client_ids(self, order_ids: set[str]) -> None:
        # Trades name the venue's order id only: ask for each order we cannot name yet.
        for order_id in sorted(order_ids - self._client_ids.keys() - {""}):
            try:
                raw = await self._call("lookup", self.client.fetch_order, order_id, self.symbol)
            except errors.VenueError as exc:
                log.warning(
                    "order_lookup_failed", "order unknown", order_id=order_id, error=str(exc)
                )
                continue
            if raw.get("clientOrderId"):
                self._name_order(order_id, str(raw["clientOrderId"]))

    async def balances(self) -> Balances:
        """Balances of the account, by asset (exact strings where the venue gives them).

        As of the venue's time of the account's newest change (Binance ``updateTime``, ccxt's
        ``timestamp``): a fill at or before it is in them. None where the venue gives no time.
        """
        raw = await self._call("balances", self.client.fetch_balance)
        stamp = raw.get("timestamp") if isinstance(raw, dict) else None
        out = Balances(as_of_ns=int(stamp) * NS_PER_MS if stamp else None)
        spec = self.quirks.exact_balance
        info = raw.get("info") if isinstance(raw, dict) else None
        if spec and isinstance(info, dict) and isinstance(info.get(spec[0]), list):
            for row in info[spec[0]]:
                asset = str(row[spec[1]])
                out[asset] = Balance(asset, num(row[spec[2]]), num(row[spec[3]]))
            return out
        for asset, entry in raw.items():
            if isinstance(entry, dict) and "free" in entry and asset not in ("info",):
                free = entry.get("free") or 0
                used = entry.get("used") or 0
                out[str(asset)] = Balance(str(asset), num(free), num(used))
        return out
