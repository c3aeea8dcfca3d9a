"""Queue-position models: how a depth change at our price moves the quantity ahead of us.

An order of ours rests behind the external quantity that was at its price when it arrived.
Trades at the price eat that queue (the fill engine counts them); a *decrease* of the level
that trades do not explain is a cancellation somewhere in the queue, and a model decides how
much of it was ahead of us:

* :class:`RiskAverse` — none of it: the queue ahead falls only on trades, and a depth decrease
  only caps it (``ahead = min(ahead, level)``).
* The probability family (:class:`PowerProbQueue`, :class:`PowerProbQueue2`,
  :class:`PowerProbQueue3`, :class:`LogProbQueue`, :class:`LogProbQueue2`) splits the decrease
  between the front and the back of our order with ``p = f(back) / (f(back) + f(front))`` (or
  a variant): a share ``p`` comes off the back, the rest off the front.

Every model keeps ``0 ≤ ahead ≤ level`` and never puts ``ahead`` higher than
:class:`RiskAverse` would, so RiskAverse never fills earlier.

The per-event arithmetic is in module-level pure functions of ints and floats
(:func:`capped_ahead`, :func:`split_decrease`, the ``*_prob`` functions and
:func:`queue_ahead`, the whole rule of a model named by its code). They are the one
definition of each model: the classes hold parameters and call them from Python, and the
backtester's compiled exchange side (:mod:`pegbot.matching.compiled`) compiles the very same
functions with numba (``register_jitable``: plain Python when called from Python, compiled
when called from compiled code). The family is closed for that reason: each model is a code
the compiled side knows.
"""

from __future__ import annotations

import math
from typing import Protocol

from numba.extending import register_jitable

__all__ = [
    "LogProbQueue",
    "LogProbQueue2",
    "PowerProbQueue",
    "PowerProbQueue2",
    "PowerProbQueue3",
    "ProbQueue",
    "QueueModel",
    "RiskAverse",
    "capped_ahead",
    "log_prob",
    "log_prob2",
    "power_prob",
    "power_prob2",
    "power_prob3",
    "queue_ahead",
    "queue_params",
    "queue_prob",
    "split_decrease",
]

#: Model codes, as :func:`queue_ahead` and the compiled exchange side know them.
RISK_AVERSE = 0
POWER = 1
POWER2 = 2
POWER3 = 3
LOG = 4
LOG2 = 5

# Above this exponent ``x**n`` is within a factor e of overflowing a float64; its share
# ``1 / (1 + x**n)`` is 0 to double precision anyway.
_LOG_BIG = 709.0


# -- pure per-event arithmetic ----------------------------------------------------------------


@register_jitable
def capped_ahead(ahead: int, new_qty: int) -> int:
    """The queue ahead after a change that explains nothing: at most the level's quantity."""
    return ahead if ahead <= new_qty else new_qty


@register_jitable
def split_decrease(ahead: int, new_qty: int, chg: int, back: int, p: float) -> int:
    """The queue ahead after a cancellation of ``chg`` units somewhere in the queue.

    A share ``p`` of ``chg`` comes off the ``back`` (behind our order), the rest off the
    front; whatever the back cannot absorb comes off the front too. The front's reduction is
    rounded *down* to whole units, the conservative side.

    Args:
        ahead: External quantity ahead of our order before the change (> 0).
        new_qty: The level's quantity after the change.
        chg: The decrease not explained by trades (> 0).
        back: External quantity behind our order before the change (≥ 0).
        p: Share taken from the back; outside ``[0, 1]`` (0/0, overflow) counts as 1.

    Returns:
        The new queue ahead, within ``[0, min(ahead, new_qty)]``.
    """
    if not 0.0 <= p <= 1.0:  # 0/0 or overflow: treat the whole change as behind us
        p = 1.0
    overflow = chg * p - back
    cut = chg * (1.0 - p) + (overflow if overflow > 0 else 0.0)
    est = ahead - math.floor(cut)
    if est < 0:
        est = 0
    return est if est <= new_qty else new_qty


@register_jitable
def power_prob(front: float, back: float, n: float) -> float:
    """``f(back) / (f(back) + f(front))`` with ``f(x) = x**n`` (hftbacktest's power queue)."""
    if back <= 0.0:
        return 0.0
    # The ratio form cannot overflow the way back**n + front**n can; a ratio so large that
    # its power would overflow gives a share of 0 (compiled code would get inf, Python an
    # OverflowError: the test keeps both the same).
    ratio = front / back
    if ratio > 1.0 and n * math.log(ratio) > _LOG_BIG:
        return 0.0
    return 1.0 / (1.0 + math.pow(ratio, n))


@register_jitable
def power_prob2(front: float, back: float, n: float) -> float:
    """``f(back) / f(back + front)`` with ``f(x) = x**n``."""
    return math.pow(back / (back + front), n)


@register_jitable
def power_prob3(front: float, back: float, n: float) -> float:
    """``1 − (front / (front + back))**n``."""
    return 1.0 - math.pow(front / (front + back), n)


@register_jitable
def log_prob(front: float, back: float) -> float:
    """``f(back) / (f(back) + f(front))`` with ``f(x) = ln(1 + x)``."""
    fb = math.log1p(back)
    return fb / (fb + math.log1p(front))


@register_jitable
def log_prob2(front: float, back: float) -> float:
    """``f(back) / f(back + front)`` with ``f(x) = ln(1 + x)``."""
    return math.log1p(back) / math.log1p(back + front)


@register_jitable
def queue_prob(model: int, n: float, front: float, back: float) -> float:
    """Share of a cancellation taken from behind our order, for the model with code ``model``."""
    if model == POWER:
        return power_prob(front, back, n)
    if model == POWER2:
        return power_prob2(front, back, n)
    if model == POWER3:
        return power_prob3(front, back, n)
    if model == LOG:
        return log_prob(front, back)
    return log_prob2(front, back)


