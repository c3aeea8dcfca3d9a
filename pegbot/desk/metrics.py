"""The desk's Prometheus metrics, on an injectable registry.

Conventions as in :mod:`pegbot.metrics`: ``pegbot_`` prefix, base units (KGST amounts in
``_base``, money in ``_quote``), counters end in ``_total``, bounded labels only, every label
set initialised here so ``rate()`` and ``increase()`` see the first event. Signal ids, tx
hashes and addresses go to logs, never to labels.

Grafana annotations for signal transitions read
``pegbot_signal_last_transition_timestamp_seconds`` (one series per kind and state, the
value is the time, so "series value as timestamp" places the mark exactly) or the increase
of ``pegbot_signal_transitions_total``.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from pegbot.peg.signals import SignalKind, SignalState

__all__ = [
    "ACTION_RESULTS",
    "CHAIN_TRANSFERS",
    "DECISION_ACTIONS",
    "KINDS",
    "SIDES",
    "STATES",
    "DeskMetrics",
]

#: ``kind`` label values.
KINDS: tuple[str, ...] = tuple(k.value for k in SignalKind)
#: ``to_state`` label values.
STATES: tuple[str, ...] = tuple(s.value for s in SignalState)
#: ``action`` label values of ``pegbot_desk_actions_total``.
DECISION_ACTIONS: tuple[str, ...] = ("approve", "reject", "executed")
#: ``result`` label values of ``pegbot_desk_actions_total``.
ACTION_RESULTS: tuple[str, ...] = ("applied", "refused")
#: ``what`` label values of the chain counters.
CHAIN_TRANSFERS: tuple[str, ...] = ("mint", "burn", "deposit", "redemption", "incoming", "other")
#: ``side`` label values of the ladder capacity.
SIDES: tuple[str, ...] = ("bid", "ask")


class DeskMetrics:
    """Every desk metric (see the module docstring).

    Args:
        registry: Where to register (a private registry per test; the bot's in production).
        assets: Assets whose exchange balance has a rebalance band (``asset`` label values).
        wallets: Names of the watched chain wallets (``wallet`` label values).
        venues: Venues whose ladder capacity is exported.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        assets: Sequence[str] = ("KGST", "USDT"),
        wallets: Sequence[str] = (),
        venues: Sequence[str] = ("binance",),
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.transitions = Counter(
            "pegbot_signal_transitions", "Signals entering a state, by kind.",
            ["kind", "to_state"], registry=r,
        )  # fmt: skip
        self.last_transition = Gauge(
            "pegbot_signal_last_transition_timestamp_seconds",
            "When a signal of this kind last entered this state (Unix time).",
            ["kind", "to_state"], registry=r,
        )  # fmt: skip
        self.actions = Counter(
            "pegbot_desk_actions", "Operator decisions applied or refused by the running bot.",
            ["action", "result"], registry=r,
        )  # fmt: skip
        self.round_trips = Counter(
            "pegbot_round_trips", "Round trips closed (deposited with every figure known).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.realised_pnl = Gauge(
            "pegbot_round_trip_realised_pnl_quote",
            "Realised PnL of the closed round trips in the journal, in the quote currency.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.balance = Gauge(
            "pegbot_desk_balance_base", "The desk's exchange balance of a banded asset.",
            ["asset"], registry=r,
        )  # fmt: skip
        self.out_of_band = Gauge(
            "pegbot_desk_balance_out_of_band", "1 while the asset's balance is outside its band.",
            ["asset"], registry=r,
        )  # fmt: skip
        self.rebalance_proposals = Counter(
            "pegbot_desk_rebalance_proposals", "Rebalance proposals raised.", ["kind"], registry=r
        )
        self.rebalance_infeasible = Counter(
            "pegbot_desk_rebalance_infeasible",
            "Balance checks out of band that no mint or redemption can fix (capital short).",
            registry=r,
        )
        self.capacity_levels = Gauge(
            "pegbot_ladder_capacity_levels",
            "Ladder levels of a side the current balance funds in full, from the top.",
            ["venue", "side"], registry=r,
        )  # fmt: skip
        self.capacity_lots = Gauge(
            "pegbot_ladder_capacity_lots",
            "Lots of a side the current balance funds at the ladder's prices.",
            ["venue", "side"], registry=r,
        )  # fmt: skip
        self.supply = Gauge(
            "pegbot_chain_total_supply_base", "KGST totalSupply at the last processed block.",
            registry=r,
        )  # fmt: skip
        self.wallet_balance = Gauge(
            "pegbot_chain_wallet_balance_base", "KGST held by a watched wallet.",
            ["wallet"], registry=r,
        )  # fmt: skip
        self.block = Gauge(
            "pegbot_chain_last_block", "The last block the chain watcher processed.", registry=r
        )
        self.chain_polled = Gauge(
            "pegbot_chain_last_poll_timestamp_seconds",
            "When the chain watcher last completed a poll (Unix time).", registry=r,
        )  # fmt: skip
        self.chain_transfers = Counter(
            "pegbot_chain_transfers", "KGST transfers seen that touch the desk or the supply.",
            ["what"], registry=r,
        )  # fmt: skip
        self.chain_confirmations = Counter(
            "pegbot_chain_confirmations",
            "Transfers matched to a journaled issuer leg (a mint arrived, a redemption left,"
            " a deposit reached the exchange).", ["what"], registry=r,
        )  # fmt: skip
        self.unexplained = Counter(
            "pegbot_chain_unexplained_supply_change",
            "Supply changes no journaled mint or redemption explains.", registry=r,
        )  # fmt: skip
        self.unexplained_base = Gauge(
            "pegbot_chain_unexplained_supply_change_base",
            "The last unexplained supply change, signed (0 after an explained one).", registry=r,
        )  # fmt: skip
        self.chain_errors = Counter(
            "pegbot_chain_poll_errors", "Chain polls that failed (RPC errors, time-outs).",
            registry=r,
        )  # fmt: skip
        for kind in KINDS:
            self.round_trips.labels(kind=kind)
            self.realised_pnl.labels(kind=kind)
            for state in STATES:
                self.transitions.labels(kind=kind, to_state=state)
            if not SignalKind(kind).arbitrage:
                self.rebalance_proposals.labels(kind=kind)
        for action in DECISION_ACTIONS:
            for result in ACTION_RESULTS:
                self.actions.labels(action=action, result=result)
        for asset in assets:
            self.balance.labels(asset=asset)
            self.out_of_band.labels(asset=asset)
        for wallet in wallets:
            self.wallet_balance.labels(wallet=wallet)
        for venue in venues:
            for side in SIDES:
                self.capacity_levels.labels(venue=venue, side=side)
                self.capacity_lots.labels(venue=venue, side=side)
        for what in CHAIN_TRANSFERS:
            self.chain_transfers.labels(what=what)
        for what in ("mint", "redemption", "deposit"):
            self.chain_confirmations.labels(what=what)
