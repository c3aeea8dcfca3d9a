"""The order-flow market source: the crowd of :mod:`pegbot.sim.flow` trading in the engine.

The crowd is an ordinary account (:data:`CROWD_KEY`, funded without limit in practice): its
limit orders rest in the same books as users' orders, its market orders take from them, and
users' orders take from its orders, all under the engine's price-time priority. This source
only paces the flow's actions against the clock (``speed`` × real time) and reports back to the
flow what became of the crowd's orders, through the exchange's event hook, before the next
action is drawn (the flow's contract).
"""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal

from pegbot.logging import event_log
from pegbot.timeunits import NS_PER_S

from .errors import SimError
from .exchange import Exchange
from .flow import Cancel, FlowConfig, MarketOrder, OrderFlow, PlaceLimit
from .model import GTC, LIMIT, MARKET, Event, ExecutionReport, NewOrder

log = event_log(__name__)

#: The crowd's account key.
CROWD_KEY = "__crowd__"
_CROWD_FUNDS = Decimal(10) ** 15


class FlowSource:
    """Drive one symbol's crowd from an :class:`OrderFlow`.

    Args:
        config: The flow model's configuration (rates, sizes, scenarios, seed).
        symbol: Exchange symbol the crowd trades.
        speed: Market seconds per real second.
    """

    def __init__(self, config: FlowConfig, symbol: str = "KGSTUSDT", speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.config = config
        self.symbol = symbol
        self.speed = speed
        self.flow: OrderFlow | None = None
        self.actions = 0
        self.rejected = 0
        self._market_ids: set[str] = set()
        self._start_ns = 0
        self._real_start_ns = 0

    def attach(self, exchange: Exchange, start_ns: int) -> OrderFlow:
        """Open the crowd account, hook its reports, create the flow starting at ``start_ns``."""
        book = exchange.engine.book(self.symbol)
        market = book.market
        exchange.engine.ledger.add(
            CROWD_KEY,
            secrets.token_hex(16),
            {market.base: _CROWD_FUNDS, market.quote: _CROWD_FUNDS},
        )
        # The crowd stands for many participants: one account's order limit does not apply.
        exchange.engine.unlimited.add(CROWD_KEY)
        self.flow = OrderFlow(self.config, market, start_ns)
        self._start_ns = start_ns
        exchange.hooks.append(self._on_event)
        return self.flow

    def _on_event(self, ev: Event) -> None:
        if not isinstance(ev, ExecutionReport) or ev.api_key != CROWD_KEY or self.flow is None:
            return
        cid = ev.order.client_order_id
        if cid in self._market_ids:
            if not ev.order.is_open and ev.exec_type != "NEW":
                self._market_ids.discard(cid)
            return  # market orders are fire-and-forget for the flow
        if ev.exec_type == "TRADE":
            self.flow.on_filled(cid, ev.last_units)
        elif ev.exec_type in ("CANCELED", "EXPIRED", "REJECTED"):
            self.flow.on_canceled(cid)

    def step(self, exchange: Exchange, until_ns: int) -> int:
        """Execute every action due up to flow time ``until_ns``; returns how many."""
        flow = self.flow
        if flow is None:
            raise RuntimeError("attach() first")
        done = 0
        while True:
            ts = flow.peek_ts()
            if ts is None or ts > until_ns:
                break
            self._execute(exchange, flow.pop())
            exchange.publish()  # the flow hears about fills before the next pop
            done += 1
        self.actions += done
        return done

    def _execute(self, exchange: Exchange, action: PlaceLimit | Cancel | MarketOrder) -> None:
        engine = exchange.engine
        now = exchange.now_ns()
        try:
            if isinstance(action, PlaceLimit):
                req = NewOrder(
                    self.symbol,
                    action.side,
                    LIMIT,
                    units=action.qty_units,
                    price=action.price_ticks,
                    tif=GTC,
                    client_order_id=action.client_id,
                )
                engine.place(CROWD_KEY, req, now)
            elif isinstance(action, MarketOrder):
                self._market_ids.add(action.client_id)
                req = NewOrder(
                    self.symbol,
                    action.side,
                    MARKET,
                    units=action.qty_units,
                    client_order_id=action.client_id,
                )
                engine.place(CROWD_KEY, req, now)
            else:
                engine.cancel(CROWD_KEY, self.symbol, now, client_order_id=action.client_id)
        except SimError as exc:
            self.rejected += 1
            log.debug("crowd_action_rejected", "crowd action %s rejected: %s", action, exc)
            if isinstance(action, PlaceLimit) and self.flow is not None:
                self.flow.on_canceled(action.client_id)

    async def run(self, exchange: Exchange) -> None:
        """Pace the flow against the exchange clock until it goes quiet or is cancelled."""
        start = exchange.now_ns()
        flow = self.flow or self.attach(exchange, start)
        self._real_start_ns = start
        while True:
            now = exchange.now_ns()
            flow_now = self._start_ns + int((now - self._real_start_ns) * self.speed)
            self.step(exchange, flow_now)
            nxt = flow.peek_ts()
            if nxt is None:
                return
            wait_ns = (nxt - self._start_ns) / self.speed - (now - self._real_start_ns)
            await asyncio.sleep(min(max(wait_ns / NS_PER_S, 0.0), 1.0))
