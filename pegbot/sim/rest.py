"""Binance's spot REST API (``/api/v3``) over the simulated exchange.

Signed endpoints check ``X-MBX-APIKEY``, the HMAC-SHA256 ``signature`` over the raw query
string followed by the raw body (Binance's ``totalParams``), and ``timestamp``/``recvWindow``.
Every reply carries ``X-MBX-USED-WEIGHT-1M``; successful order replies also
``X-MBX-ORDER-COUNT-10S`` and ``-1D`` (REST API, "LIMITS"). Order entry itself is
:mod:`pegbot.sim.orderentry`, shared with the WebSocket API. Errors go out with Binance's
status and ``{"code", "msg"}`` body (:mod:`pegbot.sim.errors`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from pegbot.timeunits import NS_PER_DAY, NS_PER_MS

from . import errors, orderentry
from .exchange import Exchange
from .formats import (
    account_json,
    exchange_symbol_json,
    fixed,
    my_trade_json,
    price_str,
    qty_str,
    query_order_json,
)
from .params import int_param, parse_new_order, symbol_param
from .ratelimit import free_on_success, request_weight

#: Endpoints whose successful replies carry the unfilled order counts.
_COUNTED = frozenset({("POST", "order"), ("POST", "order/cancelReplace")})

Handler = Callable[[web.Request, "Call"], Awaitable[Any]]


class Call:
    """One parsed request: parameters, the caller's account (signed calls) and reply headers."""

    def __init__(self, params: dict[str, str], api_key: str = "") -> None:
        self.params = params
        self.api_key = api_key
        self.headers: dict[str, str] = {}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON reply."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