@register_jitable
def queue_ahead(
    model: int, n: float, scale: int, ahead: int, prev_qty: int, new_qty: int, traded: int
) -> int:
    """The queue ahead after a depth change, for the model with code ``model``.

    Risk-averse: capped at the level (:func:`capped_ahead`). The probability family: a
    decrease ``chg`` not explained by trades is split between front and back with the
    model's share (:func:`queue_prob` of the quantities in units of ``scale``) by
    :func:`split_decrease`. Arguments as :meth:`QueueModel.on_depth`, plus the model's
    exponent ``n`` and ``scale``.
    """
    if model == RISK_AVERSE:
        return capped_ahead(ahead, new_qty)
    chg = prev_qty - new_qty - traded
    if chg <= 0 or ahead == 0:
        return capped_ahead(ahead, new_qty)
    back = prev_qty - traded - ahead
    if back < 0:
        back = 0
    p = queue_prob(model, n, ahead / scale, back / scale)
    return split_decrease(ahead, new_qty, chg, back, p)


# -- the models ---------------------------------------------------------------------------------


class QueueModel(Protocol):
    """How a depth change at our price moves the external quantity ahead of our order."""

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """The new queue ahead after the level went from ``prev_qty`` to ``new_qty``.

        Args:
            ahead: External quantity ahead of our order, ``0 ≤ ahead``.
            prev_qty: The level's quantity at its previous depth update (or when we arrived).
            new_qty: The level's quantity now.
            traded: Quantity traded at the level since ``prev_qty`` (already taken off
                ``ahead`` by the trades themselves).

        Returns:
            The new queue ahead, within ``[0, min(ahead, new_qty)]``.
        """
        ...


class RiskAverse:
    """The queue ahead falls only on trades at our price; depth changes only cap it."""

    __slots__ = ()
    #: The model's code (:func:`queue_ahead`).
    code = RISK_AVERSE
    #: No exponent, no scale: :func:`queue_params` reads these.
    n = 0.0
    scale = 1

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """See :meth:`QueueModel.on_depth`."""
        return capped_ahead(ahead, new_qty)

    def __repr__(self) -> str:
        return "RiskAverse()"


class ProbQueue:
    """Base of the probability family: split a non-trade decrease between front and back.

    A decrease ``chg`` not explained by trades is a cancellation somewhere in the queue. With
    ``front`` ahead of us and ``back`` behind, a share ``p = prob(front, back)`` of it is taken
    from the back and the rest from the front (:func:`split_decrease`). Each subclass is one
    model code of :func:`queue_ahead`, which holds the rule.
    """

    __slots__ = ("n", "scale")
    #: The model's code (:func:`queue_ahead`); the base class names none.
    code = -1

    def __init__(self, scale: int = 1) -> None:
        """Create the model.

        Args:
            scale: Qty units per unit that :meth:`prob` sees. The power family is
                scale-free; the log family is not (``ln(1 + x)``), so to match hftbacktest,
                which sees base-asset quantities, pass the market's qty units per base unit
                (``10**qty_decimals``).
        """
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale
        self.n = 0.0

    def prob(self, front: float, back: float) -> float:
        """Share of a cancellation taken from behind our order (0..1)."""
        if self.code < 0:
            raise NotImplementedError("use one of the models (PowerProbQueue, LogProbQueue…)")
        return queue_prob(self.code, self.n, front, back)

    def on_depth(self, ahead: int, prev_qty: int, new_qty: int, traded: int) -> int:
        """See :meth:`QueueModel.on_depth`."""
        if self.code < 0:
            raise NotImplementedError("use one of the models (PowerProbQueue, LogProbQueue…)")
        return queue_ahead(self.code, self.n, self.scale, ahead, prev_qty, new_qty, traded)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale})"


class PowerProbQueue(ProbQueue):
    """``f(x) = x**n``, ``p = f(back) / (f(back) + f(front))``.

    hftbacktest's ``PowerProbQueueFunc``; ``n = 3`` is its usual choice.
    """

    __slots__ = ()
    code = POWER

    def __init__(self, n: float = 3.0, scale: int = 1) -> None:
        """Create the model with exponent ``n`` (> 0)."""
        super().__init__(scale)
        if not n > 0:
            raise ValueError(f"n must be positive, got {n}")
        self.n = float(n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, scale={self.scale})"


class PowerProbQueue2(PowerProbQueue):
    """``p = f(back) / f(back + front)`` with ``f(x) = x**n``."""

    __slots__ = ()
    code = POWER2


class PowerProbQueue3(PowerProbQueue):
    """``p = 1 − (front / (front + back))**n``."""

    __slots__ = ()
    code = POWER3


class LogProbQueue(ProbQueue):
    """``f(x) = ln(1 + x)``, ``p = f(back) / (f(back) + f(front))``."""

    __slots__ = ()
    code = LOG


class LogProbQueue2(ProbQueue):
    """``p = f(back) / f(back + front)`` with ``f(x) = ln(1 + x)``."""

    __slots__ = ()
    code = LOG2


def queue_params(model: QueueModel) -> tuple[int, float, int]:
    """``(code, n, scale)`` of a model of this module, for :func:`queue_ahead`.

    Raises:
        TypeError: ``model`` is not one of this module's models (the compiled exchange side
            knows no other).
    """
    if not isinstance(model, RiskAverse | ProbQueue) or model.code < 0:
        raise TypeError(f"{model!r} is not a queue model of pegbot.matching.queue")
    return int(model.code), float(model.n), int(model.scale)
