"""Every Prometheus metric pegbot exports, on one injectable registry.

Conventions (see the observability notes): ``pegbot_`` prefix, base units, counters end in
``_total`` (prometheus_client appends it), price distances in ``_bps``, staleness as
``…_timestamp_seconds`` gauges, bounded labels only, and every label set initialised at start
so ``rate()`` sees the first increment and quiet panels show zero, not "no data".

How the bot uses it::

    metrics = Metrics()                       # a private registry; or Metrics(REGISTRY)
    metrics.add_process_collectors()          # process_* and python_gc_* for the Process row
    metrics.set_build_info(mode="paper")
    metrics.init_bot(["binance"], ["KGST/USDT"])
    metrics.init_peg("binance", "KGST/USDT", ["nbkr", "static"])
    server = start_metrics_server(metrics.registry, port=9464)   # 127.0.0.1 by default
    ...
    metrics.observe_book("binance", "KGST/USDT", book, market, fair_ticks, now_ns)
    metrics.order_submitted("binance", "KGST/USDT", Side.BUY)
    metrics.heartbeat(now_ns)

Time is injected: every method that stamps a time takes ``now_ns`` (int ns UTC) from the caller,
so this module never reads the clock. Label values outside the bounded sets below raise
``ValueError`` (a programming error, caught by the tests), never a silent new series.
"""

from __future__ import annotations

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
from pegbot.execution.errors import REASONS as REJECT_REASONS
from pegbot.execution.risk import TRIGGERS as RISK_TRIGGERS
from pegbot.market import Market, Side
from pegbot.metrics_http import MetricsServer, git_sha, start_metrics_server
from pegbot.timeunits import NS_PER_S

__all__ = [
    "ARB_DIRECTIONS",
    "ARB_STATES",
    "ARB_SUPPRESS_REASONS",
    "BANDS_BPS",
    "BOT_STATES",
    "FAIR_STATES",
    "LIQUIDITY",
    "ORDER_ACTIONS",
    "OWNERS",
    "PNL_KINDS",
    "REFERENCE_ERROR_REASONS",
    "REJECT_REASONS",
    "RESYNC_REASONS",
    "RISK_LEVELS",
    "RISK_TRIGGERS",
    "SIDES",
    "STREAMS",
    "WEBHOOK_RESULTS",
    "Metrics",
    "MetricsServer",
    "git_sha",
    "start_metrics_server",
]

#: Values of the ``state`` label of the fair-value state gauge.
FAIR_STATES = ("ok", "stale", "disputed", "jump")
#: Values of the ``direction`` label of the arbitrage metrics.
ARB_DIRECTIONS = ("mint_and_sell", "buy_and_redeem")
#: Values of the ``state`` label of ``pegbot_arb_signals_total``.
ARB_STATES = ("proposed", "approved", "executed", "expired", "rejected")
#: Values of the ``reason`` label of ``pegbot_arb_signals_suppressed_total``.
ARB_SUPPRESS_REASONS = ("cooldown", "live_signal", "daily_cap", "inventory", "below_min_size")
#: Values of the ``reason`` label of ``pegbot_reference_errors_total``.
REFERENCE_ERROR_REASONS = ("http", "timeout", "parse", "missing", "invalid", "io")
#: Values of the ``result`` label of ``pegbot_webhook_deliveries_total``.
WEBHOOK_RESULTS = ("delivered", "retry", "dead")

#: Lifecycle of the bot process (``pegbot_state``).
BOT_STATES = ("starting", "quoting", "paused", "killed", "stopping")
#: Risk levels (:class:`pegbot.execution.risk.RiskLevel` labels), ``pegbot_risk_level``.
RISK_LEVELS = ("normal", "defend", "freeze", "halt")
#: ``side`` label values: the book side, bid (buy) or ask (sell).
SIDES = ("bid", "ask")
#: ``liquidity`` label values of fills.
LIQUIDITY = ("maker", "taker")
#: ``band_bps`` label values of the depth gauges: distance from fair either way, in bps.
BANDS_BPS = (10, 25, 50, 100)
#: ``owner`` label values of the depth gauges.
OWNERS = ("self", "market")
#: ``kind`` label values of ``pegbot_pnl_quote``.
PNL_KINDS = ("realized", "unrealized", "fees")
#: ``stream`` label values of the WebSocket metrics.
STREAMS = ("depth", "trades", "user")
#: ``reason`` label values of ``pegbot_book_resyncs_total``.
RESYNC_REASONS = ("gap", "reconnect", "crossed", "stale", "bad_message")
#: ``action`` label values of ``pegbot_order_ack_latency_seconds``.
ORDER_ACTIONS = ("submit", "cancel", "cancel_all")

