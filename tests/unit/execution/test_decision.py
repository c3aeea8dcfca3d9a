"""The decision step: strategy → risk → reconciler once, and the no-change shortcut exact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.budget import RateBudget, RateLimit
from pegbot.execution.decision import DecisionStep
from pegbot.execution.orders import OrderTracker
from pegbot.execution.reconciler import Reconciler
from pegbot.execution.risk import Risk, RiskParams
from pegbot.market import Market
from pegbot.strategy import Inventory, load_strategy
from pegbot.testing import inventory, market_state

MARKET = Market.kgst_usdt()


def step(**reconciler: object) -> DecisionStep:
    strategy = load_strategy("peg_ladder", MARKET, {"levels": 2, "size_lots": 100})
    return DecisionStep(
        strategy, Risk(RiskParams(), MARKET, 0), Reconciler(MARKET, "run1", **reconciler)
    )


def held() -> Inventory:
    return inventory(MARKET, excess_lots=0, target_lots=1_000_000, quote=100_000)


def test_the_first_decision_places_the_ladder() -> None:
    d = step().decide(market_state(inventory_=held()))
    assert d.risk is not None and not d.cancel_all
    assert len(d.actions.places) == len(d.allowed.quotes) == 4


def test_a_halt_asks_for_cancel_all_and_sends_nothing() -> None:
    s = step()
    assert s.risk is not None
    s.risk.kill(0, "test")
    d = s.decide(market_state(inventory_=held()))
    assert d.cancel_all and d.actions.requests == 0 and not d.allowed.quotes


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.integers(1138, 1146), st.integers(-3000, 3000), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_the_shortcut_answers_what_a_full_diff_would(
    moves: list[tuple[int, int, bool]],
) -> None:
    # Two steps see the same states; one keeps its shortcut, the other is made to diff every
    # time. Their actions must be the same at every decision.
    fast, slow = step(cap_exposure=True), step(cap_exposure=True)
    orders_fast, orders_slow = OrderTracker("run1"), OrderTracker("run1")
    for i, (bid, excess, ack) in enumerate(moves):
        for s, orders in ((fast, orders_fast), (slow, orders_slow)):
            if s is slow:
                s._last_quotes = None  # no shortcut for this one
            state = market_state(
                bid=bid, ask=bid + 1, now_ns=i + 1, live=orders.live_orders(),
                inventory_=inventory(MARKET, excess, 1_000_000, 100_000),
            )  # fmt: skip
            d = s.decide(state)
            sent = orders.apply(d.actions)
            if ack:
                for p in sent.places:
                    orders.on_open(p.client_id, i)
            if s is fast:
                fast_actions = d.actions
            else:
                assert d.actions == fast_actions


def test_a_rate_budget_skip_is_never_answered_from_the_shortcut() -> None:
    budget = RateBudget([RateLimit("ORDERS", 1, 1_000_000_000)], now_ns=0)
    s = step(budget=budget)
    orders = OrderTracker("run1")
    first = s.decide(market_state(inventory_=held(), live=orders.live_orders()))
    orders.apply(first.actions)
    assert any(k.reason == "rate_budget" for k in first.actions.skipped)
    # Time passes, the budget refills: the same inputs now place what was held back.
    later = s.decide(
        market_state(inventory_=held(), live=orders.live_orders(), now_ns=10_000_000_000)
    )
    assert later.actions.places
