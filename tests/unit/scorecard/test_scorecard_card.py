"""The scorecard on hand-worked examples: every figure computed by hand from the stream."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from pegbot.market import Market, Side
from pegbot.scorecard import (
    Book,
    Fair,
    Holding,
    ObligationSettings,
    OrderAction,
    OrderKind,
    OwnFill,
    Quotes,
    RateSeen,
    ScorecardSettings,
    score,
    weighted_quantile,
)
from pegbot.timeunits import NS_PER_S

S = NS_PER_S
# One tick is 0.01 quote, one qty unit is one base: a tick x unit is worth 0.01 quote.
MARKET = Market("X/Q", "X", "Q", Decimal("0.01"), Decimal("1"), qty_decimals=0)


def test_two_sided_uptime_and_the_longest_gaps() -> None:
    b, a = ((100, 1),), ((102, 1),)
    card = score(
        MARKET,
        [
            Quotes(0, b, ()),  # ask empty [0, 2)
            Quotes(2 * S, b, a),
            Quotes(5 * S, (), a),  # bid empty [5, 6)
            Quotes(6 * S, b, a),
        ],
        0,
        10 * S,
    )
    assert card.span_s == 10
    assert card.two_sided_uptime == pytest.approx(0.7)
    assert card.longest_one_sided_s == 2
    assert card.longest_empty_s == {"bid": 1, "ask": 2}


def test_a_gap_spanning_several_events_is_one_run() -> None:
    card = score(
        MARKET,
        [
            Quotes(0, ((100, 1),), ((102, 1),)),
            Quotes(1 * S, (), ((102, 1),)),
            Quotes(2 * S, (), ((103, 1),)),  # still no bid: the run goes on
            Quotes(4 * S, ((100, 1),), ((103, 1),)),
        ],
        0,
        5 * S,
    )
    assert card.longest_one_sided_s == 3
    assert card.longest_empty_s["bid"] == 3


def test_spread_percentiles_are_time_weighted() -> None:
    card = score(
        MARKET,
        [Quotes(0, ((100, 1),), ((102, 1),)), Quotes(3 * S, ((99, 1),), ((103, 1),))],
        0,
        4 * S,
    )
    narrow, wide = 2 * 20_000 / 202, 4 * 20_000 / 202
    # 3 s narrow, 1 s wide: half the time is narrow, 90 % needs the wide second too.
    assert card.spread_bps == {"p50": pytest.approx(narrow), "p90": pytest.approx(wide)}


def test_quoted_value_within_bands_of_fair() -> None:
    card = score(
        MARKET,
        [
            Fair(0, Fraction(100)),
            Quotes(0, ((99, 10), (95, 10)), ((101, 5),)),  # 100, 500 and 100 bps from fair
            Quotes(5 * S, (), ()),
        ],
        0,
        10 * S,
    )
    # Within 100 bps for half the span: bid 99 x 10 x 0.01 = 9.9, ask 101 x 5 x 0.01 = 5.05.
    assert card.quoted_value["100bps"] == {
        "bid": pytest.approx(9.9 / 2),
        "ask": pytest.approx(5.05 / 2),
    }
    assert card.quoted_value["50bps"] == {"bid": 0.0, "ask": 0.0}


def test_mid_deviation_percentiles_and_shares_with_and_without_us() -> None:
    settings = ScorecardSettings(mid_bands_bps=(10, 100))
    card = score(
        MARKET,
        [
            Fair(0, Fraction(100)),
            Book(0, 99, 101, 98, 102),  # mid at fair, with us and without
            Book(5 * S, 100, 102, 98, 102),  # public mid 101: 100 bps up; ours alone moved it
            Book(8 * S, None, 102, None, 102),  # no bid: no mid for the last 2 s
        ],
        0,
        10 * S,
        settings,
    )
    assert card.mid["p50"] == 0
    assert card.mid["p90"] == pytest.approx(100)
    assert card.mid["measured_s"] == 8
    assert card.mid["mean_bps"] == pytest.approx(100 * 3 / 8)
    # Shares of the whole span: a missing mid counts as outside.
    assert card.mid["within"] == {"10bps": 0.5, "100bps": pytest.approx(0.8)}
    assert card.mid_ex_ours["p99"] == 0
    assert card.mid_ex_ours["within"] == {"10bps": pytest.approx(0.8), "100bps": pytest.approx(0.8)}


def test_fx_jump_pull_requote_learned_and_wrong_side_fills() -> None:
    market = Market("X/Q", "X", "Q", Decimal("0.0001"), Decimal("1"), qty_decimals=0)
    card = score(
        market,
        [
            Fair(0, Fraction(10_000)),
            Quotes(0, ((9_990, 5),), ((10_010, 5),)),
            Fair(10 * S, Fraction(12_000)),  # +2000 bps: our ask is now below fair
            OwnFill(11 * S, Side.SELL, 10_010, 2, True),  # sold 2 at 10 010 with fair 12 000
            RateSeen(12 * S),
            OwnFill(int(12.2 * S), Side.SELL, 10_010, 1, True),  # after the bot read the rate
            Quotes(int(12.5 * S), ((9_990, 5),), ()),  # pulled
            Quotes(14 * S, ((11_950, 5),), ((12_050, 5),)),  # requoted within 50 bps
            OwnFill(15 * S, Side.SELL, 12_050, 1, True),  # a fine fill
        ],
        0,
        20 * S,
    )
    (j,) = card.jumps
    assert j.bps == pytest.approx(2000)
    assert (j.learned_s, j.pull_s, j.requote_s) == (2, 2.5, 4)
    assert (j.pull_after_learn_s, j.requote_after_learn_s) == (0.5, 2)
    assert j.window_s == 10 and j.wrong_side_s == 2.5
    assert j.wrong_side_fills == 2 and j.wrong_side_qty == 3
    assert j.wrong_side_fills_after_learn == 1
    assert j.wrong_side_cost_quote == pytest.approx((12_000 - 10_010) * 3 * 0.0001)


def test_orders_taken_or_put_back_at_the_old_price_are_not_pulled() -> None:
    market = Market("X/Q", "X", "Q", Decimal("0.0001"), Decimal("1"), qty_decimals=0)
    bid, stale_ask = ((9_990, 5),), ((10_010, 5),)
    card = score(
        market,
        [
            Fair(0, Fraction(10_000)),
            Quotes(0, bid, stale_ask),
            Fair(10 * S, Fraction(12_000)),
            Quotes(11 * S, bid, ()),  # the market took the stale ask
            Quotes(12 * S, bid, stale_ask),  # and the bot put it back at the old price
            Quotes(13 * S, bid, ()),  # pulled, for good this time
        ],
        0,
        20 * S,
    )
    (j,) = card.jumps
    assert j.pull_s == 3
    assert j.wrong_side_s == 2


def test_a_window_ending_on_the_wrong_side_is_not_pulled() -> None:
    card = score(
        MARKET,
        [
            Fair(0, Fraction(100)),
            Quotes(0, ((99, 1),), ((101, 1),)),
            Fair(2 * S, Fraction(150)),
            Quotes(3 * S, ((99, 1),), ()),
            Quotes(4 * S, ((99, 1),), ((101, 1),)),
        ],
        0,
        10 * S,
    )
    (j,) = card.jumps
    assert j.pull_s is None
    assert j.wrong_side_s == 1 + 6


def test_a_jump_requires_both_sides_in_the_band() -> None:
    market = Market("X/Q", "X", "Q", Decimal("0.0001"), Decimal("1"), qty_decimals=0)
    card = score(
        market,
        [
            Fair(0, Fraction(10_000)),
            Quotes(0, ((9_990, 5),), ((10_010, 5),)),
            Fair(1 * S, Fraction(9_000)),  # down: our bid is above the new fair
            Quotes(2 * S, ((8_990, 5),), ((10_010, 5),)),  # pulled; the ask is far, not wrong
            Quotes(3 * S, ((8_990, 5),), ()),
        ],
        0,
        10 * S,
    )
    (j,) = card.jumps
    assert j.pull_s == 1
    assert j.requote_s is None  # never two-sided within 50 bps of 9 000
    assert j.learned_s is None


def test_small_fair_changes_are_not_jumps_and_a_new_jump_closes_the_last() -> None:
    card = score(
        MARKET,
        [
            Fair(0, Fraction(10_000)),
            Fair(1 * S, Fraction(10_050)),  # 50 bps: below the 100 bps threshold
            Fair(2 * S, Fraction(11_000)),
            Fair(5 * S, Fraction(10_000)),
        ],
        0,
        6 * S,
    )
    assert [j.bps for j in card.jumps] == pytest.approx([(11_000 / 10_050 - 1) * 1e4, -909.0909])
    assert [j.window_s for j in card.jumps] == [3, 1]
    # No orders at all: nothing rests on the wrong side, so each pull is immediate.
    assert [j.pull_s for j in card.jumps] == [0, 0]


def test_markouts_use_the_mid_without_us_and_leave_out_what_they_cannot_see() -> None:
    card = score(
        MARKET,
        [
            Book(0, 99, 101, 99, 101),
            OwnFill(1 * S, Side.BUY, 100, 3, True),
            Book(int(1.5 * S), 101, 103, 100, 104),  # without us the mid is 102
            OwnFill(8 * S, Side.SELL, 100, 1, False),
        ],
        0,
        10 * S,
        ScorecardSettings(markouts_s=(1, 5)),
    )
    # The buy at 100: 2 % up 1 s and 5 s later; the sell's 5 s horizon passes the end.
    assert card.markouts_bps["1s"] == pytest.approx((200 * 3 - 200 * 1) / 4)
    assert card.markouts_bps["5s"] == pytest.approx(200)
    assert card.markouts_left_out == 1
    assert card.fills == {
        "count": 2,
        "maker": 1,
        "taker": 1,
        "volume_base": 4.0,
        "volume_quote": pytest.approx(4.0),
    }


def test_orders_per_fill_and_per_minute() -> None:
    events = [OrderAction(i * S, OrderKind.PLACED, Side.BUY) for i in range(6)]
    events += [OrderAction((10 + i) * S, OrderKind.CANCELLED, Side.SELL) for i in range(3)]
    events += [OwnFill(20 * S, Side.BUY, 100, 1, True), OwnFill(21 * S, Side.SELL, 101, 1, True)]
    card = score(MARKET, events, 0, 120 * S)
    o = card.orders
    assert (o["placed"], o["cancelled"], o["amended"], o["replaced"]) == (6, 3, 0, 0)
    assert (o["placed_per_fill"], o["cancelled_per_fill"]) == (3, 1.5)
    assert (o["placed_per_min"], o["cancelled_per_min"]) == (3, 1.5)


def test_inventory_drift() -> None:
    card = score(
        MARKET,
        [Holding(0, 100), Holding(2 * S, 40), Holding(3 * S, 160), Holding(4 * S, 120)],
        0,
        5 * S,
    )
    assert card.inventory == {"start": 100, "end": 120, "drift": 20, "min": 40, "max": 160}


def test_obligations_on_snapshots() -> None:
    ob = ObligationSettings(
        max_spread_bps=300, min_depth_quote=1.0, depth_band_bps=200, min_uptime=0.6
    )
    card = score(
        MARKET,
        [
            Book(0, 100, 102, 99, 103),  # public mid 101
            Quotes(0, ((100, 1),), ((102, 1),)),  # 1.00 and 1.02 quote per side: deep enough
            Quotes(3 * S, ((100, 1),), ()),  # no ask from 3 s
            Quotes(4 * S, ((97, 1),), ((105, 1),)),  # spread 792 bps, outside the band too
            Quotes(6 * S, ((100, 1),), ((102, 1),)),
        ],
        0,
        10 * S,
        ScorecardSettings(obligations=ob),
    )
    o = card.obligations
    # Snapshots at 0..9 s: met at 0, 1, 2, 6, 7, 8, 9.
    assert o["samples"] == 10
    assert o["uptime"] == pytest.approx(0.7)
    assert o["pass"] is True
    assert o["conditions"] == {
        "two_sided": pytest.approx(0.9),
        "spread": pytest.approx(0.7),
        "depth_bid": pytest.approx(0.8),
        "depth_ask": pytest.approx(0.7),
    }


def test_obligations_fail_below_min_uptime_and_with_the_fair_as_reference() -> None:
    ob = ObligationSettings(
        max_spread_bps=300,
        min_depth_quote=1.0,
        depth_band_bps=100,
        band_reference="fair",
        min_uptime=0.95,
    )
    card = score(
        MARKET,
        [
            Fair(0, Fraction(110)),  # our quotes sit 700-900 bps from the fair: no depth
            Quotes(0, ((100, 1),), ((102, 1),)),
        ],
        0,
        5 * S,
        ScorecardSettings(obligations=ob),
    )
    assert card.obligations["conditions"]["depth_bid"] == 0
    assert card.obligations["pass"] is False


def test_events_before_the_span_set_the_state_only() -> None:
    card = score(
        MARKET,
        [
            Fair(-5 * S, Fraction(100)),
            Quotes(-5 * S, ((100, 1),), ((102, 1),)),
            Fair(-1 * S, Fraction(200)),  # a jump before the span is not one of its jumps
            OwnFill(-1 * S, Side.BUY, 100, 1, True),
        ],
        0,
        2 * S,
    )
    assert card.two_sided_uptime == 1
    assert card.jumps == ()
    assert card.fills["count"] == 0


def test_out_of_order_events_are_refused() -> None:
    with pytest.raises(ValueError, match="out of order"):
        score(MARKET, [Quotes(2 * S, (), ()), Quotes(1 * S, (), ())], 0, 3 * S)


def test_weighted_quantile() -> None:
    assert weighted_quantile({}, 0.5) is None
    assert weighted_quantile({1.0: 1, 3.0: 1}, 0.5) == 1.0
    assert weighted_quantile({1.0: 1, 3.0: 1}, 0.51) == 3.0
    assert weighted_quantile({5.0: 10, 1.0: 90}, 0.9) == 1.0
    assert weighted_quantile({5.0: 10, 1.0: 90}, 0.99) == 5.0


def test_figures_are_one_level_deep_and_json_ready() -> None:
    import json

    card = score(MARKET, [Fair(0, Fraction(100)), Fair(S, Fraction(150))], 0, 2 * S)
    figures = card.figures()
    for v in figures.values():
        assert not isinstance(v, dict) or all(not isinstance(x, dict) for x in v.values())
    assert "jump_1" in figures
    json.dumps(card.to_dict())
