"""Label values pre-initialised in metrics.py cover every value the code can produce."""

from __future__ import annotations

from pegbot.metrics import ARB_DIRECTIONS, ARB_STATES
from pegbot.peg.signals import SignalKind, SignalState


def test_every_signal_kind_and_state_is_initialised() -> None:
    assert set(ARB_DIRECTIONS) == {k.value for k in SignalKind}
    assert set(ARB_STATES) == {s.value for s in SignalState}
