"""Every Prometheus metric pegbot exports, as rows of data: the one place metrics are declared.

Each metric is one :class:`MetricSpec` row (attribute, type, name, labels, help, buckets
where needed) in the table of its room: :data:`PEG_METRICS` (fair value, reference rates,
arbitrage signals), :data:`BOT_METRICS` (status, book, quotes, inventory, execution,
connectivity, the live scorecard) and :data:`DESK_METRICS` (the desk's signals, inventory
bands, ladder capacity, chain watcher). :data:`ALL_METRICS` registers them;
:class:`pegbot.metrics.Metrics` creates every row on its registry and is the bot's vocabulary
for them. The bounded label values live here too, beside the rows that use them.

Conventions: ``pegbot_`` prefix, base units, counters end in ``_total`` (prometheus_client
appends it), price distances in ``_bps``, staleness as ``…_timestamp_seconds`` gauges,
bounded labels only (signal ids, tx hashes and addresses go to logs, never to labels), and
every label set initialised at start so ``rate()`` sees the first increment and quiet panels
show zero — except rows marked ``initialise=False``, whose zero would be a false statement
(a ladder capacity of 0 levels pages someone): their series appear with the first value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info

from pegbot.execution.errors import REASONS as REJECT_REASONS
from pegbot.execution.risk import TRIGGERS as RISK_TRIGGERS
from pegbot.peg.fair_state import FAIR_STATES

__all__ = [
    "ALL_METRICS",
    "ARB_DIRECTIONS",
    "ARB_STATES",
    "ARB_SUPPRESS_REASONS",
    "AUTO_EXECUTION_RESULTS",
    "BANDS_BPS",
    "BAND_BOUNDS",
    "BOT_METRICS",
    "BOT_STATES",
    "CHAIN_CONFIRMATIONS",
    "CHAIN_TRANSFERS",
    "DESK_ACTIONS",
    "DESK_ACTION_RESULTS",
    "DESK_ASSETS",
    "DESK_METRICS",
    "FAIR_STATES",
    "LIQUIDITY",
    "OBLIGATIONS",
    "OPEN_SIGNAL_STATES",
    "ORDER_ACTIONS",
    "OWNERS",
    "PEG_METRICS",
    "PNL_KINDS",
    "REBALANCE_KINDS",
    "REFERENCE_ERROR_REASONS",
    "REJECT_REASONS",
    "RESYNC_REASONS",
    "RISK_LEVELS",
    "RISK_TRIGGERS",
    "SIDES",
    "STREAMS",
    "WEBHOOK_RESULTS",
    "MetricSpec",
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

# The desk (pegbot.desk); the signal kinds and states are ARB_DIRECTIONS and ARB_STATES.
#: ``state`` label values of ``pegbot_signals_open``: every state a signal can leave.
OPEN_SIGNAL_STATES = ("proposed", "approved", "executed", "requested", "confirmed", "settled")
#: ``kind`` label values of ``pegbot_desk_rebalance_proposals_total``: the kinds without an
#: exchange leg, which only the rebalancer raises.
REBALANCE_KINDS = ("rebalance_mint", "rebalance_redeem")
#: ``action`` label values of ``pegbot_desk_actions_total``: the operator's decisions.
DESK_ACTIONS = ("approve", "reject", "executed")
#: ``result`` label values of ``pegbot_desk_actions_total``.
DESK_ACTION_RESULTS = ("applied", "refused")
#: ``asset`` label values of the desk's balance gauges: the two assets with rebalance bands.
DESK_ASSETS = ("KGST", "USDT")
#: ``bound`` label values of ``pegbot_desk_balance_band_base``.
BAND_BOUNDS = ("min", "target", "max")
#: ``what`` label values of ``pegbot_chain_transfers_total`` (see pegbot.desk.chain).
CHAIN_TRANSFERS = ("mint", "burn", "deposit", "redemption", "incoming", "other")
#: ``what`` label values of ``pegbot_chain_confirmations_total``: transfers matched to a leg.
CHAIN_CONFIRMATIONS = ("mint", "redemption", "deposit")

# Book update -> order sent: sub-millisecond on a quiet loop, up to a second when it stalls.
TICK_TO_QUOTE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Venue round trips: a few ms on loopback, tens to hundreds of ms to Binance, 10 s timeouts.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Labels whose values the caller names when it initialises (venues, symbols, rate sources,
# chain wallets).
_GIVEN_LABELS = frozenset({"venue", "symbol", "source", "wallet"})
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
    "asset": DESK_ASSETS,
    "bound": BAND_BOUNDS,
}

# -- the row type ---------------------------------------------------------------------------

_Kind = type[Counter] | type[Gauge] | type[Histogram] | type[Info] | type[Enum]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric.

    Attributes:
        attr: The :class:`pegbot.metrics.Metrics` attribute holding it.
        kind: Its prometheus_client class.
        name: The exported name (a counter's without ``_total``, an info's without ``_info``).
        labels: Label names, in order.
        help: The HELP text.
        buckets: A histogram's bucket bounds (seconds).
        values: Values of a bounded label this metric uses other than the shared ones.
        states: An enum's states.
        initialise: Create every label set at start (False: a gauge whose 0 would claim
            something untrue; its series appears with its first value).
    """

    attr: str
    kind: _Kind
    name: str
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    states: tuple[str, ...] = ()
    initialise: bool = True

    def label_values(self, label: str) -> tuple[str, ...]:
        """The values ``label`` takes on this metric (bounded labels only)."""
        return self.values.get(label) or _LABEL_VALUES[label]

    def label_sets(self, given: Mapping[str, Iterable[str]]) -> Iterator[tuple[str, ...]]:
        """Every label set to create at start (none for a row not initialised).

        ``given`` names the values of the caller's labels (venues, symbols, sources, wallets);
        each bounded label takes all of its values.
        """
        if not self.labels or not self.initialise:
            return
        domains = []
        for label in self.labels:
            if label not in _GIVEN_LABELS:
                domains.append(self.label_values(label))
            elif label in given:
                domains.append(tuple(given[label]))
            else:
                raise ValueError(f"{self.name}: no values given for label {label!r}")
        yield from itertools.product(*domains)

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

