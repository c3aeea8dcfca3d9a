"""The decision step: market state → strategy → risk → reconciler, once, for every shell.

The live runner and the backtest engine both call :meth:`DecisionStep.decide` with the state
they built and hand the resulting actions to their :class:`~pegbot.execution.orders.OrderTracker`;
nothing about *what* to quote is decided anywhere else, so a backtest exercises exactly the
code the desk runs.

Risk runs at every decision (its triggers are time-driven), the strategy too (it may keep
state). The reconciler's matching is skipped when it cannot change anything: when what risk
let through and our live set are both as they were at a diff that sent nothing and was not
held back by the rate budget (the one input that changes with time alone), that diff's
answer — including what it skipped and why — is the answer again. The live set is compared
by identity: :meth:`OrderTracker.live_orders` returns the same tuple until the set changes.
"""

from __future__ import annotations

from pegbot.execution.reconciler import Actions, Reconciler
from pegbot.execution.risk import Risk, RiskState
from pegbot.strategy import DesiredQuotes, MarketState, Quote, Strategy
from pegbot.values import value

__all__ = ["Decision", "DecisionStep"]

_NO_ACTIONS = Actions()


@value
class Decision:
    """One decision's outcome.

    Attributes:
        desired: What the strategy asked for.
        allowed: What risk let through (``desired`` without a risk layer).
        risk: Risk's state after this decision (None without a risk layer).
        actions: The reconciler's actions (empty when ``cancel_all``).
        cancel_all: Risk wants every order cancelled and the cancel confirmed.
    """

    desired: DesiredQuotes
    allowed: DesiredQuotes
    risk: RiskState | None
    actions: Actions
    cancel_all: bool = False


class DecisionStep:
    """Strategy, risk and reconciler as one pure step (see the module docstring).

    Args:
        strategy: The quoting strategy.
        risk: The risk layer, or None to pass the strategy's quotes through unclamped.
        reconciler: The reconciler.
    """

    __slots__ = ("_last", "_last_live", "_last_quotes", "reconciler", "risk", "strategy")

    def __init__(self, strategy: Strategy, risk: Risk | None, reconciler: Reconciler) -> None:
        self.strategy = strategy
        self.risk = risk
        self.reconciler = reconciler
        # The inputs and answer of the last diff that sent nothing (None: none to reuse).
        self._last_quotes: tuple[Quote, ...] | None = None
        self._last_live: object = None
        self._last = _NO_ACTIONS

    def decide(self, state: MarketState) -> Decision:
        """Run the step once for ``state`` (its ``live_orders`` are the tracker's)."""
        desired = self.strategy.quote(state)
        allowed, rs = desired, None
        if self.risk is not None:
            allowed, rs = self.risk.apply(state, desired)
            if rs.cancel_all:
                self._last_quotes = None
                return Decision(desired, allowed, rs, _NO_ACTIONS, cancel_all=True)
        live = state.live_orders
        if live is self._last_live and allowed.quotes == self._last_quotes:
            return Decision(desired, allowed, rs, self._last)
        actions = self.reconciler.diff(allowed, live, state.now_ns)
        if (
            actions.cancels
            or actions.places
            or actions.amends
            or actions.replaces
            or actions.rebinds
            or any(s.reason == "rate_budget" for s in actions.skipped)
        ):  # sent something (Actions.requests), changed levels, or was held back
            self._last_quotes = None
        else:
            self._last_quotes, self._last_live, self._last = allowed.quotes, live, actions
        return Decision(desired, allowed, rs, actions)
