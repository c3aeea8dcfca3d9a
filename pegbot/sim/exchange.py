"""The simulated exchange's state and event routing, shared by REST, streams and the WS API.

:class:`Exchange` owns the engine, the clock (with the skew fault), the rate limiter and the
faults, and turns engine events into stream messages: depth diffs are merged per symbol and
pushed every ``depth_interval_ms`` (a gap in update ids is never merged over, so an injected
skip reaches clients), trades and book tickers go out at once, execution reports and balance
updates go to the user-data subscriptions of their account. An order's first fill takes it
off its account's unfilled order count.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pegbot.timeunits import NS_PER_MS

from .accounts import Ledger
from .config import SimConfig, SymbolConfig
from .engine import Engine
from .faults import Faults
from .formats import (
    account_position,
    book_ticker_event,
    depth_event,
    execution_report,
    trade_event,
)
from .model import AccountUpdate, BookTicker, DepthUpdate, Event, ExecutionReport, PublicTrade
from .ratelimit import RateLimiter


class StreamSink(Protocol):
    """Where market-stream payloads go (the WebSocket hub)."""

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the subscribers of ``stream``."""

    def has_subscribers(self, stream: str) -> bool:
        """Whether anyone listens to ``stream``."""


class UserSink(Protocol):
    """Where user-data events go (the WS API sessions)."""

    def publish_user(self, api_key: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the user-data subscriptions of ``api_key``."""

    def has_user(self, api_key: str) -> bool:
        """Whether ``api_key`` has a user-data subscription."""


@dataclass
class _PendingDepth:
    first_id: int
    last_id: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    time_ns: int = 0


class Exchange:
    """Engine + clock + limits + faults + event routing.

    Args:
        config: The simulator configuration.
        clock: Real time in ns (injectable for tests); the skew fault is added on top.
    """

    def __init__(self, config: SimConfig, clock: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self._clock = clock
        self.symbols: dict[str, SymbolConfig] = {s.exchange_symbol: s for s in config.symbols}
        ledger = Ledger()
        for acct in config.accounts:
            ledger.add(acct.api_key, acct.api_secret.get_secret_value(), acct.balances)
        self.engine = Engine([], ledger)
        for spec in config.symbols:
            amends = spec.max_num_order_amends if spec.amend_allowed else None
            self.engine.add_market(spec.market(), spec.max_num_orders, amends)
        for spec in config.symbols:
            self.engine.set_status(spec.exchange_symbol, spec.status)
        for halted in config.faults.halted:
            self.engine.set_status(halted, "HALT")
        self.faults = Faults.from_config(config.faults)
        self.limiter = RateLimiter(config.rate_limits)
        self.streams: StreamSink | None = None
        self.users: UserSink | None = None
        self.nbkr_date = config.nbkr.date
        self.nbkr_rates = dict(config.nbkr.rates)
        self._pending: dict[str, _PendingDepth] = {}
        self.recent_trades: dict[str, deque[PublicTrade]] = {}
        #: WebSocket messages written to clients (streams and user data).
        self.messages_pushed = 0
        #: Called with every engine event before it is routed (market sources listen here).
        self.hooks: list[Callable[[Event], None]] = []

    def now_ns(self) -> int:
        """Server time in ns (real clock plus the skew fault)."""
        return self._clock() + self.faults.clock_skew_ms * NS_PER_MS

    def now_ms(self) -> int:
        """Server time in ms."""
        return self.now_ns() // NS_PER_MS

    def publish(self) -> None:
        """Route every event the engine produced since the last call."""
        # Hooks (market sources) may act on the engine and so produce more events.
        events = self.engine.drain()
        while events:
            for ev in events:
                for hook in self.hooks:
                    hook(ev)
                self._route(ev)
            events = self.engine.drain()
        if self.config.depth_interval_ms == 0:
            self.flush_depth()

    def _route(self, ev: Event) -> None:
        if isinstance(ev, DepthUpdate):
            self._merge_depth(ev)
            return
        if isinstance(ev, ExecutionReport | AccountUpdate):
            first_fill = (
                isinstance(ev, ExecutionReport)
                and ev.exec_type == "TRADE"
                and ev.order.executed_units == ev.last_units
            )
            if first_fill:
                # One unfilled order less (Spot Unfilled Order Count Rules).
                self.limiter.order_filled(ev.api_key, ev.time_ns)
            if self.users is None or not self.users.has_user(ev.api_key):
                return  # nobody listens: skip the formatting
            if isinstance(ev, ExecutionReport):
                market = self.engine.books[ev.order.symbol].market
                payload = execution_report(market, ev, self.now_ns())
            else:
                payload = account_position(ev)
            self.users.publish_user(ev.api_key, payload)
            return
        if isinstance(ev, PublicTrade):
            self.recent_trades.setdefault(ev.symbol, deque(maxlen=5000)).append(ev)
        if self.streams is None:
            return
        market = self.engine.books[ev.symbol].market
        low = ev.symbol.lower()
        if isinstance(ev, PublicTrade):
            if self.streams.has_subscribers(f"{low}@trade"):
                self.streams.publish(f"{low}@trade", trade_event(market, ev))
        elif isinstance(ev, BookTicker) and self.streams.has_subscribers(f"{low}@bookTicker"):
            self.streams.publish(f"{low}@bookTicker", book_ticker_event(market, ev))

    def _merge_depth(self, ev: DepthUpdate) -> None:
        pending = self._pending.get(ev.symbol)
        if pending is not None and ev.first_id != pending.last_id + 1:
            # Never merge across a gap: the client must see it.
            self._emit_depth(ev.symbol, pending)
            pending = None
        if pending is None:
            pending = self._pending[ev.symbol] = _PendingDepth(ev.first_id, ev.last_id)
        pending.last_id = ev.last_id
        pending.bids.update(ev.bids)
        pending.asks.update(ev.asks)
        pending.time_ns = ev.time_ns

    def flush_depth(self) -> None:
        """Push the merged depth diffs of every symbol."""
        pending, self._pending = self._pending, {}
        for symbol, batch in pending.items():
            self._emit_depth(symbol, batch)

    def _emit_depth(self, symbol: str, batch: _PendingDepth) -> None:
        if self.streams is None:
            return
        low = symbol.lower()
        names = (f"{low}@depth@100ms", f"{low}@depth")
        if not any(self.streams.has_subscribers(n) for n in names):
            return
        market = self.engine.books[symbol].market
        ev = DepthUpdate(
            symbol,
            batch.first_id,
            batch.last_id,
            tuple(batch.bids.items()),
            tuple(batch.asks.items()),
            self.now_ns(),
        )
        payload = depth_event(market, ev)
        for name in names:
            self.streams.publish(name, payload)

    async def depth_flusher(self) -> None:
        """Background task: flush depth every ``depth_interval_ms``."""
        interval = self.config.depth_interval_ms / 1000
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            if self._pending:
                self.flush_depth()
