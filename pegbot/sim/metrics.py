"""The simulator's own Prometheus metrics (``pegbot_sim_*``), served at ``/metrics``.

What the simulator did, as ops and tests see it next to the bot's metrics: requests by
endpoint, method and status; order events and fills from the engine; public trades; WebSocket
clients; messages pushed; faults injected. Labels are bounded: endpoints are the known REST
paths (anything else is ``/api/v3/other`` or ``other``), symbols are the configured ones.

Counting happens in three places, none of which touches the engine's hot path:

* an aiohttp middleware counts every HTTP request (and, on ``GET /metrics``, answers with the
  exposition itself: the app's catch-all 404 route would otherwise shadow a route added late);
* an :attr:`Exchange.hooks <pegbot.sim.exchange.Exchange.hooks>` callback counts engine events
  (order events, users' fills, public trades) as they are published;
* a collector reads the connection counts, ``messages_pushed``, the fault counts and symbol
  statuses at scrape time.

Wiring (the simulator's owner does this; nothing else changes): create the server, attach,
then start::

    server = SimServer(config, host, port, market=source)
    SimMetrics().attach(server)          # before server.start(): middlewares freeze at start
    await server.start()                 # now http://host:port/metrics serves pegbot_sim_*

``SimMetrics(registry)`` takes an injectable registry (a private one by default), so a process
that runs both the bot and the simulator can serve them on one registry or two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pegbot.market import Side

from .model import Event, ExecutionReport, PublicTrade

if TYPE_CHECKING:
    from .server import SimServer

__all__ = ["FAULTS", "ORDER_EVENTS", "SimMetrics", "endpoint_of"]

#: Fault counts always exported (others the simulator adds later appear when first counted).
FAULTS = ("rest_5xx", "rest_timeout", "ws_dropped", "ws_reordered", "update_ids_skipped")
#: ``event`` label values of ``pegbot_sim_order_events_total`` (Binance execution types).
ORDER_EVENTS = ("new", "trade", "canceled", "expired", "rejected", "other")
_METHODS = ("GET", "POST", "PUT", "DELETE")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint_of(path: str, rest_paths: frozenset[str]) -> str:
    """The bounded ``endpoint`` label of a request path.

    Args:
        path: The request path (``/api/v3/order``).
        rest_paths: The REST paths the simulator serves, without the ``/api/v3/`` prefix.
    """
    if path.startswith("/api/v3/"):
        tail = path[len("/api/v3/") :]
        return path if tail in rest_paths else "/api/v3/other"
    if path == "/ws" or path.startswith("/ws/"):
        return "/ws"
    if path.startswith("/stream"):
        return "/stream"
    if path.startswith("/ws-api/"):
        return "/ws-api/v3"
    if path.startswith("/admin"):
        return "/admin"
    if path.endswith("/XML/daily.xml"):
        return "/XML/daily.xml"
    if path == "/metrics":
        return "/metrics"
    return "other"


class SimMetrics:
    """Metrics of one simulator, on ``registry`` (a private one if None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create the metrics; :meth:`attach` connects them to a server."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pegbot_sim_requests",
            "HTTP requests served, by endpoint, method and status (WebSockets count at close).",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.order_events = Counter(
            "pegbot_sim_order_events",
            "Execution reports the engine produced, by symbol and event type.",
            ["symbol", "event"],
            registry=r,
        )
        self.fills = Counter(
            "pegbot_sim_fills",
            "Fills of users' orders, by symbol, side and liquidity.",
            ["symbol", "side", "liquidity"],
            registry=r,
        )
        self.public_trades = Counter(
            "pegbot_sim_public_trades",
            "Trades printed on the public tape.",
            ["symbol"],
            registry=r,
        )
        self._server: SimServer | None = None
        self._rest_paths: frozenset[str] = frozenset()

    def attach(self, server: SimServer) -> None:
        """Count ``server``'s requests and events and serve ``/metrics`` on its port.

        Call before ``server.start()``. Initialises every label set of the configured symbols
        and the main endpoints at zero.

        Raises:
            RuntimeError: If the server already started (its middlewares are frozen).
        """
        from .rest import RestApi

        if server.app.frozen:
            raise RuntimeError("attach SimMetrics before SimServer.start()")
        self._server = server
        # RestApi only records its routing table on construction; read the paths from it.
        self._rest_paths = frozenset(path for _, path in RestApi(server.exchange).routes)
        server.app.middlewares.append(self._middleware)
        server.exchange.hooks.append(self._on_event)
        self.registry.register(_SimCollector(server))
        for symbol in server.exchange.symbols:
            self.public_trades.labels(symbol=symbol)
            for event in ORDER_EVENTS:
                self.order_events.labels(symbol=symbol, event=event)
            for side in ("buy", "sell"):
                for liq in ("maker", "taker"):
                    self.fills.labels(symbol=symbol, side=side, liquidity=liq)
        for endpoint, method in (
            ("/api/v3/order", "POST"),
            ("/api/v3/order", "DELETE"),
            ("/api/v3/depth", "GET"),
        ):
            for status in ("200", "400", "429", "503"):
                self.requests.labels(endpoint=endpoint, method=method, status=status)

    def exposition(self) -> bytes:
        """The text exposition of :attr:`registry`."""
        return generate_latest(self.registry)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = endpoint_of(request.path, self._rest_paths)
        method = request.method if request.method in _METHODS else "other"
        status = 500
        try:
            if endpoint == "/metrics" and request.method == "GET":
                resp: web.StreamResponse = web.Response(
                    body=self.exposition(),
                    headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
                )
            else:
                resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.requests.labels(endpoint=endpoint, method=method, status=str(status)).inc()

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, ExecutionReport):
            symbol = ev.order.symbol
            event = ev.exec_type.lower()
            if event not in ORDER_EVENTS:
                event = "other"
            self.order_events.labels(symbol=symbol, event=event).inc()
            if ev.exec_type == "TRADE":
                side = "buy" if ev.order.side is Side.BUY else "sell"
                liq = "maker" if ev.is_maker else "taker"
                self.fills.labels(symbol=symbol, side=side, liquidity=liq).inc()
        elif isinstance(ev, PublicTrade):
            self.public_trades.labels(symbol=ev.symbol).inc()


class _SimCollector(Collector):
    """Reads connection counts, messages pushed, faults and symbol status at scrape time."""

    def __init__(self, server: SimServer) -> None:
        self.server = server

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        ex = self.server.exchange
        clients = GaugeMetricFamily(
            "pegbot_sim_ws_clients",
            "Open WebSocket connections, by API (market streams or the WS API).",
            labels=["api"],
        )
        clients.add_metric(["streams"], len(self.server.streams.conns))
        clients.add_metric(["ws_api"], len(self.server.wsapi.sessions))
        yield clients
        yield CounterMetricFamily(
            "pegbot_sim_messages_pushed",
            "WebSocket messages pushed to clients (market streams and user data).",
            value=ex.messages_pushed,
        )
        faults = CounterMetricFamily(
            "pegbot_sim_faults_injected", "Faults injected, by kind.", labels=["fault"]
        )
        counts = dict.fromkeys(FAULTS, 0) | ex.faults.injected
        for name, count in sorted(counts.items()):
            faults.add_metric([name], count)
        yield faults
        trading = GaugeMetricFamily(
            "pegbot_sim_symbol_trading", "1 while a symbol's status is TRADING.", labels=["symbol"]
        )
        for symbol, book in sorted(ex.engine.books.items()):
            trading.add_metric([symbol], 1.0 if book.status == "TRADING" else 0.0)
        yield trading
