"""How far the fair value can be trusted: the one definition of its states.

A module of its own so that the strategy contract (:mod:`pegbot.strategy`), the peg
(:mod:`pegbot.peg.fair`) and the metrics share it without the contract importing the peg's
rate sources and their HTTP client.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["FAIR_STATES", "FairState"]


class FairState(enum.StrEnum):
    """How far the fair value can be trusted; only ``OK`` allows trading on it.

    A member equals its string (``FairState.OK == "ok"``), so strategies may compare either.
    """

    OK = "ok"
    STALE = "stale"
    DISPUTED = "disputed"
    JUMP = "jump"


#: The states' names, in order; anything else is refused.
FAIR_STATES: Final[tuple[str, ...]] = tuple(state.value for state in FairState)
