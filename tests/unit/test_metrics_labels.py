"""Label values pre-initialised from metrics_table.py cover every value the code can produce."""

from __future__ import annotations

from pegbot.desk.operator import DECISION_TARGETS
from pegbot.desk.store import DECISIONS
from pegbot.market import Market
from pegbot.metrics_table import (
    ARB_DIRECTIONS,
    ARB_STATES,
    DESK_ACTIONS,
    DESK_ASSETS,
    OPEN_SIGNAL_STATES,
    REBALANCE_KINDS,
)
from pegbot.peg.signals import SignalKind, SignalState


def test_every_signal_kind_and_state_is_initialised() -> None:
    assert set(ARB_DIRECTIONS) == {k.value for k in SignalKind}
    assert set(ARB_STATES) == {s.value for s in SignalState}


def test_desk_label_values_follow_the_state_machine_and_the_desk() -> None:
    assert set(OPEN_SIGNAL_STATES) == {s.value for s in SignalState if not s.final}
    assert set(REBALANCE_KINDS) == {k.value for k in SignalKind if not k.arbitrage}
    assert set(DESK_ACTIONS) == set(DECISION_TARGETS) == set(DECISIONS)
    market = Market.kgst_usdt()  # the rebalancer's two bands
    assert (market.base, market.quote) == DESK_ASSETS