# Book update -> order sent: sub-millisecond on a quiet loop, up to a second when it stalls.
TICK_TO_QUOTE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Venue round trips: a few ms on loopback, tens to hundreds of ms to Binance, 10 s timeouts.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
    """The metric objects, created on ``registry`` (a private one if None).

    Attributes are the prometheus_client metric objects (public, for callers that need a
    label set the helper methods do not cover); the methods are the bot's vocabulary.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create every metric on ``registry``; call the ``init_*`` methods to add label sets."""
        self.registry = registry if registry is not None else CollectorRegistry()
        # Current risk level per (venue, symbol), to count transitions.
        self._levels: dict[tuple[str, str], str] = {}
        self._init_peg_metrics()
        self._init_bot_metrics()

    # -- metric definitions ---------------------------------------------------------------

    def _init_peg_metrics(self) -> None:
        r = self.registry
        vs = ["venue", "symbol"]
        self.fair_value = Gauge(
            "pegbot_fair_value_quote",
            "KGST fair price in the quote currency (last computed, even when not ok).",
            vs,
            registry=r,
        )
        self.fair_state = Gauge(
            "pegbot_fair_value_state",
            "1 for the fair value's current state (ok/stale/disputed/jump), 0 for the others.",
            [*vs, "state"],
            registry=r,
        )
        self.fair_observed = Gauge(
            "pegbot_fair_value_observed_timestamp_seconds",
            "Observation time of the oldest rate behind the fair value (Unix seconds).",
            vs,
            registry=r,
        )
        self.fair_disagreement = Gauge(
            "pegbot_fair_value_disagreement_bps",
            "Spread between fresh rate sources, (max - min) / median, in bps.",
            vs,
            registry=r,
        )
        self.reference_rate = Gauge(
            "pegbot_reference_rate",
            "Last rate a reference source gave (KGS per USD, or USD per USDT).",
            ["source"],
            registry=r,
        )
        self.reference_updated = Gauge(
            "pegbot_reference_last_update_timestamp_seconds",
            "When a reference source last answered with a valid rate (Unix seconds).",
            ["source"],
            registry=r,
        )
        self.reference_errors = Counter(
            "pegbot_reference_errors",
            "Failed fetches of a reference source, by reason.",
            ["source", "reason"],
            registry=r,
        )
        # -- arbitrage signals (pegbot.peg.signals) ---------------------------------------
        self.arb_signals = Counter(
            "pegbot_arb_signals",
            "Mint/redeem signals entering a state.",
            ["direction", "state"],
            registry=r,
        )
        self.arb_suppressed = Counter(
            "pegbot_arb_signals_suppressed",
            "Evaluations where an edge existed but no signal was raised, by reason.",
            ["direction", "reason"],
            registry=r,
        )
        self.arb_net_edge = Gauge(
            "pegbot_arb_signal_net_edge_bps",
            "Net edge of the last proposed signal, in bps of the fair notional.",
            ["direction"],
            registry=r,
        )
        self.arb_enabled = Gauge(
            "pegbot_arb_signals_enabled",
            "1 while signals may be raised (fair value ok), else 0.",
            vs,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "pegbot_webhook_deliveries",
            "Webhook delivery attempts by result.",
            ["result"],
            registry=r,
        )
        self.webhook_pending = Gauge(
            "pegbot_webhook_pending_deliveries",
            "Signal events waiting in the journal for webhook delivery.",
            registry=r,
        )

    def _init_bot_metrics(self) -> None:
        r = self.registry
        vs = ["venue", "symbol"]
        # -- status ---------------------------------------------------------------------
        self.build_info = Info(
            "pegbot_build", "Version, git commit and trading mode of this process.", registry=r
        )
        self.state = Enum(
            "pegbot_state", "Lifecycle state of the bot.", states=list(BOT_STATES), registry=r
        )
        self.risk_level = Gauge(
            "pegbot_risk_level",
            "1 for the risk layer's current level (normal/defend/freeze/halt), 0 for the others.",
            [*vs, "level"],
            registry=r,
        )
        self.risk_trigger_active = Gauge(
            "pegbot_risk_trigger_active",
            "1 while a risk trigger is active (names as in pegbot.execution.risk.TRIGGERS).",
            [*vs, "trigger"],
            registry=r,
        )
        self.risk_transitions = Counter(
            "pegbot_risk_transitions",
            "Changes of risk level, by the level entered.",
            [*vs, "level"],
            registry=r,
        )
        self.kill_switch = Gauge(
            "pegbot_kill_switch_engaged",
            "1 while the kill switch is engaged (latched until pegbot resume).",
            ["venue"],
            registry=r,
        )
        self.loop_last_run = Gauge(
            "pegbot_loop_last_run_timestamp_seconds",
            "When the bot's main loop last completed an iteration (Unix seconds).",
            registry=r,
        )
        # -- quoting and the book --------------------------------------------------------
        self.quote_up = Gauge(
            "pegbot_quote_up",
            "1 while our quote on this side rests on the book within policy, else 0.",
            [*vs, "side"],
            registry=r,
        )
        self.quote_orders = Gauge(
            "pegbot_quote_orders",
            "Our resting orders on this side.",
            [*vs, "side"],
            registry=r,
        )
        self.mid_price = Gauge(
            "pegbot_mid_price_quote",
            "Market mid price in the quote currency.",
            vs,
            registry=r,
        )
        self.peg_deviation = Gauge(
            "pegbot_peg_deviation_bps",
            "(market mid - fair) / fair, in bps; positive when KGST trades above the peg.",
            vs,
            registry=r,
        )
        self.market_spread = Gauge(
            "pegbot_market_spread_bps",
            "Market best ask minus best bid over the mid, in bps.",
            vs,
            registry=r,
        )
        self.quoted_spread = Gauge(
            "pegbot_quoted_spread_bps",
            "Our best ask minus our best bid over their mid, in bps (0 when one side is out).",
            vs,
            registry=r,
        )
        self.depth = Gauge(
            "pegbot_depth_quote",
            "Notional resting within band_bps of fair on a side, in the quote currency.",
            [*vs, "side", "band_bps", "owner"],
            registry=r,
        )
        self.book_last_update = Gauge(
            "pegbot_book_last_update_timestamp_seconds",
            "Local time of the last book update applied (Unix seconds).",
            vs,
            registry=r,
        )
        self.book_confirmed = Gauge(
            "pegbot_book_confirmed_timestamp_seconds",
            "Local time the book was last confirmed live: a venue message, a resync, or a REST "
            "probe finding no change on a quiet book (Unix seconds).",
            vs,
            registry=r,
        )
        self.book_resyncs = Counter(
            "pegbot_book_resyncs",
            "Times the book was discarded and rebuilt from a snapshot, by reason.",
            [*vs, "reason"],
            registry=r,
        )
        # -- inventory and PnL -----------------------------------------------------------
        self.inventory = Gauge("pegbot_inventory_base", "Base asset held (KGST).", vs, registry=r)
        self.inventory_limit_ratio = Gauge(
            "pegbot_inventory_limit_ratio",
            "How close inventory is to its nearest hard limit: 0 at target, 1 at the limit.",
            vs,
            registry=r,
        )
        self.pnl = Gauge(
            "pegbot_pnl_quote",
            "Profit and loss since start in the quote currency, by kind (fees are a cost > 0).",
            [*vs, "kind"],
            registry=r,
        )
        # -- execution -------------------------------------------------------------------
        self.fills = Counter(
            "pegbot_fills", "Fills of our orders.", [*vs, "side", "liquidity"], registry=r
        )
        self.fill_notional = Counter(
            "pegbot_fill_notional_quote",
            "Notional of our fills in the quote currency.",
            [*vs, "side"],
            registry=r,
        )
        self.orders_submitted = Counter(
            "pegbot_orders_submitted", "Orders sent to the venue.", [*vs, "side"], registry=r
        )
        self.orders_cancelled = Counter(
            "pegbot_orders_cancelled", "Cancels sent to the venue.", [*vs, "side"], registry=r
        )
        self.order_rejects = Counter(
            "pegbot_order_rejects",
            "Requests the venue refused or failed, by normalised reason.",
            [*vs, "reason"],
            registry=r,
        )
        self.arb_auto_executions = Counter(
            "pegbot_arb_auto_executions",
            "Arbitrage exchange legs sent by auto-execution, by venue and result.",
            ["venue", "result"],
            registry=r,
        )
        self.rate_limit_used = Gauge(
            "pegbot_rate_limit_used_ratio",
            "Request weight used in the venue's window over its limit.",
            ["venue"],
            registry=r,
        )
        # -- latency and connectivity ----------------------------------------------------
        self.tick_to_quote = Histogram(
            "pegbot_tick_to_quote_seconds",
            "From the book update that caused it to the order request being sent.",
            vs,
            buckets=TICK_TO_QUOTE_BUCKETS,
            registry=r,
        )
        self.order_ack_latency = Histogram(
            "pegbot_order_ack_latency_seconds",
            "Round trip of an order request to the venue's acknowledgement, by action.",
            ["venue", "action"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.ws_connected = Gauge(
            "pegbot_ws_connected",
            "1 while the WebSocket stream is connected.",
            ["venue", "stream"],
            registry=r,
        )
        self.ws_reconnects = Counter(
            "pegbot_ws_reconnects",
            "WebSocket reconnections after a drop.",
            ["venue", "stream"],
            registry=r,
        )

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
        """Initialise every label set of the bot metrics for these venues and symbols.

        Every venue is paired with every symbol. The state starts as ``starting``, the risk
        level as ``normal``. Quote-up and connection gauges start at 0 (not quoting, not
        connected) until the bot says otherwise.
        """
        venues, symbols = tuple(venues), tuple(symbols)
        self.state.state("starting")
        for venue in venues:
            self.kill_switch.labels(venue=venue)
            self.rate_limit_used.labels(venue=venue)
            for action in ORDER_ACTIONS:
                self.order_ack_latency.labels(venue=venue, action=action)
            for stream in STREAMS:
                self.ws_connected.labels(venue=venue, stream=stream)
                self.ws_reconnects.labels(venue=venue, stream=stream)
            for symbol in symbols:
                vs = {"venue": venue, "symbol": symbol}
                for g in (
                    self.mid_price,
                    self.peg_deviation,
                    self.market_spread,
                    self.quoted_spread,
                    self.book_last_update,
                    self.book_confirmed,
                    self.inventory,
                    self.inventory_limit_ratio,
                ):
                    g.labels(**vs)
                self.tick_to_quote.labels(**vs)
                for level in RISK_LEVELS:
                    self.risk_level.labels(**vs, level=level).set(1 if level == "normal" else 0)
                    self.risk_transitions.labels(**vs, level=level)
                for trigger in RISK_TRIGGERS:
                    self.risk_trigger_active.labels(**vs, trigger=trigger)
                for kind in PNL_KINDS:
                    self.pnl.labels(**vs, kind=kind)
                for reason in REJECT_REASONS:
                    self.order_rejects.labels(**vs, reason=reason)
                for reason in RESYNC_REASONS:
                    self.book_resyncs.labels(**vs, reason=reason)
                for side in SIDES:
                    self.quote_up.labels(**vs, side=side)
                    self.quote_orders.labels(**vs, side=side)
                    self.fill_notional.labels(**vs, side=side)
                    self.orders_submitted.labels(**vs, side=side)
                    self.orders_cancelled.labels(**vs, side=side)
                    for liq in LIQUIDITY:
                        self.fills.labels(**vs, side=side, liquidity=liq)
                    for band in BANDS_BPS:
                        for owner in OWNERS:
                            self.depth.labels(**vs, side=side, band_bps=str(band), owner=owner)

    def init_peg(self, venue: str, symbol: str, sources: Iterable[str]) -> None:
        """Initialise every label set of the fair-value and signal metrics to zero."""
        self.fair_value.labels(venue=venue, symbol=symbol)
        self.fair_observed.labels(venue=venue, symbol=symbol)
        self.fair_disagreement.labels(venue=venue, symbol=symbol)
        self.arb_enabled.labels(venue=venue, symbol=symbol)
        for state in FAIR_STATES:
            self.fair_state.labels(venue=venue, symbol=symbol, state=state)
        for source in sources:
            self.reference_rate.labels(source=source)
            self.reference_updated.labels(source=source)
            for reason in REFERENCE_ERROR_REASONS:
                self.reference_errors.labels(source=source, reason=reason)
        for direction in ARB_DIRECTIONS:
            self.arb_net_edge.labels(direction=direction)
            for state in ARB_STATES:
                self.arb_signals.labels(direction=direction, state=state)
            for reason in ARB_SUPPRESS_REASONS:
                self.arb_suppressed.labels(direction=direction, reason=reason)
        for result in WEBHOOK_RESULTS:
            self.webhook_deliveries.labels(result=result)

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
        if self._levels.get((venue, symbol), "normal") != level:
            self.risk_transitions.labels(**vs, level=level).inc()
        self._levels[(venue, symbol)] = level
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

    def auto_execution(self, venue: str, result: str) -> None:
        """Count one auto-execution outcome (``executed``, ``error``, ``skipped_<reason>``…)."""
        self.arb_auto_executions.labels(venue=venue, result=result).inc()

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
