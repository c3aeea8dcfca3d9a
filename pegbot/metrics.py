"""The bot's Prometheus metrics on one injectable registry, and its vocabulary for them.

What is exported is declared as data in :mod:`pegbot.metrics_table` (one row per metric,
a table per room: peg, bot, desk); :class:`Metrics` creates every row on its registry as the
attribute the row names, and its methods are the bot's vocabulary for them. The names, the
label values and the tables are re-exported here, so callers import from this module.

How the bot uses it::

    metrics = Metrics()                       # a private registry; or Metrics(REGISTRY)
    metrics.add_process_collectors()          # process_* and python_gc_* for the Process row
    metrics.set_build_info(mode="paper")
    metrics.init_bot(["binance"], ["KGST/USDT"])
    metrics.init_peg("binance", "KGST/USDT", ["nbkr", "static"])
    metrics.init_desk(["binance"], wallets=["desk"])   # when the desk loop runs
    server = start_metrics_server(metrics.registry, port=9464)   # 127.0.0.1 by default
    ...
    metrics.observe_book("binance", "KGST/USDT", book, market, fair_ticks, now_ns)
    metrics.order_submitted("binance", "KGST/USDT", Side.BUY)
    metrics.heartbeat(now_ns)

Time is injected: every method that stamps a time takes ``now_ns`` (int ns UTC) from the caller,
so this module never reads the clock. Label values outside the bounded sets raise
``ValueError`` (a programming error, caught by the tests), never a silent new series.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from pegbot import __version__
from pegbot.book import ASK, BID, OrderBook
from pegbot.market import Market, Side
from pegbot.metrics_http import MetricsServer, git_sha, start_metrics_server
from pegbot.metrics_table import (
    ALL_METRICS,
    AUTO_EXECUTION_RESULTS,
    BANDS_BPS,
    BOT_METRICS,
    BOT_STATES,
    DESK_METRICS,
    LIQUIDITY,
    ORDER_ACTIONS,
    PEG_METRICS,
    PNL_KINDS,
    REJECT_REASONS,
    RESYNC_REASONS,
    RISK_LEVELS,
    RISK_TRIGGERS,
    SIDES,
    STREAMS,
    MetricSpec,
)
from pegbot.timeunits import NS_PER_S

__all__ = [
    "Metrics",
    "MetricsServer",
    "git_sha",
    "start_metrics_server",
]


# -- the metrics object ---------------------------------------------------------------------


def _side(side: Side | str) -> str:
    if isinstance(side, Side):
        return "bid" if side is Side.BUY else "ask"
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES} or a Side, got {side!r}")
    return side


def _check(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    return value


class Metrics:
    """The metric objects of every table (:data:`ALL_METRICS`), on ``registry``.

    Attributes are the prometheus_client metric objects (public, for callers that need a
    label set the helper methods do not cover); the methods are the bot's vocabulary.

    Args:
        registry: Where the metrics are registered (a private registry if None).
    """

    # One attribute per table row (the tests hold the two to each other).
    fair_value: Gauge
    fair_state: Gauge
    fair_observed: Gauge
    fair_disagreement: Gauge
    fair_jump_pending: Gauge
    fair_jump_started: Gauge
    fair_jump_confirm_seconds: Gauge
    reference_rate: Gauge
    reference_updated: Gauge
    reference_errors: Counter
    arb_signals: Counter
    arb_suppressed: Counter
    arb_net_edge: Gauge
    arb_enabled: Gauge
    webhook_deliveries: Counter
    webhook_pending: Gauge
    build_info: Info
    state: Enum
    risk_level: Gauge
    risk_trigger_active: Gauge
    risk_transitions: Counter
    kill_switch: Gauge
    loop_last_run: Gauge
    quote_up: Gauge
    quote_orders: Gauge
    mid_price: Gauge
    peg_deviation: Gauge
    market_spread: Gauge
    quoted_spread: Gauge
    depth: Gauge
    book_last_update: Gauge
    book_confirmed: Gauge
    book_resyncs: Counter
    inventory: Gauge
    inventory_limit_ratio: Gauge
    pnl: Gauge
    fills: Counter
    fill_notional: Counter
    orders_submitted: Counter
    orders_cancelled: Counter
    order_rejects: Counter
    rate_limit_used: Gauge
    venue_blocked_until: Gauge
    ledger_mismatches: Counter
    arb_auto_executions: Counter
    tick_to_quote: Histogram
    order_ack_latency: Histogram
    ws_connected: Gauge
    ws_reconnects: Counter
    scorecard_observed: Counter
    scorecard_two_sided: Counter
    scorecard_two_sided_ratio: Gauge
    scorecard_one_sided: Gauge
    scorecard_side_empty: Gauge
    scorecard_obligation_ratio: Gauge
    scorecard_obligation_met: Gauge
    scorecard_jumps: Counter
    scorecard_jump_pull: Gauge
    scorecard_jump_requote: Gauge
    scorecard_jump_waiting: Gauge
    scorecard_wrong_side_fills: Counter
    scorecard_orders_per_fill: Gauge
    scorecard_capacity_min_levels: Gauge
    scorecard_capacity_min_lots: Gauge
    signal_transitions: Counter
    signal_last_transition: Gauge
    signals_open: Gauge
    desk_actions: Counter
    round_trips: Counter
    round_trip_pnl: Gauge
    desk_balance: Gauge
    desk_band: Gauge
    desk_out_of_band: Gauge
    rebalance_proposals: Counter
    rebalance_infeasible: Counter
    capacity_levels: Gauge
    capacity_lots: Gauge
    chain_enabled: Gauge
    chain_supply: Gauge
    chain_wallet_balance: Gauge
    chain_block: Gauge
    chain_polled: Gauge
    chain_transfers: Counter
    chain_confirmations: Counter
    chain_unexplained: Counter
    chain_unexplained_base: Gauge
    chain_errors: Counter

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create every metric on ``registry``; call the ``init_*`` methods to add label sets."""
        self.registry = registry if registry is not None else CollectorRegistry()
        # Current risk level per (venue, symbol), to count transitions.
        self._levels: dict[tuple[str, str], str] = {}
        self._risk_published: dict[tuple[str, str], tuple[str, frozenset[str]]] = {}
        for spec in ALL_METRICS:
            setattr(self, spec.attr, spec.create(self.registry))

    def _init_labels(self, specs: Iterable[MetricSpec], given: Mapping[str, Iterable[str]]) -> None:
        """Create every label set of ``specs``: ``given`` values and each bounded label's."""
        for spec in specs:
            metric = getattr(self, spec.attr)
            for values in spec.label_sets(given):
                metric.labels(*values)

    # -- initialisation -------------------------------------------------------------------

    def add_process_collectors(self) -> None:
        """Add ``process_*``, ``python_gc_*`` and ``python_info`` (the dashboard's Process row).

        A no-op on prometheus_client's global registry, which has them already.
        """
        if self.registry is REGISTRY:
            return
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def set_build_info(
        self, mode: str, version: str = __version__, git_sha_: str | None = None
    ) -> None:
        """Publish ``pegbot_build_info{version,git_sha,mode} 1``.

        Args:
            mode: ``dry-run``, ``paper``, ``testnet``, ``live`` (or ``demo``, ``backtest``).
            version: Package version.
            git_sha_: Commit; found with git next to the package when None (``unknown`` if not).
        """
        sha = git_sha_ if git_sha_ is not None else git_sha()
        self.build_info.info({"version": version, "git_sha": sha, "mode": mode})

    def init_bot(self, venues: Iterable[str], symbols: Iterable[str]) -> None:
        """Initialise every label set of :data:`BOT_METRICS` for these venues and symbols.

        Every venue is paired with every symbol. The state starts as ``starting``, the risk
        level as ``normal``. Quote-up and connection gauges start at 0 (not quoting, not
        connected) until the bot says otherwise.
        """
        venues, symbols = tuple(venues), tuple(symbols)
        self.state.state("starting")
        self._init_labels(BOT_METRICS, {"venue": venues, "symbol": symbols, "source": ()})
        for venue, symbol in itertools.product(venues, symbols):
            self.risk_level.labels(venue=venue, symbol=symbol, level="normal").set(1)

    def init_peg(self, venue: str, symbol: str, sources: Iterable[str]) -> None:
        """Initialise every label set of :data:`PEG_METRICS` to zero."""
        given = {"venue": (venue,), "symbol": (symbol,), "source": tuple(sources)}
        self._init_labels(PEG_METRICS, given)

    def init_desk(self, venues: Iterable[str], wallets: Iterable[str] = ()) -> None:
        """Initialise every label set of :data:`DESK_METRICS` (call when the desk loop runs).

        Args:
            venues: The venues whose ladder capacity is exported (their series appear with
                the first measurement: a capacity of 0 would page).
            wallets: Names of the chain watcher's wallets (``[desk.chain] wallets``).
        """
        self._init_labels(DESK_METRICS, {"venue": tuple(venues), "wallet": tuple(wallets)})

    # -- status ---------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        """Set the lifecycle state (one of :data:`BOT_STATES`)."""
        self.state.state(_check(state, BOT_STATES, "state"))

    def set_risk(
        self, venue: str, symbol: str, level: str, active_triggers: Iterable[str] = ()
    ) -> None:
        """Publish the risk level and which triggers are active; counts a level change.

        Args:
            venue: Venue label.
            symbol: Symbol label.
            level: One of :data:`RISK_LEVELS` (``RiskLevel.label``).
            active_triggers: Names of the active triggers (``RiskState.reasons``).
        """
        _check(level, RISK_LEVELS, "level")
        active = set(active_triggers)
        unknown = active - set(RISK_TRIGGERS)
        if unknown:
            raise ValueError(f"unknown risk triggers {sorted(unknown)}")
        vs = {"venue": venue, "symbol": symbol}
        key = (venue, symbol)
        if self._levels.get(key, "normal") != level:
            self.risk_transitions.labels(**vs, level=level).inc()
        self._levels[key] = level
        published = (level, frozenset(active))
        if self._risk_published.get(key) == published:
            return  # called every decision: the gauges already say so
        self._risk_published[key] = published
        for name in RISK_LEVELS:
            self.risk_level.labels(**vs, level=name).set(1 if name == level else 0)
        for trigger in RISK_TRIGGERS:
            self.risk_trigger_active.labels(**vs, trigger=trigger).set(trigger in active)

    def set_kill_switch(self, venue: str, engaged: bool) -> None:
        """Publish whether the kill switch is engaged on ``venue``."""
        self.kill_switch.labels(venue=venue).set(1 if engaged else 0)

    def heartbeat(self, now_ns: int) -> None:
        """Stamp the main loop's heartbeat (call once per loop iteration)."""
        self.loop_last_run.set(now_ns / NS_PER_S)

    # -- book and quotes ------------------------------------------------------------------

    def observe_book(
        self,
        venue: str,
        symbol: str,
        book: OrderBook,
        market: Market,
        fair_ticks: float | None,
        now_ns: int,
        confirmed_ns: int | None = None,
    ) -> None:
        """Publish mid, market spread, peg deviation and market depth from a synced book.

        Depth bands are measured around ``fair_ticks`` (around the mid when there is no fair
        value, so the depth panel still shows the book); peg deviation is left unchanged
        without a fair value (the fair-value state says why). The book's last update is
        stamped with ``book.local_ts`` (when the last venue message was applied), so a book
        that stopped moving ages even while this is called every loop; ``now_ns`` is used only
        for a book that carries no time. ``confirmed_ns`` is when the feed last confirmed the
        book live (a quiet book does not change, yet is current); it feeds the book-stale alert.
        """
        vs = {"venue": venue, "symbol": symbol}
        self.book_last_update.labels(**vs).set((book.local_ts or now_ns) / NS_PER_S)
        if confirmed_ns:
            self.book_confirmed.labels(**vs).set(confirmed_ns / NS_PER_S)
        mid = book.mid_ticks()
        spread = book.spread_bps()
        if mid is not None:
            self.mid_price.labels(**vs).set(mid * float(market.tick_size))
        if spread is not None:
            self.market_spread.labels(**vs).set(spread)
        if mid is not None and fair_ticks:
            self.peg_deviation.labels(**vs).set((mid - fair_ticks) / fair_ticks * 1e4)
        ref = fair_ticks or mid
        if ref is None:
            return
        for side, name in ((BID, "bid"), (ASK, "ask")):
            for band in BANDS_BPS:
                _, tick_units = book.depth_within(side, ref, band)
                self.depth.labels(**vs, side=name, band_bps=str(band), owner="market").set(
                    float(market.notional_of_tick_units(tick_units))
                )

    def observe_quotes(
        self,
        venue: str,
        symbol: str,
        orders: Iterable[tuple[Side, int, int]],
        market: Market,
        fair_ticks: float | None,
    ) -> None:
        """Publish our resting orders: count and quote-up per side, spread, depth by band.

        Args:
            venue: Venue label.
            symbol: Symbol label.
            orders: Our live orders as ``(side, price_ticks, remaining_qty_units)``.
            market: The market spec (tick size, for notionals).
            fair_ticks: Fair value in ticks; bands are measured from it (skipped if None).

        A side is "up" when it has at least one resting order; callers with a stricter policy
        (e.g. within the peg band) set :attr:`quote_up` themselves afterwards.
        """
        vs = {"venue": venue, "symbol": symbol}
        per_side: dict[str, list[tuple[int, int]]] = {"bid": [], "ask": []}
        for side, ticks, units in orders:
            per_side[_side(side)].append((ticks, units))
        for name, levels in per_side.items():
            self.quote_orders.labels(**vs, side=name).set(len(levels))
            self.quote_up.labels(**vs, side=name).set(1 if levels else 0)
            if fair_ticks is None:
                continue
            for band in BANDS_BPS:
                half = fair_ticks * band / 1e4
                tick_units = sum(t * u for t, u in levels if abs(t - fair_ticks) <= half)
                self.depth.labels(**vs, side=name, band_bps=str(band), owner="self").set(
                    float(market.notional_of_tick_units(tick_units))
                )
        bids, asks = per_side["bid"], per_side["ask"]
        if bids and asks:
            bb = max(t for t, _ in bids)
            ba = min(t for t, _ in asks)
            self.quoted_spread.labels(**vs).set((ba - bb) * 20_000 / (ba + bb))
        else:
            self.quoted_spread.labels(**vs).set(0)

    def book_resync(self, venue: str, symbol: str, reason: str) -> None:
        """Count a book resync (``reason`` in :data:`RESYNC_REASONS`)."""
        _check(reason, RESYNC_REASONS, "resync reason")
        self.book_resyncs.labels(venue=venue, symbol=symbol, reason=reason).inc()

    # -- inventory and PnL ----------------------------------------------------------------

    def set_inventory(self, venue: str, symbol: str, base: float, limit_ratio: float) -> None:
        """Publish inventory (base units as a float) and its 0..1 closeness to a limit."""
        self.inventory.labels(venue=venue, symbol=symbol).set(base)
        self.inventory_limit_ratio.labels(venue=venue, symbol=symbol).set(limit_ratio)

    def set_pnl(self, venue: str, symbol: str, pnl: Mapping[str, float]) -> None:
        """Publish PnL by kind (keys from :data:`PNL_KINDS`; missing kinds are unchanged)."""
        for kind, value in pnl.items():
            _check(kind, PNL_KINDS, "pnl kind")
            self.pnl.labels(venue=venue, symbol=symbol, kind=kind).set(value)

    # -- execution ------------------------------------------------------------------------

    def order_submitted(self, venue: str, symbol: str, side: Side | str) -> None:
        """Count an order sent."""
        self.orders_submitted.labels(venue=venue, symbol=symbol, side=_side(side)).inc()

    def order_cancelled(self, venue: str, symbol: str, side: Side | str) -> None:
        """Count a cancel sent."""
        self.orders_cancelled.labels(venue=venue, symbol=symbol, side=_side(side)).inc()

    def order_rejected(self, venue: str, symbol: str, reason: str) -> None:
        """Count a refused or failed request (``VenueError.reason``)."""
        _check(reason, REJECT_REASONS, "reject reason")
        self.order_rejects.labels(venue=venue, symbol=symbol, reason=reason).inc()

    def fill(
        self, venue: str, symbol: str, side: Side | str, liquidity: str, notional_quote: float
    ) -> None:
        """Count one fill of ours and its notional in the quote currency."""
        s = _side(side)
        _check(liquidity, LIQUIDITY, "liquidity")
        self.fills.labels(venue=venue, symbol=symbol, side=s, liquidity=liquidity).inc()
        self.fill_notional.labels(venue=venue, symbol=symbol, side=s).inc(notional_quote)

    def set_rate_limit(self, venue: str, used_ratio: float) -> None:
        """Publish used request weight over the limit (0..1, above 1 when banned)."""
        self.rate_limit_used.labels(venue=venue).set(used_ratio)

    def set_venue_blocked(self, venue: str, until_ns: int) -> None:
        """Publish the end of the venue's rate-limit block or ban (0: none known)."""
        self.venue_blocked_until.labels(venue=venue).set(until_ns / NS_PER_S)

    def ledger_mismatch(self, venue: str) -> None:
        """Count a ledger found off the venue's balances (and re-synced)."""
        self.ledger_mismatches.labels(venue=venue).inc()

    def auto_execution(self, venue: str, result: str) -> None:
        """Count one auto-execution outcome (``result`` in :data:`AUTO_EXECUTION_RESULTS`)."""
        _check(result, AUTO_EXECUTION_RESULTS, "auto-execution result")
        self.arb_auto_executions.labels(venue=venue, result=result).inc()

    # -- latency and connectivity ---------------------------------------------------------

    def observe_tick_to_quote(self, venue: str, symbol: str, seconds: float) -> None:
        """Record the time from a book update to the order request it caused."""
        self.tick_to_quote.labels(venue=venue, symbol=symbol).observe(seconds)

    def observe_ack(self, venue: str, action: str, seconds: float) -> None:
        """Record an order request's round trip (``action`` in :data:`ORDER_ACTIONS`)."""
        _check(action, ORDER_ACTIONS, "action")
        self.order_ack_latency.labels(venue=venue, action=action).observe(seconds)

    def set_ws_connected(self, venue: str, stream: str, connected: bool) -> None:
        """Publish a stream's connection state (``stream`` in :data:`STREAMS`)."""
        _check(stream, STREAMS, "stream")
        self.ws_connected.labels(venue=venue, stream=stream).set(1 if connected else 0)

    def ws_reconnected(self, venue: str, stream: str) -> None:
        """Count a reconnection of a stream after a drop."""
        _check(stream, STREAMS, "stream")
        self.ws_reconnects.labels(venue=venue, stream=stream).inc()
