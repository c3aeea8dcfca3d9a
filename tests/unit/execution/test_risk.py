"""Risk: every trigger escalates, hysteresis on the way down, halt latches, limits hold."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import BookWithout, OrderBook
from pegbot.execution.risk import TRIGGERS, Risk, RiskLevel, RiskParams
from pegbot.market import Market, Side
from pegbot.quoting import band_ticks
from pegbot.strategy import (
    DesiredQuotes,
    FairView,
    FeedHealth,
    Inventory,
    MarketState,
    Quote,
)

MARKET = Market.kgst_usdt()
UPL = MARKET.units_per_lot  # 1e8 qty units per lot
SEC = 1_000_000_000
FAIR = Fraction(2287, 2)
T0 = 1_000 * SEC

NORMAL, DEFEND, FREEZE, HALT = RiskLevel.NORMAL, RiskLevel.DEFEND, RiskLevel.FREEZE, RiskLevel.HALT


def _book(bid: int | None = 1143, ask: int | None = 1144) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(bid, 10**12)] if bid else [], [(ask, 10**12)] if ask else [])
    return book


def _state(now: int = T0, **kw: Any) -> MarketState:
    base = MarketState(
        now_ns=now,
        book=_book(),
        fair=FairView.make(FAIR, "ok", 0, now),
        inventory=Inventory(
            base_units=100_000 * UPL, quote_units=1_000 * UPL, target_base_units=100_000 * UPL
        ),
        feed=FeedHealth(book_ts_ns=now),
    )
    return replace(base, **kw)


def _desired() -> DesiredQuotes:
    return DesiredQuotes(
        (
            Quote(Side.BUY, 1142, 1000, "b0"),
            Quote(Side.SELL, 1145, 1000, "a0"),
            Quote(Side.BUY, 1141, 1000, "b1"),
            Quote(Side.SELL, 1146, 1000, "a1"),
        )
    )


def _risk(**params: Any) -> Risk:
    return Risk(RiskParams(**params), MARKET, start_ns=0)


def test_normal_passes_quotes_through() -> None:
    out, rs = _risk().apply(_state(), _desired())
    assert rs.level is NORMAL and rs.triggers == () and rs.transition is None
    assert set(out.quotes) == set(_desired().quotes)
    assert rs.quoting and not rs.cancel_all
    assert rs.deviation_bps == pytest.approx(0.0)


def _feed(**kw: Any) -> Callable[[MarketState], MarketState]:
    return lambda s: replace(s, feed=replace(s.feed, **kw))  # type: ignore[type-var]


def _fair(**kw: Any) -> Callable[[MarketState], MarketState]:
    return lambda s: replace(s, fair=replace(s.fair, **kw))  # type: ignore[type-var]


SCENARIOS: list[tuple[str, Callable[[MarketState], MarketState], RiskLevel, dict[str, Any]]] = [
    ("no_feed_health", lambda s: replace(s, feed=None), FREEZE, {}),
    ("book_stale", _feed(book_ts_ns=T0 - 11 * SEC), FREEZE, {}),
    ("book_unsynced", _feed(book_synced=False), FREEZE, {}),
    ("ws_down", _feed(ws_connected=False), FREEZE, {}),
    ("book_empty", lambda s: replace(s, book=OrderBook()), DEFEND, {}),
    ("book_empty", lambda s: replace(s, book=OrderBook()), FREEZE, {"market_empty": "freeze"}),
    ("book_crossed", lambda s: replace(s, book=_book(1145, 1144)), FREEZE, {}),
    ("no_fair", lambda s: replace(s, fair=None), FREEZE, {}),
    ("fair_stale", _fair(state="stale"), FREEZE, {}),
    ("fair_stale", _fair(observed_at_ns=T0 - 7200 * SEC), FREEZE, {"fair_max_age_s": 3600}),
    ("fair_stale", _fair(age_ns=7200 * SEC), FREEZE, {"fair_max_age_s": 3600}),
    ("fair_disputed", _fair(state="disputed"), DEFEND, {}),
    ("fair_disputed", _fair(state="disputed"), FREEZE, {"fair_disputed": "freeze"}),
    ("fair_jump", _fair(state="jump"), FREEZE, {}),
    ("peg_deviation", lambda s: replace(s, book=_book(1150, 1151)), DEFEND, {}),  # +61 bps
    ("peg_deviation", lambda s: replace(s, book=_book(1190, 1191)), FREEZE, {}),  # +415 bps
    (
        "peg_deviation",
        lambda s: replace(s, book=_book(None, 1130)),
        DEFEND,
        {},
    ),  # one side, −118 bps
    (
        "inventory",
        lambda s: replace(s, inventory=replace(s.inventory, base_units=160_000 * UPL)),
        DEFEND,
        {"inventory_defend_lots": 50_000},
    ),
    (
        "inventory_limit",
        lambda s: replace(s, inventory=replace(s.inventory, base_units=300_000 * UPL)),
        FREEZE,
        {"max_base_lots": 200_000},
    ),
    (
        "inventory_limit",
        lambda s: replace(s, inventory=replace(s.inventory, base_units=10 * UPL)),
        HALT,
        {"min_base_lots": 1000, "inventory_breach": "halt"},
    ),
    ("reject_storm", _feed(rejects_total=10), FREEZE, {}),
    ("reject_storm", _feed(rejects_total=50), HALT, {}),
]


@pytest.mark.parametrize(("name", "change", "level", "params"), SCENARIOS)
def test_each_trigger_reaches_its_level(
    name: str,
    change: Callable[[MarketState], MarketState],
    level: RiskLevel,
    params: dict[str, Any],
) -> None:
    risk = _risk(**params)
    assert risk.apply(_state(T0 - SEC), _desired())[1].level is NORMAL  # baseline sample
    out, rs = risk.apply(change(_state()), _desired())
    assert name in rs.reasons
    assert rs.level is level
    assert (
        rs.transition is not None
        and rs.transition.to_level is level
        and name in rs.transition.reasons
    )
    assert risk.transitions[-1] == rs.transition
    if level >= FREEZE:
        assert out.quotes == ()
    assert rs.cancel_all is (level is HALT)


def test_every_trigger_name_is_covered() -> None:
    tested = {s[0] for s in SCENARIOS} | {"loss_from_peak", "quotes_crossed", "kill"}
    assert tested == set(TRIGGERS)


def test_loss_from_peak_defends_then_halts() -> None:
    risk = _risk(loss_defend=5, loss_halt=10)
    s = _state()
    equity0 = (s.inventory.quote_units + s.inventory.base_units * FAIR / 100_000) / UPL
    assert equity0 == 1000 + 100_000 * FAIR / 100_000  # 1000 USDT + 100k KGST at fair
    risk.apply(s, _desired())
    poorer = replace(s.inventory, quote_units=s.inventory.quote_units - 6 * UPL)
    _, rs = risk.apply(_state(T0 + SEC, inventory=poorer), _desired())
    assert rs.level is DEFEND and rs.drawdown == 6
    broke = replace(s.inventory, quote_units=s.inventory.quote_units - 11 * UPL)
    _, rs = risk.apply(_state(T0 + 2 * SEC, inventory=broke), _desired())
    assert rs.level is HALT and "loss_from_peak" in rs.reasons
    # A fair-value move marks inventory too: the peak is at fair.
    risk2 = _risk(loss_defend=5)
    risk2.apply(s, _desired())
    lower_fair = FairView.make(FAIR - 10, "ok", 0, T0 + SEC)  # 100k KGST × 1e-4 = 10 USDT
    _, rs = risk2.apply(_state(T0 + SEC, fair=lower_fair, book=_book(1133, 1134)), _desired())
    assert rs.drawdown == 10 and rs.level is DEFEND


def test_crossed_strategy_output_freezes() -> None:
    crossed = DesiredQuotes((Quote(Side.BUY, 1144, 10, "b0"), Quote(Side.SELL, 1144, 10, "a0")))
    out, rs = _risk().apply(_state(), crossed)
    assert rs.level is FREEZE and "quotes_crossed" in rs.reasons and out.quotes == ()


def test_kill_latches_until_resume() -> None:
    risk = _risk(cooldown_s=1)
    t = risk.kill(T0, "sigterm")
    assert t is not None and t.to_level is HALT and t.details == ("kill: sigterm",)
    for i in range(1, 100):
        out, rs = risk.apply(_state(T0 + i * SEC), _desired())
        assert rs.level is HALT and out.quotes == () and rs.cancel_all
    assert risk.resume(T0 + 100 * SEC) is not None
    levels = [risk.apply(_state(T0 + (100 + i) * SEC), _desired())[1].level for i in range(5)]
    assert levels[0] is FREEZE and levels[-1] is NORMAL
    assert [t.to_level for t in risk.drain_transitions()] == [HALT, FREEZE, DEFEND, NORMAL]
    assert risk.transitions == [] and risk.resume(T0) is None


def test_reject_storm_halt_latches_even_when_rejects_stop() -> None:
    risk = _risk(cooldown_s=1, reject_window_s=10)
    risk.apply(_state(T0), _desired())
    _, rs = risk.apply(_state(T0 + SEC, feed=FeedHealth(T0 + SEC, rejects_total=60)), _desired())
    assert rs.level is HALT and rs.rejects_in_window == 60
    for i in range(2, 200):
        now = T0 + i * SEC
        _, rs = risk.apply(_state(now, feed=FeedHealth(now, rejects_total=60)), _desired())
    assert rs.level is HALT and rs.rejects_in_window == 0 and rs.target is NORMAL
    risk.resume(T0 + 200 * SEC)
    _, rs = risk.apply(
        _state(T0 + 200 * SEC, feed=FeedHealth(T0 + 200 * SEC, rejects_total=60)), _desired()
    )
    assert rs.level is FREEZE  # the storm window restarted: old rejects do not re-halt


def test_rejects_outside_the_window_are_forgotten() -> None:
    risk = _risk(reject_window_s=10, rejects_freeze=5, cooldown_s=0)
    counts = [0, 2, 4, 6, 8, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    levels = []
    for i, n in enumerate(counts):
        now = T0 + i * 3 * SEC
        levels.append(
            risk.apply(_state(now, feed=FeedHealth(now, rejects_total=n)), _desired())[1].level
        )
    assert FREEZE in levels and levels[-1] is NORMAL


def test_hysteresis_on_value_and_time() -> None:
    risk = _risk(deviation_defend_bps=50, release_ratio=0.8, cooldown_s=30)
    fair = FAIR

    def at(t_s: int, bid: int) -> RiskLevel:
        now = T0 + t_s * SEC
        s = _state(now, book=_book(bid, bid + 1), fair=FairView.make(fair, "ok", 0, now))
        return risk.apply(s, _desired())[1].level

    assert at(0, 1149) is DEFEND  # +52 bps
    assert at(1, 1148) is DEFEND  # +43.7 bps: above 40, the trigger holds
    assert (
        "peg_deviation"
        in risk.apply(_state(T0 + 2 * SEC, book=_book(1148, 1149)), _desired())[1].reasons
    )
    # Flapping across the threshold for a minute never reaches normal and adds no transitions.
    for t in range(3, 63):
        assert at(t, 1149 if t % 2 else 1143) is DEFEND
    assert len(risk.transitions) == 1
    # Calm for the cooldown: back to normal, once.
    assert at(63, 1143) is DEFEND  # calm since t = 62
    assert at(91, 1143) is DEFEND
    assert at(92, 1143) is NORMAL
    assert [t.to_level for t in risk.transitions] == [DEFEND, NORMAL]
    assert risk.transitions[-1].reasons == ("cooldown",)


def test_steps_down_one_level_per_cooldown() -> None:
    risk = _risk(cooldown_s=10)
    _, rs = risk.apply(_state(T0, feed=FeedHealth(T0, ws_connected=False)), _desired())
    assert rs.level is FREEZE
    seen = []
    for i in range(1, 40):
        out, rs = risk.apply(_state(T0 + i * SEC), _desired())
        seen.append(rs.level)
        if rs.level is FREEZE:
            assert out.quotes == () and rs.target is NORMAL
    # Calm from t = 1 s: defend at t = 11 s, normal at t = 21 s (seen[i - 1] is t = i s).
    assert seen[9] is FREEZE and seen[10] is DEFEND and seen[19] is DEFEND and seen[20] is NORMAL
    t = risk.transitions
    assert [(x.from_level, x.to_level) for x in t] == [
        (NORMAL, FREEZE),
        (FREEZE, DEFEND),
        (DEFEND, NORMAL),
    ]
    assert t[0].reasons == ("ws_down",)


def test_defend_widens_and_shrinks() -> None:
    out, rs = _risk(defend_widen_bps=10, defend_size_factor=0.5).apply(
        _state(fair=FairView.make(FAIR, "disputed", 0, T0)), _desired()
    )
    assert rs.level is DEFEND
    # 10 bps of 1143.5 ticks = 1.14 → 2 ticks away from the touch.
    assert {q.level_id: (q.price_ticks, q.lots) for q in out.quotes} == {
        "b0": (1140, 500),
        "a0": (1147, 500),
        "b1": (1139, 500),
        "a1": (1148, 500),
    }


def test_clamps_band_and_post_only() -> None:
    d = DesiredQuotes(
        (
            Quote(Side.BUY, 1144, 10, "b0"),  # would take the 1144 ask
            Quote(Side.BUY, 1100, 10, "b1"),  # below the band
            Quote(Side.SELL, 1146, 10, "a0"),
            Quote(Side.SELL, 1200, 10, "a1"),  # above the band
        )
    )
    out, rs = _risk(band_bps=100).apply(_state(), d)
    assert [q.level_id for q in out.quotes] == ["a0"] and rs.dropped == 3


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 60), st.integers(1, 50_000)
        ),
        max_size=10,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.integers(0, 400_000),
    st.integers(0, 3_000),
    st.one_of(st.none(), st.integers(0, 300_000)),
    st.integers(0, 50_000),
    st.one_of(st.none(), st.integers(1, 80_000)),
    st.booleans(),
)
def test_limits_are_never_exceeded(
    quotes: list[tuple[Side, int, int]],
    base_lots: int,
    quote_usdt: int,
    max_base: int | None,
    min_base: int,
    max_side: int | None,
    disputed: bool,
) -> None:
    # Bids below fair, asks above, i ticks away: a sane ladder for risk to clamp.
    d = DesiredQuotes(
        tuple(
            Quote(
                s, 1143 - i if s is Side.BUY else 1144 + i, n, f"{'b' if s is Side.BUY else 'a'}{i}"
            )
            for s, i, n in quotes
        )
    )
    inv = Inventory(
        base_units=base_lots * UPL, quote_units=quote_usdt * UPL, target_base_units=base_lots * UPL
    )
    risk = _risk(
        max_base_lots=max_base, min_base_lots=min_base, max_side_lots=max_side, band_bps=300
    )
    state = _state(
        book=_book(1143, 1144),
        inventory=inv,
        fair=FairView.make(FAIR, "disputed" if disputed else "ok", 0, T0),
    )
    out, rs = risk.apply(state, d)
    if rs.level >= FREEZE:
        assert out.quotes == ()
        return
    bid_lots, ask_lots = out.lots(Side.BUY), out.lots(Side.SELL)
    if max_base is not None:
        assert base_lots + bid_lots <= max(max_base, base_lots) and (
            base_lots <= max_base or bid_lots == 0
        )
    assert base_lots - ask_lots >= min(min_base, base_lots) and (
        base_lots >= min_base or ask_lots == 0
    )
    if max_side is not None:
        assert bid_lots <= max_side and ask_lots <= max_side
    cost = sum(Fraction(q.price_ticks * q.lots, 100_000) for q in out.bids)
    assert cost <= quote_usdt
    lo, hi = band_ticks(FAIR, Fraction(300))
    assert all(lo <= q.price_ticks <= hi for q in out.quotes)
    assert all(q.price_ticks < 1144 for q in out.bids) and all(
        q.price_ticks > 1143 for q in out.asks
    )
    if out.best_bid is not None and out.best_ask is not None:
        assert out.best_bid < out.best_ask
    for q in out.quotes:  # sizes only ever shrink
        original = d.get(q.level_id)
        assert original is not None and q.lots <= original.lots
    assert math.isfinite(rs.deviation_bps or 0.0)


# -- starting --------------------------------------------------------------------------------


def _starting_risk(grace_s: float = 5.0) -> Risk:
    return Risk(RiskParams(start_grace_s=grace_s, cooldown_s=30), MARKET, start_ns=T0)


def test_starting_waits_for_its_inputs_without_an_event_then_quotes_at_once() -> None:
    risk = _starting_risk()
    # The feed has not connected, no fair value yet: nothing is quoted, and it is no event.
    early = _state(
        now=T0 + SEC,
        book=_book(None, None),
        fair=None,
        feed=FeedHealth(book_ts_ns=0, book_synced=False, ws_connected=False),
    )
    out, rs = risk.apply(early, _desired())
    assert rs.starting and not rs.quoting and out.quotes == ()
    assert rs.level is NORMAL and rs.transition is None and risk.transitions == []
    assert {t.name for t in rs.triggers} >= {"book_unsynced", "ws_down", "book_empty", "no_fair"}
    # The inputs arrive: the very next decision quotes, no cooldown to sit out.
    out, rs = risk.apply(_state(now=T0 + 2 * SEC), _desired())
    assert not rs.starting and rs.quoting and rs.level is NORMAL
    assert set(out.quotes) == set(_desired().quotes) and risk.transitions == []


def test_starting_ends_at_the_grace_and_the_normal_rules_apply() -> None:
    risk = _starting_risk(grace_s=5.0)
    dead = {"book": _book(None, None), "feed": FeedHealth(book_ts_ns=0, book_synced=False)}
    _, rs = risk.apply(_state(now=T0 + 4 * SEC, **dead), _desired())
    assert rs.starting
    _, rs = risk.apply(_state(now=T0 + 5 * SEC, **dead), _desired())
    assert not rs.starting and rs.level is FREEZE  # a feed that never came freezes
    assert rs.transition is not None and "book_unsynced" in rs.transition.reasons


def test_starting_gives_no_grace_to_anything_but_missing_inputs() -> None:
    risk = _starting_risk()
    crossed = _state(now=T0 + SEC, book=_book(1145, 1144))
    _, rs = risk.apply(crossed, _desired())
    assert not rs.starting and rs.level is FREEZE  # a crossed book is news, not a late input
    killed = _starting_risk()
    killed.kill(T0 + SEC, "operator")
    _, rs = killed.apply(_state(now=T0 + SEC, fair=None), _desired())
    assert rs.level is HALT and not rs.starting


def test_no_grace_means_no_starting() -> None:
    risk = _starting_risk(grace_s=0)
    _, rs = risk.apply(_state(now=T0, fair=None), _desired())
    assert not rs.starting and rs.level is FREEZE


def test_the_market_is_judged_without_our_own_orders() -> None:
    # After a rate step the rest of the market has left the peg: its asks sit 20 % higher.
    # Only our stale quotes at the top still make the full book look pegged; risk must
    # see the moved market.
    book = OrderBook()
    book.apply_snapshot([(1143, 2000 * UPL), (1142, 10**12)], [(1144, 2000 * UPL), (1400, 10**12)])

    ours_only = BookWithout(book, {1143: 2000 * UPL}, {1144: 2000 * UPL})
    risk = _risk()
    _, pegged = risk.apply(_state(book=book), _desired())
    assert "peg_deviation" not in pegged.reasons  # the full book: our quotes at the top
    risk = _risk()
    _, moved = risk.apply(_state(book=book, market=ours_only), _desired())
    assert "peg_deviation" in moved.reasons and moved.level >= FREEZE


def test_an_empty_market_besides_our_quotes_is_an_empty_book_and_we_keep_quoting() -> None:
    # The crowd pulled its book: ours are the only orders left. Pulling them too would leave
    # the peg with nothing; risk defends (wider, smaller) and keeps quoting.
    book = _book()
    only_ours = BookWithout(book, {1143: 10**12}, {1144: 10**12})
    out, rs = _risk().apply(_state(market=only_ours), _desired())
    assert "book_empty" in rs.reasons and rs.level is DEFEND and rs.quoting
    assert out.bids and out.asks


def test_after_a_confirmed_jump_a_lagging_market_only_defends_for_the_grace() -> None:
    # The fair re-anchored on a confirmed step 60 s ago; the market still trades 415 bps
    # away. Quoting at the new fair is what leads it there: defend, not freeze. Once the
    # grace is over, a market still that far away pulls quotes again.
    moved = _book(1190, 1191)
    rebased = T0 - 60 * SEC
    fair = FairView.make(FAIR, "ok", 0, T0, rebased_at_ns=rebased)
    _, within = _risk(deviation_grace_s=300).apply(_state(book=moved, fair=fair), _desired())
    assert within.level is DEFEND and "peg_deviation" in within.reasons
    assert any("confirmed jump" in t.detail for t in within.triggers)
    _, never_rebased = _risk(deviation_grace_s=300).apply(_state(book=moved), _desired())
    assert never_rebased.level is FREEZE
    late = T0 + 300 * SEC
    fair_late = FairView.make(FAIR, "ok", 0, late, rebased_at_ns=rebased)
    state_late = _state(now=late, book=moved, fair=fair_late)
    _, after = _risk(deviation_grace_s=300).apply(state_late, _desired())
    assert after.level is FREEZE


def test_defend_widens_up_to_the_band_edge_and_keeps_the_bids_that_lean_on_a_depeg() -> None:
    # Sellers hold the market ~80 bps under fair (1143.5): its best ask 1135, the band's
    # floor 1133. The strategy's bids sit right behind that ask; widening them by defend's
    # 2 ticks would leave the band, so they rest at the band's floor instead of vanishing.
    lo, _ = band_ticks(FAIR, Fraction(100))
    assert lo == 1133
    depeg = _book(1125, 1135)
    desired = DesiredQuotes(
        (
            Quote(Side.BUY, 1134, 1000, "b0"),
            Quote(Side.BUY, 1133, 1000, "b1"),
            Quote(Side.SELL, 1145, 1000, "a0"),
        )
    )
    out, rs = _risk().apply(_state(book=depeg), desired)
    assert rs.level is DEFEND and "peg_deviation" in rs.reasons
    assert [(q.price_ticks, q.lots) for q in out.bids] == [(lo, 500), (lo, 500)]
    assert all(q.price_ticks > 1145 for q in out.asks)


def test_a_settled_jump_releases_its_freeze_at_once_other_triggers_cool_down() -> None:
    risk = _risk(cooldown_s=30)
    _, rs = risk.apply(_state(fair=FairView.make(FAIR, "jump", 0, T0)), _desired())
    assert rs.level is FREEZE and rs.reasons == ("fair_jump",)
    # Confirmed one second later: quoting at the new fair at once, no 2 x 30 s of cooldown.
    _, rs = risk.apply(_state(now=T0 + SEC), _desired())
    assert rs.level is NORMAL and rs.quoting
    assert rs.transition is not None and rs.transition.reasons == ("fair_jump settled",)
    # A jump that came with a stale book (a freeze of its own) cools down as before.
    risk = _risk(cooldown_s=30)
    both = _state(
        fair=FairView.make(FAIR, "jump", 0, T0), feed=FeedHealth(book_ts_ns=T0 - 11 * SEC)
    )
    _, rs = risk.apply(both, _desired())
    assert rs.level is FREEZE and set(rs.reasons) == {"fair_jump", "book_stale"}
    _, rs = risk.apply(_state(now=T0 + SEC), _desired())
    assert rs.level is FREEZE


def test_a_deviation_seen_before_the_step_was_known_settles_with_the_confirmed_jump() -> None:
    # The crowd repriced first: the market sits 1500 bps above the old fair (freeze). The bot
    # then reads the new rate; once the step is confirmed the fair re-anchors on the market,
    # and the freeze goes at once instead of cooling down twice.
    risk = _risk(cooldown_s=30)
    moved = _book(1314, 1316)
    _, rs = risk.apply(_state(book=moved), _desired())
    assert rs.level is FREEZE and rs.reasons == ("peg_deviation",)
    new_fair = Fraction(2630, 2)
    pending = FairView.make(new_fair, "jump", 0, T0 + SEC)
    _, rs = risk.apply(_state(now=T0 + SEC, book=moved, fair=pending), _desired())
    assert rs.level is FREEZE and rs.reasons == ("fair_jump",)
    confirmed = FairView.make(new_fair, "ok", 0, T0 + 3 * SEC, rebased_at_ns=T0 + 3 * SEC)
    _, rs = risk.apply(_state(now=T0 + 3 * SEC, book=moved, fair=confirmed), _desired())
    assert rs.level is NORMAL and rs.quoting