class RestApi:
    """The REST routes of one :class:`Exchange`."""

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        public: dict[tuple[str, str], Handler] = {
            ("GET", "ping"): self.ping,
            ("GET", "time"): self.time,
            ("GET", "exchangeInfo"): self.exchange_info,
            ("GET", "depth"): self.depth,
            ("GET", "trades"): self.trades,
            ("GET", "historicalTrades"): self.trades,
            ("GET", "aggTrades"): self.agg_trades,
            ("GET", "ticker/24hr"): self.ticker_24hr,
            ("GET", "ticker/bookTicker"): self.book_ticker,
            ("GET", "ticker/price"): self.ticker_price,
        }
        signed: dict[tuple[str, str], Handler] = {
            ("GET", "account"): self.account,
            ("GET", "account/commission"): self.commission,
            ("POST", "order"): self.new_order,
            ("POST", "order/test"): self.test_order,
            ("GET", "order"): self.get_order,
            ("DELETE", "order"): self.cancel_order,
            ("GET", "openOrders"): self.open_orders,
            ("DELETE", "openOrders"): self.cancel_all,
            ("GET", "allOrders"): self.all_orders,
            ("GET", "myTrades"): self.my_trades,
            ("POST", "order/cancelReplace"): self.cancel_replace,
            ("PUT", "order/amend/keepPriority"): self.amend,
            ("GET", "rateLimit/order"): self.unfilled_orders,
        }
        self.routes = {k: (h, False) for k, h in public.items()}
        self.routes.update({k: (h, True) for k, h in signed.items()})

    def add_to(self, app: web.Application) -> None:
        """Register the catch-all ``/api/v3`` route on ``app``."""
        app.router.add_route("*", "/api/v3/{path:.*}", self.handle)

    # -- the request pipeline -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Rate-limit, authenticate, dispatch, and shape errors like Binance."""
        ex = self.ex
        path = request.match_info["path"]
        method = request.method
        raw_query = request.raw_path.partition("?")[2]
        raw_body = (await request.text()) if request.can_read_body else ""
        params = dict(parse_qsl(raw_body, keep_blank_values=True))
        params.update(parse_qsl(raw_query, keep_blank_values=True))  # the query wins
        ip = request.remote or "?"
        now = ex.now_ns()
        headers: dict[str, str] = {}
        full_path = "/api/v3/" + path
        try:
            weight = request_weight(method, full_path, params)
            used = ex.limiter.charge(ip, weight, now)
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            route = self.routes.get((method, path))
            if route is None:
                return json_response({"code": -1, "msg": "Not found."}, 404, headers)
            failure = ex.faults.rest_failure()
            if failure == "5xx":
                refused = errors.internal_error()
                return json_response(refused.body(), refused.status, headers)
            handler, is_signed = route
            call = Call(params)
            if is_signed:
                call.api_key = self._authenticate(request, raw_query, raw_body, params, now)
            body = await handler(request, call)
            if free_on_success(method, full_path, body):
                headers["X-MBX-USED-WEIGHT-1M"] = str(ex.limiter.refund(ip, weight, now))
            if (method, path) in _COUNTED:
                ten, day = ex.limiter.order_counts(call.api_key, ex.now_ns())
                headers["X-MBX-ORDER-COUNT-10S"] = str(ten)
                headers["X-MBX-ORDER-COUNT-1D"] = str(day)
            headers.update(call.headers)
            if failure == "timeout":
                await asyncio.sleep(ex.faults.rest_timeout_s)
            return json_response(body, 200, headers)
        except errors.SimError as exc:
            headers.update(exc.headers)
            if exc.status == 418 or exc.status == 429:
                headers.setdefault("X-MBX-USED-WEIGHT-1M", str(ex.limiter.used_weight(ip, now)))
            return json_response(exc.body(), exc.status, headers)
        finally:
            ex.publish()

    def _authenticate(
        self, request: web.Request, raw_query: str, raw_body: str, params: dict[str, str], now: int
    ) -> str:
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if not api_key:
            raise errors.SimError(-2014, "API-key format invalid.", 401)
        account = self.ex.engine.ledger.get(api_key)
        if account is None:
            raise errors.SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        signature = params.get("signature")
        if not signature:
            raise errors.missing_param("signature")
        # totalParams = query string + body, each without its signature pair.
        payload = _strip_signature(raw_query) + _strip_signature(raw_body)
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise errors.SimError(-1022, "Signature for this request is not valid.")
        check_timestamp(params, now, self.ex.config.max_recv_window_ms)
        return api_key

    # -- public ---------------------------------------------------------------------------

    async def ping(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/ping``."""
        return {}

    async def time(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/time``."""
        return {"serverTime": self.ex.now_ms()}

    async def exchange_info(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/exchangeInfo`` (optionally ``symbol`` or ``symbols``)."""
        ex = self.ex
        wanted = list(ex.symbols)
        if "symbol" in call.params:
            wanted = [symbol_param(call.params, ex.symbols).exchange_symbol]
        elif "symbols" in call.params:
            wanted = [str(s).upper() for s in orjson.loads(call.params["symbols"])]
            if any(s not in ex.symbols for s in wanted):
                raise errors.invalid_symbol()
        cfg = ex.config.rate_limits
        return {
            "timezone": "UTC",
            "serverTime": ex.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": cfg.weight_per_minute,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": cfg.orders_per_10s,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "DAY",
                    "intervalNum": 1,
                    "limit": cfg.orders_per_day,
                },
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": cfg.raw_requests_per_5m,
                },
            ],
            "exchangeFilters": [],
            "symbols": [
                exchange_symbol_json(ex.symbols[s], ex.engine.books[s].status) for s in wanted
            ],
        }

    async def depth(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/depth``."""
        spec = symbol_param(call.params, self.ex.symbols)
        limit = int_param(call.params, "limit") or 100
        limit = max(1, min(limit, 5000))
        uid, bids, asks = self.ex.engine.depth(spec.exchange_symbol, limit)
        market = self.ex.engine.books[spec.exchange_symbol].market
        return {
            "lastUpdateId": uid,
            "bids": [[price_str(market, t), qty_str(market, q)] for t, q in bids],
            "asks": [[price_str(market, t), qty_str(market, q)] for t, q in asks],
        }

    def _recent(self, call: Call) -> tuple[Any, list[Any]]:
        spec = symbol_param(call.params, self.ex.symbols)
        limit = max(1, min(int_param(call.params, "limit") or 500, 1000))
        trades = list(self.ex.recent_trades.get(spec.exchange_symbol, ()))
        return self.ex.engine.books[spec.exchange_symbol].market, trades[-limit:]

    async def trades(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/trades``."""
        market, trades = self._recent(call)
        return [
            {
                "id": t.trade_id,
                "price": price_str(market, t.price),
                "qty": qty_str(market, t.units),
                "quoteQty": fixed(market.notional(t.price, t.units)),
                "time": t.time_ns // NS_PER_MS,
                "isBuyerMaker": t.buyer_is_maker,
                "isBestMatch": True,
            }
            for t in trades
        ]

    async def agg_trades(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/aggTrades`` (one aggregate per trade)."""
        market, trades = self._recent(call)
        start = int_param(call.params, "startTime")
        return [
            {
                "a": t.trade_id,
                "p": price_str(market, t.price),
                "q": qty_str(market, t.units),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time_ns // NS_PER_MS,
                "m": t.buyer_is_maker,
                "M": True,
            }
            for t in trades
            if start is None or t.time_ns // NS_PER_MS >= start
        ]

    async def ticker_24hr(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/ticker/24hr``."""
        if "symbol" in call.params:
            return self._ticker(symbol_param(call.params, self.ex.symbols).exchange_symbol)
        return [self._ticker(s) for s in self.ex.symbols]

    def _ticker(self, symbol: str) -> dict[str, Any]:
        ex = self.ex
        book = ex.engine.books[symbol]
        market = book.market
        now = ex.now_ns()
        day = [t for t in ex.recent_trades.get(symbol, ()) if t.time_ns >= now - NS_PER_DAY]
        bb = book.public_levels(1, 1)
        ba = book.public_levels(-1, 1)
        last = day[-1] if day else None
        first = day[0] if day else None
        volume = sum(t.units for t in day)
        value = sum(t.price * t.units for t in day)
        ticks = [t.price for t in day] or [0]
        change = (last.price - first.price) if last and first else 0
        pct = Decimal(change * 100) / first.price if first and first.price else Decimal(0)
        avg = market.tick_size * Decimal(value) / volume if volume else Decimal(0)
        return {
            "symbol": symbol,
            "priceChange": fixed(market.tick_size * change),
            "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": fixed(avg.quantize(Decimal("1e-8"))),
            "prevClosePrice": price_str(market, first.price if first else 0),
            "lastPrice": price_str(market, last.price if last else 0),
            "lastQty": qty_str(market, last.units if last else 0),
            "bidPrice": price_str(market, bb[0][0] if bb else 0),
            "bidQty": qty_str(market, bb[0][1] if bb else 0),
            "askPrice": price_str(market, ba[0][0] if ba else 0),
            "askQty": qty_str(market, ba[0][1] if ba else 0),
            "openPrice": price_str(market, first.price if first else 0),
            "highPrice": price_str(market, max(ticks)),
            "lowPrice": price_str(market, min(ticks)),
            "volume": qty_str(market, volume),
            "quoteVolume": fixed(market.notional_of_tick_units(value)),
            "openTime": (first.time_ns if first else now - NS_PER_DAY) // NS_PER_MS,
            "closeTime": now // NS_PER_MS,
            "firstId": first.trade_id if first else -1,
            "lastId": last.trade_id if last else -1,
            "count": len(day),
        }

    async def book_ticker(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/ticker/bookTicker``."""
        spec = symbol_param(call.params, self.ex.symbols)
        book = self.ex.engine.books[spec.exchange_symbol]
        bb, ba = book.public_levels(1, 1), book.public_levels(-1, 1)
        m = book.market
        return {
            "symbol": spec.exchange_symbol,
            "bidPrice": price_str(m, bb[0][0] if bb else 0),
            "bidQty": qty_str(m, bb[0][1] if bb else 0),
            "askPrice": price_str(m, ba[0][0] if ba else 0),
            "askQty": qty_str(m, ba[0][1] if ba else 0),
        }

    async def ticker_price(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/ticker/price``."""
        spec = symbol_param(call.params, self.ex.symbols)
        trades = self.ex.recent_trades.get(spec.exchange_symbol)
        market = self.ex.engine.books[spec.exchange_symbol].market
        return {
            "symbol": spec.exchange_symbol,
            "price": price_str(market, trades[-1].price if trades else 0),
        }

    # -- signed ---------------------------------------------------------------------------

    async def account(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/account``."""
        acct = self.ex.engine.account(call.api_key)
        spec = next(iter(self.ex.symbols.values()))
        return account_json(acct, spec, omit_zero=call.params.get("omitZeroBalances") == "true")

    async def commission(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/account/commission``."""
        spec = symbol_param(call.params, self.ex.symbols)
        rates = {
            "maker": fixed(spec.maker_fee),
            "taker": fixed(spec.taker_fee),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        }
        zero = dict.fromkeys(rates, "0.00000000")
        return {
            "symbol": spec.exchange_symbol,
            "standardCommission": rates,
            "specialCommission": zero,
            "taxCommission": zero,
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": "0.75000000",
            },
        }

    async def new_order(self, request: web.Request, call: Call) -> Any:
        """``POST /api/v3/order``."""
        return orderentry.new_order(self.ex, call.api_key, call.params)

    async def test_order(self, request: web.Request, call: Call) -> Any:
        """``POST /api/v3/order/test``: validate only."""
        parse_new_order(call.params, self.ex.symbols)
        return {}

    async def get_order(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/order``."""
        spec = symbol_param(call.params, self.ex.symbols)
        oid, cid = orderentry.ids(call.params, "orderId", "origClientOrderId")
        order = self.ex.engine.get_order(call.api_key, spec.exchange_symbol, oid, cid)
        return query_order_json(self.ex.engine.books[order.symbol].market, order)

    async def cancel_order(self, request: web.Request, call: Call) -> Any:
        """``DELETE /api/v3/order``."""
        return orderentry.cancel(self.ex, call.api_key, call.params)

    async def open_orders(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/openOrders`` (``symbol`` optional)."""
        symbol = None
        if "symbol" in call.params:
            symbol = symbol_param(call.params, self.ex.symbols).exchange_symbol
        engine = self.ex.engine
        return [
            query_order_json(engine.books[o.symbol].market, o)
            for o in engine.open_orders(call.api_key, symbol)
        ]

    async def cancel_all(self, request: web.Request, call: Call) -> Any:
        """``DELETE /api/v3/openOrders``."""
        return orderentry.cancel_all(self.ex, call.api_key, call.params)

    async def all_orders(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/allOrders``."""
        spec = symbol_param(call.params, self.ex.symbols)
        p = call.params
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        from_id = int_param(p, "orderId")
        limit = max(1, min(int_param(p, "limit") or 500, 1000))
        market = self.ex.engine.books[spec.exchange_symbol].market
        rows = [
            o
            for o in self.ex.engine.all_orders(call.api_key, spec.exchange_symbol)
            if (start is None or o.time_ns // NS_PER_MS >= start)
            and (end is None or o.time_ns // NS_PER_MS <= end)
            and (from_id is None or o.order_id >= from_id)
        ]
        rows = rows[:limit] if (start is not None or from_id is not None) else rows[-limit:]
        return [query_order_json(market, o) for o in rows]

    async def my_trades(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/myTrades``."""
        spec = symbol_param(call.params, self.ex.symbols)
        p = call.params
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        from_id, order_id = int_param(p, "fromId"), int_param(p, "orderId")
        limit = max(1, min(int_param(p, "limit") or 500, 1000))
        market = self.ex.engine.books[spec.exchange_symbol].market
        rows = [
            t
            for t in self.ex.engine.my_trades(call.api_key, spec.exchange_symbol)
            if (start is None or t.time_ns // NS_PER_MS >= start)
            and (end is None or t.time_ns // NS_PER_MS <= end)
            and (from_id is None or t.trade_id >= from_id)
            and (order_id is None or t.order_id == order_id)
        ]
        rows = rows[:limit] if (start is not None or from_id is not None) else rows[-limit:]
        return [my_trade_json(market, t) for t in rows]

    async def cancel_replace(self, request: web.Request, call: Call) -> Any:
        """``POST /api/v3/order/cancelReplace`` (see :func:`orderentry.cancel_replace`)."""
        return orderentry.cancel_replace(self.ex, call.api_key, call.params)

    async def amend(self, request: web.Request, call: Call) -> Any:
        """``PUT /api/v3/order/amend/keepPriority``."""
        return orderentry.amend(self.ex, call.api_key, call.params)

    async def unfilled_orders(self, request: web.Request, call: Call) -> Any:
        """``GET /api/v3/rateLimit/order``: the unfilled order count of every interval."""
        return orderentry.unfilled_orders(self.ex, call.api_key)


def check_timestamp(params: dict[str, str], now_ns: int, max_window_ms: int) -> None:
    """Binance's rule: ``timestamp < server + 1000`` and ``server - timestamp <= recvWindow``."""
    ts = int_param(params, "timestamp")
    if ts is None:
        raise errors.missing_param("timestamp")
    window = int_param(params, "recvWindow")
    window = 5000 if window is None else window
    if window > max_window_ms or window <= 0:
        raise errors.SimError(-1131, "recvWindow must be less than 60000")
    server = now_ns // NS_PER_MS
    if ts >= server + 1000:
        raise errors.SimError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if server - ts > window:
        raise errors.SimError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _strip_signature(raw: str) -> str:
    # The signature is the last pair that ccxt appends; remove it wherever it sits.
    if not raw:
        return ""
    pairs = [p for p in raw.split("&") if not p.startswith("signature=")]
    return "&".join(pairs)
