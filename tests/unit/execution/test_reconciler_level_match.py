"""The reconciler's per-level matching gives the Actions of the full matching, every option on.

:meth:`Reconciler.diff` matches each quote with its own level's order through a level index
and runs the bipartite matching only when an order might serve another level (or a level
holds two orders). ``_matching_diff`` below is the diff as it was before: the matching for
every decision, the place order sorted with ``_rank``, the filters run on every call. Both
run on random quotes and orders — every status, shared and detached levels, tolerances,
cross-level on and off, ``wait_for_cancel``, amend, cancel-replace, ``cap_exposure`` and a
rate budget — and must agree action for action, client ids included, also when the same
desired object comes again (the filters' verdict is kept for it).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.budget import RateBudget, RateLimit
from pegbot.execution.reconciler import (
    Actions,
    Amend,
    Cancel,
    Place,
    Rebind,
    Reconciler,
    Replace,
    Skip,
    _rank,
)
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote

MARKET = Market.kgst_usdt()


def _matching_diff(
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
    match = rec._max_matching(wanted, active)
    matched_live = set(match.values())
    rebinds = (
        tuple(
            Rebind(active[j].client_id, wanted[i].level_id)
            for i, j in sorted(match.items())
            if active[j].level_id != wanted[i].level_id
        )
        if rec.cross_level
        else ()
    )
    budget = rec.budget
    amends: list[Amend] = []
    if rec.amend:
        for i, j in sorted(match.items()):
            d, o = wanted[i], active[j]
            if not rec._needs_amend(d, o):
                continue
            if budget is not None and not budget.try_spend("amend", now_ns):
                skipped.append(Skip(d.level_id, "rate_budget"))
            else:
                amends.append(Amend(o.client_id, d.level_id, d.lots))
    movable: list[LiveOrder] = []
    busy: set[str] = set()
    for j, o in enumerate(active):
        if j in matched_live:
            continue
        if o.status is OrderStatus.PENDING_NEW:
            busy.add(o.level_id)
        else:
            movable.append(o)
    to_place = [q for i, q in enumerate(wanted) if i not in match]
    to_place.sort(key=lambda q: (_rank(q, wanted), q.side < 0, q.level_id))
    room = rec._room(wanted, live, match, active) if rec.cap_exposure else None
    replaces: list[Replace] = []
    if rec.replace and movable and to_place:
        to_place, movable = rec._pair_replaces(
            to_place, movable, busy, room, budget, now_ns, replaces, skipped
        )
    wanted_levels = {q.level_id for q in wanted}
    cancels = [
        Cancel(o.client_id, o.level_id, "reprice" if o.level_id in wanted_levels else "unwanted")
        for o in movable
    ]
    sent: list[Cancel] = []
    for c in cancels:
        if budget is None or budget.try_spend("cancel", now_ns):
            sent.append(c)
        else:
            skipped.append(Skip(c.level_id, "rate_budget"))
    waiting = cancelling | {c.level_id for c in cancels} if rec.wait_for_cancel else set()
    places: list[Place] = []
    for q in to_place:
        if q.level_id in busy:
            skipped.append(Skip(q.level_id, "level_busy"))
        elif q.level_id in waiting:
            skipped.append(Skip(q.level_id, "cancel_pending"))
        elif room is not None and q.lots > room[q.side]:
            skipped.append(Skip(q.level_id, "exposure"))
        elif budget is not None and not budget.try_spend("place", now_ns):
            skipped.append(Skip(q.level_id, "rate_budget"))
        else:
            if room is not None:
                room[q.side] -= q.lots
            places.append(Place(q, rec.next_client_id(q.level_id), rec.post_only))
    return Actions(
        tuple(sent), tuple(places), rebinds, tuple(skipped), len(match), tuple(amends),
        tuple(replaces),
    )  # fmt: skip


quotes = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1138, 1146),
        st.sampled_from([1, 80, 90, 100, 110]),  # 1 and 80 lots break the filters
        st.integers(0, 4),
    ),
    max_size=7,
)
orders = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1138, 1146),
        st.sampled_from([60, 90, 100, 110, 150]),
        st.integers(-1, 4),  # -1: detached (serves no level)
        st.sampled_from(list(OrderStatus)),
    ),
    max_size=7,
)
options = st.fixed_dictionaries(
    {
        "price_tolerance_ticks": st.integers(0, 2),
        "size_tolerance": st.sampled_from(["0", "0.1", "0.25", "1/3"]),
        "cross_level": st.booleans(),
        "wait_for_cancel": st.booleans(),
        "amend": st.booleans(),
        "replace": st.booleans(),
        "cap_exposure": st.booleans(),
    }
)


def _level(side: Side, i: int) -> str:
    if i < 0:
        return ""
    return f"{'b' if side is Side.BUY else 'a'}{i}"


@settings(max_examples=600, deadline=None)
@given(quotes, orders, options, st.sampled_from([None, 1, 3]))
def test_level_match_equals_full_matching(
    want: list[tuple[Side, int, int, int]],
    have: list[tuple[Side, int, int, int, OrderStatus]],
    opts: dict[str, object],
    burst: int | None,
) -> None:
    by_level: dict[str, Quote] = {}
    for s, p, n, i in want:
        by_level.setdefault(_level(s, i), Quote(s, p, n, _level(s, i)))
    desired = DesiredQuotes(tuple(by_level.values()))
    live = tuple(
        LiveOrder(f"pegbot-old-{_level(s, i) or 'x'}-{k}", _level(s, i), s, p, n, status)
        for k, (s, p, n, i, status) in enumerate(have)
    )

    def make() -> Reconciler:
        budget = None
        if burst is not None:
            budget = RateBudget([RateLimit("ORDERS", burst, 1_000_000_000)], place_reserve={})
        return Reconciler(MARKET, "r5", budget=budget, **opts)  # type: ignore[arg-type]

    fast, slow = make(), make()
    for now in (0, 1):  # twice: the budget, the ids and the filters' verdict carry over
        assert fast.diff(desired, live, now) == _matching_diff(slow, desired, live, now)
        assert fast.next_seq == slow.next_seq


def test_one_level_off_is_requoted_on_its_level() -> None:
    # One level of the ladder a tick off: the other levels keep their orders, none rebinds.
    rec = Reconciler(MARKET, "r6")
    desired = DesiredQuotes(
        (
            Quote(Side.BUY, 1140, 100, "b0"),
            Quote(Side.BUY, 1139, 100, "b1"),
            Quote(Side.SELL, 1143, 100, "a0"),
        )
    )
    live = (
        LiveOrder("pegbot-r6-b0-1", "b0", Side.BUY, 1140, 100),
        LiveOrder("pegbot-r6-b1-2", "b1", Side.BUY, 1138, 100),
        LiveOrder("pegbot-r6-a0-3", "a0", Side.SELL, 1143, 100),
    )
    actions = rec.diff(desired, live)
    assert actions.kept == 2 and actions.rebinds == ()
    assert actions.cancels == (Cancel("pegbot-r6-b1-2", "b1", "reprice"),)
    assert actions.places == (Place(desired.quotes[1], "pegbot-r6-b1-1", True),)