#: Fair value, reference rates and arbitrage signals; ``Metrics.init_peg`` initialises them.
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

#: The bot's status, book, quotes, inventory, execution, connectivity and the live scorecard;
#: ``Metrics.init_bot`` initialises them.
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
    _M("scorecard_capacity_min_levels", Gauge, "pegbot_scorecard_capacity_min_levels",
       (*_VS, "side"),
       "Fewest ladder levels of this side the balance funded in full in the rolling window.",
       initialise=False),
    _M("scorecard_capacity_min_lots", Gauge, "pegbot_scorecard_capacity_min_lots",
       (*_VS, "side"),
       "Fewest lots of this side the balance funded at the ladder's prices in the window.",
       initialise=False),
)

_KS = {"kind": ARB_DIRECTIONS, "to_state": ARB_STATES}

#: The desk: signals through their whole life (whoever moved them), round trips, inventory
#: bands, ladder capacity and the chain watcher; ``Metrics.init_desk`` initialises them.
DESK_METRICS: tuple[MetricSpec, ...] = (
    # -- signals, from the journal (pegbot.desk.watcher) --
    _M("signal_transitions", Counter, "pegbot_signal_transitions", ("kind", "to_state"),
       "Signals entering a state, by kind.",
       values=_KS),
    # The dashboard's annotation reads it: the value is the time, so a mark lands exactly.
    _M("signal_last_transition", Gauge, "pegbot_signal_last_transition_timestamp_seconds",
       ("kind", "to_state"),
       "When a signal of this kind last entered this state (Unix time; 0: never).",
       values=_KS),
    _M("signals_open", Gauge, "pegbot_signals_open", ("kind", "state"),
       "Signals in the journal now in a state they can still leave (waiting for a decision, "
       "the exchange leg or the issuer leg).",
       values={"kind": ARB_DIRECTIONS, "state": OPEN_SIGNAL_STATES}),
    _M("desk_actions", Counter, "pegbot_desk_actions", ("action", "result"),
       "Operator decisions applied or refused by the running bot.",
       values={"action": DESK_ACTIONS, "result": DESK_ACTION_RESULTS}),
    _M("round_trips", Counter, "pegbot_round_trips", ("kind",),
       "Round trips closed (deposited with every figure known).",
       values={"kind": ARB_DIRECTIONS}),
    _M("round_trip_pnl", Gauge, "pegbot_round_trip_realised_pnl_quote", ("kind",),
       "Realised PnL of the closed round trips in the journal, in the quote currency.",
       values={"kind": ARB_DIRECTIONS}),
    # -- inventory bands and ladder capacity (pegbot.desk.rebalance, pegbot.live.desk) --
    _M("desk_balance", Gauge, "pegbot_desk_balance_base", ("asset",),
       "The desk's exchange balance of a banded asset (in the asset's units)."),
    _M("desk_band", Gauge, "pegbot_desk_balance_band_base", ("asset", "bound"),
       "The rebalance band of an asset's balance: min, target and max (asset units)."),
    _M("desk_out_of_band", Gauge, "pegbot_desk_balance_out_of_band", ("asset",),
       "1 while the asset's balance is outside its band."),
    _M("rebalance_proposals", Counter, "pegbot_desk_rebalance_proposals", ("kind",),
       "Rebalance proposals raised.",
       values={"kind": REBALANCE_KINDS}),
    _M("rebalance_infeasible", Counter, "pegbot_desk_rebalance_infeasible", (),
       "Balance checks out of band that no mint or redemption can fix (capital short)."),
    _M("capacity_levels", Gauge, "pegbot_ladder_capacity_levels", ("venue", "side"),
       "Ladder levels of a side the current balance funds in full, from the top.",
       initialise=False),
    _M("capacity_lots", Gauge, "pegbot_ladder_capacity_lots", ("venue", "side"),
       "Lots of a side the current balance funds at the ladder's prices.",
       initialise=False),
    # -- the chain watcher (pegbot.desk.chain) --
    _M("chain_enabled", Gauge, "pegbot_chain_watcher_enabled", (),
       "1 when this process runs the chain watcher ([desk.chain] enabled), else 0."),
    _M("chain_supply", Gauge, "pegbot_chain_total_supply_base", (),
       "KGST totalSupply at the last processed block."),
    _M("chain_wallet_balance", Gauge, "pegbot_chain_wallet_balance_base", ("wallet",),
       "KGST held by a watched wallet."),
    _M("chain_block", Gauge, "pegbot_chain_last_block", (),
       "The last block the chain watcher processed."),
    _M("chain_polled", Gauge, "pegbot_chain_last_poll_timestamp_seconds", (),
       "When the chain watcher last completed a poll (Unix time; 0: never)."),
    _M("chain_transfers", Counter, "pegbot_chain_transfers", ("what",),
       "KGST transfers seen that touch the desk or the supply.",
       values={"what": CHAIN_TRANSFERS}),
    _M("chain_confirmations", Counter, "pegbot_chain_confirmations", ("what",),
       "Transfers matched to a journaled issuer leg (a mint arrived, a redemption left, a "
       "deposit reached the exchange).",
       values={"what": CHAIN_CONFIRMATIONS}),
    _M("chain_unexplained", Counter, "pegbot_chain_unexplained_supply_change", (),
       "Supply changes no journaled mint or redemption explains."),
    _M("chain_unexplained_base", Gauge, "pegbot_chain_unexplained_supply_change_base", (),
       "The last unexplained supply change, signed (0 after an explained one)."),
    _M("chain_errors", Counter, "pegbot_chain_poll_errors", (),
       "Chain polls that failed (RPC errors, time-outs)."),
)
# fmt: on

#: Every table: :class:`pegbot.metrics.Metrics` creates each row on its registry.
ALL_METRICS: tuple[MetricSpec, ...] = (*PEG_METRICS, *BOT_METRICS, *DESK_METRICS)
