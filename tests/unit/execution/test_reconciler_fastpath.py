"""The reconciler's fast diff gives exactly the Actions of the plain algorithm.

``_reference_diff`` below is the plain diff, with no regard for the per-decision cost (filters
through ``filter_reason``, the full bipartite adjacency built every time, Kuhn's augmenting
paths, the place order sorted even for one quote). Both run on random desired quotes and
live orders (statuses, shared level ids, tolerances, cross-level on and off, a rate budget,
``wait_for_cancel``) and must agree action for action, client ids included.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.budget import RateBudget, RateLimit
from pegbot.execution.reconciler import (
    Actions,
    Cancel,
    Place,
    Rebind,
    Reconciler,
    Skip,
    _augment,
    _rank,
)
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote

MARKET = Market.kgst_usdt()


def _ref_compatible(rec: Reconciler, d: Quote, o: LiveOrder) -> bool:
    if d.side is not o.side or abs(d.price_ticks - o.price_ticks) > rec.price_tolerance_ticks:
        return False
    if o.status is OrderStatus.PENDING_AMEND:
        return True  # its size is being fixed: the price decides
    return abs(o.lots - d.lots) <= rec.size_tolerance * d.lots  # Fraction arithmetic


def _reference_matching(
    rec: Reconciler, wanted: list[Quote], active: list[LiveOrder]
) -> dict[int, int]:
    adj: list[list[int]] = []
    pending = {o.level_id for o in active if o.status is OrderStatus.PENDING_NEW}
    for d in wanted:
        same = [
            j
            for j, o in enumerate(active)
            if o.level_id == d.level_id and _ref_compatible(rec, d, o)
        ]
        other = []
        if rec.cross_level and d.level_id not in pending:
            other = [
                j
                for j, o in enumerate(active)
                if o.level_id != d.level_id and _ref_compatible(rec, d, o)
            ]
        adj.append(same + other)
    owner: dict[int, int] = {}
    for i, d in enumerate(wanted):
        for j in adj[i]:
            if active[j].level_id == d.level_id and j not in owner:
                owner[j] = i
                break
    matched = set(owner.values())
    for i in range(len(wanted)):
        if i not in matched and _augment(i, adj, owner, set()):
            matched.add(i)
    return {i: j for j, i in owner.items()}


def _reference_diff(
    rec: Reconciler, desired: DesiredQuotes, live: Sequence[LiveOrder], now_ns: int
) -> Actions:
    skipped: list[Skip] = []
    wanted: list[Quote] = []
    for q in desired.quotes:
        reason = rec.filter_reason(q)
        if reason is None:
            wanted.append(q)
        else:
            skipped.append(Skip(q.level_id, reason))
    active = [o for o in live if o.status is not OrderStatus.PENDING_CANCEL]
    cancelling = {o.level_id for o in live if o.status is OrderStatus.PENDING_CANCEL}
    match = _reference_matching(rec, wanted, active)
    matched_live = set(match.values())
    rebinds = tuple(
        Rebind(active[j].client_id, wanted[i].level_id)
        for i, j in sorted(match.items())
        if active[j].level_id != wanted[i].level_id
    )
    wanted_levels = {q.level_id for q in wanted}
    cancels: list[Cancel] = []
    busy: set[str] = set()
    for j, o in enumerate(active):
        if j in matched_live:
            continue
        if o.status is OrderStatus.PENDING_NEW:
            busy.add(o.level_id)
            continue
        reason = "reprice" if o.level_id in wanted_levels else "unwanted"
        cancels.append(Cancel(o.client_id, o.level_id, reason))
    sent: list[Cancel] = []
    for c in cancels:
        if rec.budget is None or rec.budget.try_spend("cancel", now_ns):
            sent.append(c)
        else:
            skipped.append(Skip(c.level_id, "rate_budget"))
    waiting = cancelling | {c.level_id for c in cancels} if rec.wait_for_cancel else set()
    to_place = [q for i, q in enumerate(wanted) if i not in match]
    to_place.sort(key=lambda q: (_rank(q, wanted), q.side < 0, q.level_id))
    places: list[Place] = []
    for q in to_place:
        if q.level_id in busy:
            skipped.append(Skip(q.level_id, "level_busy"))
        elif q.level_id in waiting:
            skipped.append(Skip(q.level_id, "cancel_pending"))
        elif rec.budget is not None and not rec.budget.try_spend("place", now_ns):
            skipped.append(Skip(q.level_id, "rate_budget"))
        else:
            places.append(Place(q, rec.next_client_id(q.level_id), rec.post_only))
    return Actions(tuple(sent), tuple(places), rebinds, tuple(skipped), len(match))


quotes = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1138, 1146),
        st.sampled_from([1, 80, 90, 100, 110]),  # 1 and 80 lots break the filters
        st.integers(0, 5),
    ),
    max_size=6,
)
orders = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1138, 1146),
        st.sampled_from([90, 100, 110]),
        st.integers(0, 5),
        st.sampled_from(list(OrderStatus)),
    ),
    max_size=6,
)


def _level(side: Side, i: int) -> str:
    return f"{'b' if side is Side.BUY else 'a'}{i}"


@settings(max_examples=400, deadline=None)
@given(
    quotes,
    orders,
    st.integers(0, 2),
    st.sampled_from(["0", "0.1", "0.25", "1/3"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, 1, 3]),
)
def test_fast_diff_equals_reference(
    want: list[tuple[Side, int, int, int]],
    have: list[tuple[Side, int, int, int, OrderStatus]],
    tol: int,
    size_tol: str,
    cross: bool,
    wait: bool,
    burst: int | None,
) -> None:
    by_level: dict[str, Quote] = {}
    for s, p, n, i in want:
        by_level.setdefault(_level(s, i), Quote(s, p, n, _level(s, i)))
    desired = DesiredQuotes(tuple(by_level.values()))
    live = [
        LiveOrder(f"pegbot-old-{_level(s, i)}-{k}", _level(s, i), s, p, n, status)
        for k, (s, p, n, i, status) in enumerate(have)
    ]

    def make() -> Reconciler:
        budget = None
        if burst is not None:
            budget = RateBudget([RateLimit("ORDERS", burst, 1_000_000_000)], place_reserve={})
        return Reconciler(
            MARKET, "r3", price_tolerance_ticks=tol, size_tolerance=size_tol,
            budget=budget, wait_for_cancel=wait, cross_level=cross,
        )  # fmt: skip

    fast, slow = make(), make()
    for now in (0, 1):  # twice: the budget and the ids carry over
        assert fast.diff(desired, live, now) == _reference_diff(slow, desired, live, now)
        assert fast.next_seq == slow.next_seq


def test_one_order_a_side_requote() -> None:
    # The cross-check market maker's usual step: the bid moved, the ask stays.
    rec = Reconciler(MARKET, "r4", cross_level=False)
    desired = DesiredQuotes((Quote(Side.BUY, 1140, 100, "b0"), Quote(Side.SELL, 1142, 100, "a0")))
    live = [
        LiveOrder("pegbot-r4-b0-7", "b0", Side.BUY, 1139, 100),
        LiveOrder("pegbot-r4-a0-8", "a0", Side.SELL, 1142, 100),
    ]
    actions = rec.diff(desired, live)
    assert actions.cancels == (Cancel("pegbot-r4-b0-7", "b0", "reprice"),)
    assert actions.places == (Place(desired.quotes[0], "pegbot-r4-b0-1", True),)
    assert actions.kept == 1 and actions.rebinds == () and actions.skipped == ()
