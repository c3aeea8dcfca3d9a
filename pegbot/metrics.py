"""Every Prometheus metric pegbot exports, declared as data, on one injectable registry.

Each metric is one row of :data:`PEG_METRICS` or :data:`BOT_METRICS` (attribute, type, name,
labels, help, buckets where needed); :class:`Metrics` creates them all on its registry and its
methods are the bot's vocabulary for them. The conventions: ``pegbot_`` prefix, base units,
counters end in ``_total`` (prometheus_client appends it), price distances in ``_bps``,
staleness as ``…_timestamp_seconds`` gauges, bounded labels only, and every label set
initialised at start (the ``init_*`` methods, from the same rows) so ``rate()`` sees the first
increment and quiet panels show zero, not "no data".

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

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
from pegbot.peg.fair_state import FAIR_STATES
from pegbot.timeunits import NS_PER_S

__all__ = [
    "ARB_DIRECTIONS",
    "ARB_STATES",
    "ARB_SUPPRESS_REASONS",
    "AUTO_EXECUTION_RESULTS",
    "BANDS_BPS",
    "BOT_METRICS",
    "BOT_STATES",
    "FAIR_STATES",
    "LIQUIDITY",
    "OBLIGATIONS",
    "ORDER_ACTIONS",
    "OWNERS",
    "PEG_METRICS",
    "PNL_KINDS",
    "REFERENCE_ERROR_REASONS",
    "REJECT_REASONS",
    "RESYNC_REASONS",
    "RISK_LEVELS",
    "RISK_TRIGGERS",
    "SIDES",
    "STREAMS",
    "WEBHOOK_RESULTS",
    "MetricSpec",
    "Metrics",
    "MetricsServer",
    "git_sha",
    "start_metrics_server",
]

# -- label values ---------------------------------------------------------------------------

#: Values of the ``direction`` label of the arbitrage metrics.
ARB_DIRECTIONS = ("mint_and_sell", "buy_and_redeem", "rebalance_mint", "rebalance_redeem")
#: Values of the ``state`` label of ``pegbot_arb_signals_total``.
ARB_STATES = (
    "proposed",
    "approved",
    "executed",
    "expired",
    "rejected",
    "requested",
    "confirmed",
    "settled",
    "deposited",
    "failed",
)
#: Values of the ``reason`` label of ``pegbot_arb_signals_suppressed_total``.
ARB_SUPPRESS_REASONS = ("cooldown", "live_signal", "daily_cap", "inventory", "below_min_size")
#: Values of the ``reason`` label of ``pegbot_reference_errors_total``.
REFERENCE_ERROR_REASONS = ("http", "timeout", "parse", "missing", "invalid", "io")
#: Values of the ``result`` label of ``pegbot_webhook_deliveries_total``.
WEBHOOK_RESULTS = ("delivered", "retry", "dead")
#: Values of the ``result`` label of ``pegbot_arb_auto_executions_total``: the order's outcome,
#: or ``skipped_`` and why nothing was sent.
AUTO_EXECUTION_RESULTS = (
    "executed",
    "nothing_filled",
    "error",
    "skipped_kill_switch",
    "skipped_stopping",
    "skipped_fair_not_ok",
    "skipped_risk_not_normal",
    "skipped_venue_without_ioc",
    "skipped_max_signals_per_day",
    "skipped_caps_or_balance",
    "skipped_not_live",
)

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
ORDER_ACTIONS = ("submit", "cancel", "cancel_all", "replace", "amend")
#: ``obligation`` label values of the scorecard's gauges: each snapshot condition of
#: :mod:`pegbot.scorecard.config` and ``all`` of them.
OBLIGATIONS = ("two_sided", "spread", "depth_bid", "depth_ask", "all")

# Book update -> order sent: sub-millisecond on a quiet loop, up to a second when it stalls.
TICK_TO_QUOTE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Venue round trips: a few ms on loopback, tens to hundreds of ms to Binance, 10 s timeouts.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Labels whose values the caller names when it initialises (venues, symbols, rate sources).
_GIVEN_LABELS = frozenset({"venue", "symbol", "source"})
# Labels with one set of values wherever they appear; a row may name other values for its own.
_LABEL_VALUES: Mapping[str, tuple[str, ...]] = {
    "side": SIDES,
    "liquidity": LIQUIDITY,
    "band_bps": tuple(str(b) for b in BANDS_BPS),
    "owner": OWNERS,
    "kind": PNL_KINDS,
    "level": RISK_LEVELS,
    "trigger": RISK_TRIGGERS,
    "action": ORDER_ACTIONS,
    "obligation": OBLIGATIONS,
    "stream": STREAMS,
    "direction": ARB_DIRECTIONS,
}

# -- the metric table -----------------------------------------------------------------------

_Kind = type[Counter] | type[Gauge] | type[Histogram] | type[Info] | type[Enum]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric.

    Attributes:
        attr: The :class:`Metrics` attribute holding it.
        kind: Its prometheus_client class.
        name: The exported name (a counter's without ``_total``, an info's without ``_info``).
        labels: Label names, in order.
        help: The HELP text.
        buckets: A histogram's bucket bounds (seconds).
        values: Values of a bounded label this metric uses other than the shared ones.
        states: An enum's states.
    """

    attr: str
    kind: _Kind
    name: str
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    states: tuple[str, ...] = ()

    def label_values(self, label: str) -> tuple[str, ...]:
        """The values ``label`` takes on this metric (bounded labels only)."""
        return self.values.get(label) or _LABEL_VALUES[label]

    def create(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram | Info | Enum:
        """The metric object, registered on ``registry``."""
        if self.kind is Histogram:
            return Histogram(
                self.name, self.help, self.labels, registry=registry, buckets=self.buckets
            )
        if self.kind is Enum:
            return Enum(self.name, self.help, self.labels, registry=registry, states=self.states)
        return self.kind(self.name, self.help, self.labels, registry=registry)


_VS = ("venue", "symbol")
_M = MetricSpec

#: Fair value, reference rates and arbitrage signals; :meth:`Metrics.init_peg` initialises them.
# fmt: off
PEG_METRICS: tuple[MetricSpec, ...] = (
    _M("fair_value", Gauge, "pegbot_fair_value_quote", _VS,
       "KGST fair price in the quote currency (last computed, even when not ok)."),
    _M("fair_state", Gauge, "pegbot_fair_value_state", (*_VS, "state"),
       "1 for the fair value's current state (ok/stale/disputed/jump), 0 for the others.",
       values={"state": FAIR_STATES}),
    _M("fair_observed", Gauge, "pegbot_fair_value_observed_timestamp_seconds", _VS,
       "Observation time of the oldest rate behind the fair value (Unix seconds)."),
    _M("fair_disagreement", Gauge, "pegbot_fair_value_disagreement_bps", _VS,
       "Spread between fresh rate sources, (max - min) / median, in bps."),
    _M("fair_jump_pending", Gauge, "pegbot_fair_jump_pending", _VS,
       "1 while a jump of the fair price waits for confirmation (quotes pulled), else 0."),
    _M("fair_jump_started", Gauge, "pegbot_fair_jump_started_timestamp_seconds", _VS,
       "When the last jump of the fair price was first seen (Unix seconds; 0: none)."),
    _M("fair_jump_confirm_seconds", Gauge, "pegbot_fair_jump_confirm_seconds", _VS,
       "Seconds from the last jump to its confirmation (-1 while pending or if set aside)."),
    _M("reference_rate", Gauge, "pegbot_reference_rate", ("source",),
       "Last rate a reference source gave (KGS per USD, or USD per USDT)."),
    _M("reference_updated", Gauge, "pegbot_reference_last_update_timestamp_seconds", ("source",),
       "When a reference source last answered with a valid rate (Unix seconds)."),
    _M("reference_errors", Counter, "pegbot_reference_errors", ("source", "reason"),
       "Failed fetches of a reference source, by reason.",
       values={"reason": REFERENCE_ERROR_REASONS}),
    # -- arbitrage signals (pegbot.peg.signals) --
    _M("arb_signals", Counter, "pegbot_arb_signals", ("direction", "state"),
       "Mint/redeem signals entering a state.",
       values={"state": ARB_STATES}),
    _M("arb_suppressed", Counter, "pegbot_arb_signals_suppressed", ("direction", "reason"),
       "Evaluations where an edge existed but no signal was raised, by reason.",
       values={"reason": ARB_SUPPRESS_REASONS}),
    _M("arb_net_edge", Gauge, "pegbot_arb_signal_net_edge_bps", ("direction",),
       "Net edge of the last proposed signal, in bps of the fair notional."),
    _M("arb_enabled", Gauge, "pegbot_arb_signals_enabled", _VS,
       "1 while signals may be raised (fair value ok), else 0."),
    _M("webhook_deliveries", Counter, "pegbot_webhook_deliveries", ("result",),
       "Webhook delivery attempts by result.",
       values={"result": WEBHOOK_RESULTS}),
    _M("webhook_pending", Gauge, "pegbot_webhook_pending_deliveries", (),
       "Signal events waiting in the journal for webhook delivery."),
)

#: The bot's status, book, quotes, inventory, execution and connectivity; :meth:`Metrics.init_bot`
#: initialises them.
BOT_METRICS: tuple[MetricSpec, ...] = (
    # -- status --
    _M("build_info", Info, "pegbot_build", (),
       "Version, git commit and trading mode of this process."),
    _M("state", Enum, "pegbot_state", (),
       "Lifecycle state of the bot.",
       states=BOT_STATES),
    _M("risk_level", Gauge, "pegbot_risk_level", (*_VS, "level"),
       "1 for the risk layer's current level (normal/defend/freeze/halt), 0 for the others."),
    _M("risk_trigger_active", Gauge, "pegbot_risk_trigger_active", (*_VS, "trigger"),
       "1 while a risk trigger is active (names as in pegbot.execution.risk.TRIGGERS)."),
    _M("risk_transitions", Counter, "pegbot_risk_transitions", (*_VS, "level"),
       "Changes of risk level, by the level entered."),
    _M("kill_switch", Gauge, "pegbot_kill_switch_engaged", ("venue",),
       "1 while the kill switch is engaged (latched until pegbot resume)."),
    _M("loop_last_run", Gauge, "pegbot_loop_last_run_timestamp_seconds", (),
       "When the bot's main loop last completed an iteration (Unix seconds)."),
    # -- quoting and the book --
    _M("quote_up", Gauge, "pegbot_quote_up", (*_VS, "side"),
       "1 while our quote on this side rests on the book within policy, else 0."),
    _M("quote_orders", Gauge, "pegbot_quote_orders", (*_VS, "side"),
       "Our resting orders on this side."),
    _M("mid_price", Gauge, "pegbot_mid_price_quote", _VS,
       "Market mid price in the quote currency."),
    _M("peg_deviation", Gauge, "pegbot_peg_deviation_bps", _VS,
       "(market mid - fair) / fair, in bps; positive when KGST trades above the peg."),
    _M("market_spread", Gauge, "pegbot_market_spread_bps", _VS,
       "Market best ask minus best bid over the mid, in bps."),
    _M("quoted_spread", Gauge, "pegbot_quoted_spread_bps", _VS,
       "Our best ask minus our best bid over their mid, in bps (0 when one side is out)."),
    _M("depth", Gauge, "pegbot_depth_quote", (*_VS, "side", "band_bps", "owner"),
       "Notional resting within band_bps of fair on a side, in the quote currency."),
    _M("book_last_update", Gauge, "pegbot_book_last_update_timestamp_seconds", _VS,
       "Local time of the last book update applied (Unix seconds)."),
    _M("book_confirmed", Gauge, "pegbot_book_confirmed_timestamp_seconds", _VS,
       "Local time the book was last confirmed live: a venue message, a resync, or a REST "
       "probe finding no change on a quiet book (Unix seconds)."),
    _M("book_resyncs", Counter, "pegbot_book_resyncs", (*_VS, "reason"),
       "Times the book was discarded and rebuilt from a snapshot, by reason.",
       values={"reason": RESYNC_REASONS}),
    # -- inventory and PnL --
    _M("inventory", Gauge, "pegbot_inventory_base", _VS,
       "Base asset held (KGST)."),
    _M("inventory_limit_ratio", Gauge, "pegbot_inventory_limit_ratio", _VS,
       "How close inventory is to its nearest hard limit: 0 at target, 1 at the limit."),
    _M("pnl", Gauge, "pegbot_pnl_quote", (*_VS, "kind"),
       "Profit and loss since start in the quote currency, by kind (fees are a cost > 0)."),
    # -- execution --
    _M("fills", Counter, "pegbot_fills", (*_VS, "side", "liquidity"),
       "Fills of our orders."),
    _M("fill_notional", Counter, "pegbot_fill_notional_quote", (*_VS, "side"),
       "Notional of our fills in the quote currency."),
    _M("orders_submitted", Counter, "pegbot_orders_submitted", (*_VS, "side"),
       "Orders sent to the venue."),
    _M("orders_cancelled", Counter, "pegbot_orders_cancelled", (*_VS, "side"),
       "Cancels sent to the venue."),
    _M("order_rejects", Counter, "pegbot_order_rejects", (*_VS, "reason"),
       "Requests the venue refused or failed, by normalised reason.",
       values={"reason": REJECT_REASONS}),
    _M("rate_limit_used", Gauge, "pegbot_rate_limit_used_ratio", ("venue",),
       "Request weight used in the venue's window over its limit."),
    _M("venue_blocked_until", Gauge, "pegbot_venue_blocked_until_timestamp_seconds", ("venue",),
       "End of the venue's rate-limit block or ban (a 429's or 418's Retry-After): nothing "
       "is sent before it (Unix seconds; 0: never blocked)."),
    _M("ledger_mismatches", Counter, "pegbot_ledger_mismatches", ("venue",),
       "Housekeeping rounds where the ledger's holdings differed from the venue's balances "
       "(after the fills in flight were fetched) and the ledger was re-synced to them."),
    _M("arb_auto_executions", Counter, "pegbot_arb_auto_executions", ("venue", "result"),
       "Arbitrage exchange legs sent by auto-execution, by venue and result.",
       values={"result": AUTO_EXECUTION_RESULTS}),
    # -- latency and connectivity --
    _M("tick_to_quote", Histogram, "pegbot_tick_to_quote_seconds", _VS,
       "From the book update that caused it to the order request being sent.",
       buckets=TICK_TO_QUOTE_BUCKETS),
    _M("order_ack_latency", Histogram, "pegbot_order_ack_latency_seconds", ("venue", "action"),
       "Round trip of an order request to the venue's acknowledgement, by action.",
       buckets=ACK_BUCKETS),
    _M("ws_connected", Gauge, "pegbot_ws_connected", ("venue", "stream"),
       "1 while the WebSocket stream is connected."),
    _M("ws_reconnects", Counter, "pegbot_ws_reconnects", ("venue", "stream"),
       "WebSocket reconnections after a drop."),
    # -- the peg scorecard (pegbot.scorecard.live; rolling figures over its window) --
    _M("scorecard_observed", Counter, "pegbot_scorecard_observed_seconds", _VS,
       "Time the scorecard has watched."),
    _M("scorecard_two_sided", Counter, "pegbot_scorecard_two_sided_seconds", _VS,
       "Time at least one order of ours rested on each side."),
    _M("scorecard_two_sided_ratio", Gauge, "pegbot_scorecard_two_sided_ratio", _VS,
       "Share of the rolling window with an order of ours on each side."),
    _M("scorecard_one_sided", Gauge, "pegbot_scorecard_one_sided_seconds", _VS,
       "Length of the current run with a side (or both) empty; 0 while two-sided."),
    _M("scorecard_side_empty", Gauge, "pegbot_scorecard_side_empty_seconds", (*_VS, "side"),
       "Length of the current run with no order of ours on this side; 0 while quoted."),
    _M("scorecard_obligation_ratio", Gauge, "pegbot_scorecard_obligation_ratio",
       (*_VS, "obligation"),
       "Share of the rolling window's snapshots meeting this market-making obligation."),
    _M("scorecard_obligation_met", Gauge, "pegbot_scorecard_obligation_met",
       (*_VS, "obligation"),
       "1 while the window's share meeting this obligation is at least min_uptime."),
    _M("scorecard_jumps", Counter, "pegbot_scorecard_fx_jumps", _VS,
       "FX jumps of the fair value."),
    _M("scorecard_jump_pull", Gauge, "pegbot_scorecard_jump_pull_seconds", _VS,
       "Last FX jump: seconds until no order of ours rested on the wrong side (0 until then)."),
    _M("scorecard_jump_requote", Gauge, "pegbot_scorecard_jump_requote_seconds", _VS,
       "Last FX jump: seconds until both sides quoted around the new fair (0 until then)."),
    _M("scorecard_jump_waiting", Gauge, "pegbot_scorecard_jump_waiting_seconds", _VS,
       "Seconds the last FX jump has waited for its requote; 0 once requoted."),
    _M("scorecard_wrong_side_fills", Counter, "pegbot_scorecard_wrong_side_fills",
       (*_VS, "side"),
       "Fills on the wrong side of the fair value after an FX jump."),
    _M("scorecard_orders_per_fill", Gauge, "pegbot_scorecard_orders_per_fill", _VS,
       "Orders placed in the rolling window per fill (fills floored at one)."),
)
# fmt: on


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
    """The metric objects of :data:`PEG_METRICS` and :data:`BOT_METRICS`, on ``registry``.

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

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create every metric on ``registry``; call the ``init_*`` methods to add label sets."""
        self.registry = registry if registry is not None else CollectorRegistry()
        # Current risk level per (venue, symbol), to count transitions.
        self._levels: dict[tuple[str, str], str] = {}
        for spec in (*PEG_METRICS, *BOT_METRICS):
            setattr(self, spec.attr, spec.create(self.registry))

    def _init_labels(self, specs: Iterable[MetricSpec], given: Mapping[str, Iterable[str]]) -> None:
        """Create every label set of ``specs``: ``given`` values and each bounded label's."""
        for spec in specs:
            if not spec.labels:
                continue
            metric = getattr(self, spec.attr)
            domains = [
                tuple(given[label]) if label in _GIVEN_LABELS else spec.label_values(label)
                for label in spec.labels
            ]
            for values in itertools.product(*domains):
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
