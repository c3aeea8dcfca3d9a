"""The WebSocket API at ``/ws-api/v3``: user-data subscriptions and order methods.

Requests are ``{"id", "method", "params"}``; replies ``{"id", "status", "result"}`` or
``{"id", "status", "error": {"code", "msg"}}``. Signed methods carry ``apiKey``, ``timestamp``,
optional ``recvWindow`` and ``signature``: HMAC-SHA256 over every other parameter sorted by
key as ``key=value`` joined by ``&`` (not percent-encoded), as ccxt's ``sign_params`` makes it.

``userDataStream.subscribe.signature`` answers ``{"subscriptionId": n}`` and from then on the
connection receives ``{"subscriptionId": n, "event": {...}}`` with ``executionReport`` and
``outboundAccountPosition`` events of that account.

Rate limits (WebSocket API, "Rate limits"): connecting costs 2 weight, each method its own
weight (:data:`~pegbot.sim.ratelimit.WS_WEIGHTS`), order entry nothing when it succeeds.
Every reply carries the top-level ``rateLimits`` array — the request weight, and the order
counts for methods that place orders — unless the request, or the connection's URL, says
``returnRateLimits=false``. Order entry is :mod:`pegbot.sim.orderentry`, shared with REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from . import errors, orderentry
from .exchange import Exchange
from .formats import account_json, query_order_json
from .params import int_param, symbol_param
from .ratelimit import WS_CONNECT_WEIGHT, free_on_success, ws_weight
from .rest import check_timestamp
from .ws import write_loop

#: Methods whose replies list the order counts in ``rateLimits`` (they place orders).
_PLACES = frozenset({"order.place", "order.cancelReplace"})
# Order requests the WebSocket API faults reach (queries and subscriptions never fail).
_ORDER_METHODS = _PLACES | {"order.cancel", "openOrders.cancelAll"}


class _Session:
    def __init__(self, ws: web.WebSocketResponse, rate_limits: bool) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.subscriptions: dict[int, str] = {}
        #: ``returnRateLimits`` of the connection URL (default true).
        self.rate_limits = rate_limits

    def send(self, obj: Any) -> None:
        self.queue.put_nowait(orjson.dumps(obj).decode())


def _render(value: Any) -> str:
    # How ccxt renders a value before signing (``rawencode``).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class WsApi:
    """Sessions of ``/ws-api/v3`` on one exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.sessions: set[_Session] = set()
        self.by_key: dict[str, set[tuple[_Session, int]]] = {}
        self._next_sub = 0
        exchange.users = self
        self.methods: dict[str, Callable[[_Session, dict[str, str], str], Any]] = {
            "ping": lambda s, p, k: {},
            "time": lambda s, p, k: {"serverTime": self.ex.now_ms()},
            "userDataStream.subscribe.signature": self._subscribe,
            "userDataStream.unsubscribe": self._unsubscribe,
            "order.place": lambda s, p, k: orderentry.new_order(self.ex, k, p),
            "order.cancel": lambda s, p, k: orderentry.cancel(self.ex, k, p),
            "order.cancelReplace": lambda s, p, k: orderentry.cancel_replace(self.ex, k, p),
            "order.amend.keepPriority": lambda s, p, k: orderentry.amend(self.ex, k, p),
            "order.status": self._order_status,
            "openOrders.status": self._open_orders,
            "openOrders.cancelAll": lambda s, p, k: orderentry.cancel_all(self.ex, k, p),
            "account.status": self._account,
            "account.rateLimits.orders": lambda s, p, k: orderentry.unfilled_orders(self.ex, k),
        }
        self.unsigned = {"ping", "time", "userDataStream.unsubscribe"}

    def add_to(self, app: web.Application) -> None:
        """Register the route."""
        app.router.add_get("/ws-api/v3", self.handle)

    def publish_user(self, api_key: str, payload: dict[str, Any]) -> None:
        """Push a user-data event to every subscription of ``api_key``."""
        for session, sub_id in self.by_key.get(api_key, ()):
            session.send({"subscriptionId": sub_id, "event": payload})

    def has_user(self, api_key: str) -> bool:
        """Whether ``api_key`` has a user-data subscription."""
        return bool(self.by_key.get(api_key))

    async def drop_all(self) -> int:
        """Close every WS API connection (a fault); returns how many."""
        sessions = list(self.sessions)
        for session in sessions:
            await session.ws.close(code=1001, message=b"dropped by fault injection")
        return len(sessions)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one WS API connection."""
        ws = web.WebSocketResponse(heartbeat=self.ex.config.ping_interval_s, max_msg_size=1 << 20)
        await ws.prepare(request)
        session = _Session(ws, request.query.get("returnRateLimits", "true") != "false")
        self.sessions.add(session)
        writer = asyncio.create_task(write_loop(self.ex, ws, session.queue))
        ip = request.remote or "?"
        # Over the limit already: the requests on this connection will say so.
        with contextlib.suppress(errors.SimError):
            self.ex.limiter.charge(ip, WS_CONNECT_WEIGHT, self.ex.now_ns())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._dispatch(session, msg.data, ip)
        finally:
            self.sessions.discard(session)
            for sub_id, key in session.subscriptions.items():
                self.by_key.get(key, set()).discard((session, sub_id))
            session.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _dispatch(self, session: _Session, data: str, ip: str) -> None:
        rid: Any = None
        try:
            req = orjson.loads(data)
            rid = req.get("id")
            method = req["method"]
            raw_params = req.get("params") or {}
            if not isinstance(raw_params, dict):
                raise errors.SimError(-1100, "Illegal characters found in parameter 'params'.")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            session.send(
                {"id": rid, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
            )
            return
        except errors.SimError as exc:
            session.send({"id": rid, "status": 400, "error": exc.body()})
            return
        params = {k: _render(v) for k, v in raw_params.items()}
        show = params.get("returnRateLimits")  # signed with the rest when sent
        limits = session.rate_limits if show is None else show == "true"
        now = self.ex.now_ns()
        api_key = ""
        reply: dict[str, Any]
        try:
            handler = self.methods.get(method)
            if handler is None:
                raise errors.SimError(-1102, f"Unknown method '{method}'.")
            weight = ws_weight(method, params)
            self.ex.limiter.charge(ip, weight, now)
            if method not in self.unsigned:
                api_key = self._verify(params, now)
            fault = self.ex.faults.wsapi_failure() if method in _ORDER_METHODS else None
            if fault == "5xx":  # refused before anything happened; the client cannot know
                raise errors.internal_error()
            result = handler(session, params, api_key)
            if fault == "timeout":
                return  # executed, never answered: the client times out, the outcome unknown
            if free_on_success("WS", method, result):
                self.ex.limiter.refund(ip, weight, now)
            reply = {"id": rid, "status": 200, "result": result}
        except errors.SimError as exc:
            error = exc.body()
            if exc.retry_after_ms is not None:
                # WebSocket API "Rate limits": a 429/418 says when to retry (a ban: its end).
                error["data"] = {"serverTime": self.ex.now_ms(), "retryAfter": exc.retry_after_ms}
            reply = {"id": rid, "status": exc.status, "error": error}
        finally:
            self.ex.publish()
        if limits:
            reply["rateLimits"] = self.ex.limiter.rate_limits(
                ip, api_key, self.ex.now_ns(), orders=method in _PLACES and bool(api_key)
            )
        session.send(reply)

    def _verify(self, params: dict[str, str], now: int) -> str:
        api_key = params.get("apiKey", "")
        account = self.ex.engine.ledger.get(api_key)
        if account is None:
            raise errors.SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        signature = params.get("signature")
        if not signature:
            raise errors.missing_param("signature")
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise errors.SimError(-1022, "Signature for this request is not valid.")
        check_timestamp(params, now, self.ex.config.max_recv_window_ms)
        return api_key

    # -- methods --------------------------------------------------------------------------

    def _subscribe(self, session: _Session, params: dict[str, str], api_key: str) -> Any:
        sub_id = self._next_sub
        self._next_sub += 1
        session.subscriptions[sub_id] = api_key
        self.by_key.setdefault(api_key, set()).add((session, sub_id))
        return {"subscriptionId": sub_id}

    def _unsubscribe(self, session: _Session, params: dict[str, str], api_key: str) -> Any:
        wanted = int_param(params, "subscriptionId")
        for sub_id in list(session.subscriptions):
            if wanted is None or sub_id == wanted:
                key = session.subscriptions.pop(sub_id)
                self.by_key.get(key, set()).discard((session, sub_id))
        return {}

    def _order_status(self, session: _Session, params: dict[str, str], api_key: str) -> Any:
        spec = symbol_param(params, self.ex.symbols)
        oid = int_param(params, "orderId")
        cid = params.get("origClientOrderId") or None
        order = self.ex.engine.get_order(api_key, spec.exchange_symbol, oid, cid)
        return query_order_json(self.ex.engine.books[order.symbol].market, order)

    def _open_orders(self, session: _Session, params: dict[str, str], api_key: str) -> Any:
        symbol = None
        if "symbol" in params:
            symbol = symbol_param(params, self.ex.symbols).exchange_symbol
        engine = self.ex.engine
        return [
            query_order_json(engine.books[o.symbol].market, o)
            for o in engine.open_orders(api_key, symbol)
        ]

    def _account(self, session: _Session, params: dict[str, str], api_key: str) -> Any:
        acct = self.ex.engine.account(api_key)
        spec = next(iter(self.ex.symbols.values()))
        return account_json(acct, spec, omit_zero=params.get("omitZeroBalances") == "true")
