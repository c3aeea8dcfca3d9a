"""The loopback admin endpoint (fault injection, accounts, halts) and the NBKR rate fixture.

``/admin/*`` answers only requests from 127.0.0.1 or ::1. JSON in, JSON out:

* ``GET /admin/state``: faults, injected-fault counts, symbol statuses, update ids, pushes.
* ``POST /admin/faults`` ``{"rest_fail_rate": 0.1, "ws_delay_ms": 50, ...}``: change faults.
* ``POST /admin/drop_ws``: close every WebSocket connection (streams and WS API).
* ``POST /admin/skip_update_ids`` ``{"symbol": "KGSTUSDT", "count": 3}``: a gap in the diffs.
* ``POST /admin/status`` ``{"symbol": "KGSTUSDT", "status": "HALT"}``: halt or resume.
* ``POST /admin/accounts`` ``{"api_key", "api_secret", "balances": {"USDT": "100"}}``.
* ``POST /admin/nbkr`` ``{"date": "04.07.2026", "rates": {"USD": "87.5"}}``.
* ``POST /admin/reset_limits``: forget rate-limit counters and bans.
* ``POST /admin/spend_weight`` ``{"ip": "127.0.0.1", "leave": 0, "rejected": 0}``: another
  client on that IP used the minute's weight (the next requests get 429) and kept sending
  after ``rejected`` 429s (at ``ban_after_429s`` the next over-limit request earns the ban).
* ``POST /admin/ban`` ``{"ip": "127.0.0.1", "seconds": 10}``: the IP is banned (418) as after a
  429 storm. ``GET /admin/state`` counts the requests each IP sent while banned.

The National Bank's ``daily.xml`` is served at ``/XML/daily.xml`` (and ``/nbkr/XML/daily.xml``)
as the bank publishes it: windows-1251, comma decimals (``kgst-and-peg.md`` §3).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import quoteattr

import orjson
from aiohttp import web

from pegbot.timeunits import NS_PER_MS

from .exchange import Exchange
from .ws import StreamHub
from .wsapi import WsApi

_LOOPBACK = {"127.0.0.1", "::1"}
_STATUSES = {"TRADING", "HALT", "BREAK", "END_OF_DAY"}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def daily_xml(date: str, rates: dict[str, Decimal]) -> bytes:
    """``daily.xml`` in the bank's format, encoded in windows-1251."""
    rows = "".join(
        f'  <Currency ISOCode="{code}">\n    <Nominal>1</Nominal>\n'
        f"    <Value>{f'{value:.4f}'.replace('.', ',')}</Value>\n  </Currency>\n"
        for code, value in rates.items()
    )
    text = (
        '<?xml version="1.0" encoding="windows-1251"?>\n'
        f'<CurrencyRates Name="Курсы валют" Date={quoteattr(date)}>\n{rows}</CurrencyRates>\n'
    )
    return text.encode("windows-1251")


class Admin:
    """Admin and fixture routes of one exchange."""

    def __init__(self, exchange: Exchange, streams: StreamHub, wsapi: WsApi) -> None:
        self.ex = exchange
        self.streams = streams
        self.wsapi = wsapi

    def add_to(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get("/XML/daily.xml", self.nbkr_daily)
        app.router.add_get("/nbkr/XML/daily.xml", self.nbkr_daily)
        app.router.add_get("/admin/state", self.state)
        app.router.add_post("/admin/{action}", self.action)

    async def nbkr_daily(self, request: web.Request) -> web.Response:
        """The official-rate fixture."""
        body = daily_xml(self.ex.nbkr_date, self.ex.nbkr_rates)
        return web.Response(body=body, headers={"Content-Type": "text/xml; charset=windows-1251"})

    async def state(self, request: web.Request) -> web.Response:
        """Faults, counts and per-symbol state."""
        if request.remote not in _LOOPBACK:
            return _json({"error": "admin is loopback-only"}, 403)
        books = self.ex.engine.books
        return _json(
            {
                "faults": self.ex.faults.state(),
                "symbols": {
                    s: {"status": b.status, "update_id": b.update_id, "trade_id": b.trade_id}
                    for s, b in books.items()
                },
                "messages_pushed": self.ex.messages_pushed,
                "rate_limits": self.ex.limiter.state(self.ex.now_ns()),
                "connections": {
                    "streams": len(self.streams.conns),
                    "ws_api": len(self.wsapi.sessions),
                },
            }
        )

    async def action(self, request: web.Request) -> web.Response:
        """Apply one admin action."""
        if request.remote not in _LOOPBACK:
            return _json({"error": "admin is loopback-only"}, 403)
        try:
            body = orjson.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            result = await self._apply(request.match_info["action"], body)
        except (ValueError, KeyError, TypeError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return _json({"error": str(exc)}, 400)
        self.ex.publish()
        return _json(result)

    async def _apply(self, action: str, body: dict[str, Any]) -> Any:
        ex = self.ex
        if action == "faults":
            ex.faults.update(body)
            return ex.faults.state()
        if action == "drop_ws":
            ex.faults.count("ws_dropped")
            return {"streams": await self.streams.drop_all(), "ws_api": await self.wsapi.drop_all()}
        if action == "skip_update_ids":
            count = int(body.get("count", 1))
            if count < 1:
                raise ValueError("count must be at least 1")
            ex.flush_depth()  # the gap falls between what was sent and what comes next
            ex.engine.skip_update_ids(str(body["symbol"]).upper(), count)
            ex.faults.count("update_ids_skipped")
            return {"skipped": count}
        if action == "status":
            status = str(body["status"]).upper()
            if status not in _STATUSES:
                raise ValueError(f"status must be one of {sorted(_STATUSES)}")
            symbol = str(body["symbol"]).upper()
            if symbol not in ex.engine.books:
                raise ValueError(f"unknown symbol {symbol}")
            ex.engine.set_status(symbol, status)
            return {"symbol": symbol, "status": status}
        if action == "accounts":
            balances = {str(k): Decimal(str(v)) for k, v in (body.get("balances") or {}).items()}
            ex.engine.ledger.add(str(body["api_key"]), str(body["api_secret"]), balances)
            return {"api_key": body["api_key"]}
        if action == "nbkr":
            ex.nbkr_date = str(body.get("date", ex.nbkr_date))
            if "rates" in body:
                ex.nbkr_rates = {str(k): Decimal(str(v)) for k, v in body["rates"].items()}
            return {"date": ex.nbkr_date, "rates": {k: str(v) for k, v in ex.nbkr_rates.items()}}
        if action == "reset_limits":
            ex.limiter.reset()
            return {}
        if action == "spend_weight":
            ip = str(body.get("ip", "127.0.0.1"))
            leave, rejected = int(body.get("leave", 0)), int(body.get("rejected", 0))
            used = ex.limiter.spend(ip, leave, ex.now_ns(), rejected)
            return {"used": used}
        if action == "ban":
            seconds = int(body.get("seconds", ex.config.rate_limits.ban_seconds))
            if seconds < 1:
                raise ValueError("seconds must be at least 1")
            ip = str(body.get("ip", "127.0.0.1"))
            until = ex.limiter.ban(ip, seconds, ex.now_ns())
            ex.faults.count("bans")
            return {"ip": ip, "until_ms": until // NS_PER_MS}
        raise ValueError(f"unknown admin action {action!r}")
