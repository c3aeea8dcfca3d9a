"""Peg quality and market-making obligations, measured the same way everywhere.

One time-ordered stream of small facts (:mod:`pegbot.scorecard.events`) goes through one fold
(:mod:`pegbot.scorecard.fold`); :mod:`pegbot.scorecard.card` turns it into a
:class:`Scorecard` for an evaluation run or a backtest, and :mod:`pegbot.scorecard.live` into
rolling Prometheus gauges for the running bot (the ``pegbot_scorecard_*`` rows of
:mod:`pegbot.metrics`; import it from there: this package itself depends on no metrics, so the
settings can import :mod:`pegbot.scorecard.config`). Pure: no I/O, no clock reads; time is
injected.
"""

from .card import JumpFigures, Scorecard, ScorecardBuilder, score, weighted_quantile
from .config import ObligationSettings, ScorecardSettings
from .events import (
    Book,
    Event,
    Fair,
    Holding,
    Level,
    OrderAction,
    OrderKind,
    OwnFill,
    Quotes,
    RateSeen,
    book_from_l2,
)
from .fold import Fold, Jump, State

__all__ = [
    "Book",
    "Event",
    "Fair",
    "Fold",
    "Holding",
    "Jump",
    "JumpFigures",
    "Level",
    "ObligationSettings",
    "OrderAction",
    "OrderKind",
    "OwnFill",
    "Quotes",
    "RateSeen",
    "Scorecard",
    "ScorecardBuilder",
    "ScorecardSettings",
    "State",
    "book_from_l2",
    "score",
    "weighted_quantile",
]
