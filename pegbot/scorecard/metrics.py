"""The live scorecard's Prometheus metrics, on an injectable registry.

Conventions of pegbot's metrics: ``pegbot_`` prefix, base units (seconds, ratios 0-1),
counters end in ``_total`` (prometheus_client appends it), bounded labels only (``venue``,
``symbol``, ``side``, ``obligation``), and every label set initialised by :meth:`init` so a
quiet bot shows zeros, not "no data".

==========================================  =======  =====================================
metric                                      type     meaning
==========================================  =======  =====================================
pegbot_scorecard_observed_seconds_total     counter  time the scorecard has watched
pegbot_scorecard_two_sided_seconds_total    counter  of it, time both sides had an order
                                                     (uptime over any window: the ratio of
                                                     their ``increase``)
pegbot_scorecard_two_sided_ratio            gauge    two-sided share of the rolling window
pegbot_scorecard_one_sided_seconds          gauge    the current run with a side empty (0
                                                     while two-sided)
pegbot_scorecard_side_empty_seconds         gauge    per side, the current run with no order
pegbot_scorecard_obligation_ratio           gauge    per obligation (and ``all``), the share
                                                     of the window's snapshots meeting it
pegbot_scorecard_obligation_met             gauge    1 while that share is at least the
                                                     agreement's ``min_uptime``
pegbot_scorecard_fx_jumps_total             counter  FX jumps of the fair value seen
pegbot_scorecard_jump_pull_seconds          gauge    last jump: seconds to pull wrong-side
                                                     orders (0 until known)
pegbot_scorecard_jump_requote_seconds       gauge    last jump: seconds to requote around
                                                     the new fair (0 until known)
pegbot_scorecard_jump_waiting_seconds       gauge    seconds the last jump has waited for
                                                     its requote (0 once requoted)
pegbot_scorecard_wrong_side_fills_total     counter  fills on the wrong side of a jump's fair
pegbot_scorecard_orders_per_fill            gauge    orders placed in the window per fill
                                                     (fills floored at one)
==========================================  =======  =====================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["OBLIGATIONS", "SIDES", "ScorecardMetrics"]

#: Values of the ``obligation`` label: each snapshot condition and their conjunction.
OBLIGATIONS = ("two_sided", "spread", "depth_bid", "depth_ask", "all")
#: Values of the ``side`` label.
SIDES = ("bid", "ask")

_VS = ("venue", "symbol")


class ScorecardMetrics:
    """The live scorecard's metrics (see the module docstring).

    Args:
        registry: Where they register; a private registry when None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.observed = Counter(
            "pegbot_scorecard_observed_seconds", "Time the scorecard has watched.", _VS, registry=r
        )
        self.two_sided = Counter(
            "pegbot_scorecard_two_sided_seconds",
            "Time at least one order of ours rested on each side.",
            _VS,
            registry=r,
        )
        self.two_sided_ratio = Gauge(
            "pegbot_scorecard_two_sided_ratio",
            "Share of the rolling window with an order of ours on each side.",
            _VS,
            registry=r,
        )
        self.one_sided = Gauge(
            "pegbot_scorecard_one_sided_seconds",
            "Length of the current run with a side (or both) empty; 0 while two-sided.",
            _VS,
            registry=r,
        )
        self.side_empty = Gauge(
            "pegbot_scorecard_side_empty_seconds",
            "Length of the current run with no order of ours on this side; 0 while quoted.",
            (*_VS, "side"),
            registry=r,
        )
        self.obligation_ratio = Gauge(
            "pegbot_scorecard_obligation_ratio",
            "Share of the rolling window's snapshots meeting this obligation.",
            (*_VS, "obligation"),
            registry=r,
        )
        self.obligation_met = Gauge(
            "pegbot_scorecard_obligation_met",
            "1 while the window's share meeting this obligation is at least min_uptime.",
            (*_VS, "obligation"),
            registry=r,
        )
        self.jumps = Counter(
            "pegbot_scorecard_fx_jumps", "FX jumps of the fair value.", _VS, registry=r
        )
        self.jump_pull = Gauge(
            "pegbot_scorecard_jump_pull_seconds",
            "Last FX jump: seconds until no order of ours rested on the wrong side.",
            _VS,
            registry=r,
        )
        self.jump_requote = Gauge(
            "pegbot_scorecard_jump_requote_seconds",
            "Last FX jump: seconds until both sides quoted around the new fair.",
            _VS,
            registry=r,
        )
        self.jump_waiting = Gauge(
            "pegbot_scorecard_jump_waiting_seconds",
            "Seconds the last FX jump has waited for its requote; 0 once requoted.",
            _VS,
            registry=r,
        )
        self.wrong_side_fills = Counter(
            "pegbot_scorecard_wrong_side_fills",
            "Fills on the wrong side of the fair value after an FX jump.",
            (*_VS, "side"),
            registry=r,
        )
        self.orders_per_fill = Gauge(
            "pegbot_scorecard_orders_per_fill",
            "Orders placed in the rolling window per fill (fills floored at one).",
            _VS,
            registry=r,
        )

    def init(self, venue: str, symbol: str) -> None:
        """Create every label set of ``venue``/``symbol`` at zero."""
        for c in (self.observed, self.two_sided, self.jumps):
            c.labels(venue, symbol).inc(0)
        for g in (
            self.two_sided_ratio,
            self.one_sided,
            self.jump_pull,
            self.jump_requote,
            self.jump_waiting,
            self.orders_per_fill,
        ):
            g.labels(venue, symbol).set(0)
        for side in SIDES:
            self.side_empty.labels(venue, symbol, side).set(0)
            self.wrong_side_fills.labels(venue, symbol, side).inc(0)
        for ob in OBLIGATIONS:
            self.obligation_ratio.labels(venue, symbol, ob).set(0)
            self.obligation_met.labels(venue, symbol, ob).set(0)
