"""Every Prometheus metric pegbot exports, on one injectable registry.

Conventions (see the observability notes): ``pegbot_`` prefix, base units, counters end in
``_total`` (prometheus_client appends it), price distances in ``_bps``, staleness as
``…_timestamp_seconds`` gauges, bounded labels only, and every label set initialised at start
so ``rate()`` sees the first increment and quiet panels show zero, not "no data".

Rooms add their metrics here as they need them; tests give each :class:`Metrics` its own
:class:`prometheus_client.CollectorRegistry`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

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


class Metrics:
    """The metric objects, created on ``registry`` (a private one if None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create every metric on ``registry``; call the ``init_*`` methods to add label sets."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # -- fair value (pegbot.peg) ------------------------------------------------------
        self.fair_value = Gauge(
            "pegbot_fair_value_quote",
            "KGST fair price in the quote currency (last computed, even when not ok).",
            ["venue", "symbol"],
            registry=r,
        )
        self.fair_state = Gauge(
            "pegbot_fair_value_state",
            "1 for the fair value's current state (ok/stale/disputed/jump), 0 for the others.",
            ["venue", "symbol", "state"],
            registry=r,
        )
        self.fair_observed = Gauge(
            "pegbot_fair_value_observed_timestamp_seconds",
            "Observation time of the oldest rate behind the fair value (Unix seconds).",
            ["venue", "symbol"],
            registry=r,
        )
        self.fair_disagreement = Gauge(
            "pegbot_fair_value_disagreement_bps",
            "Spread between fresh rate sources, (max - min) / median, in bps.",
            ["venue", "symbol"],
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
            ["venue", "symbol"],
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
