"""Properties of the scorecard on random streams, checked against a brute-force count."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.market import Market
from pegbot.scorecard import Book, Fair, ObligationSettings, Quotes, ScorecardSettings, score
from pegbot.timeunits import NS_PER_S

MARKET = Market("X/Q", "X", "Q", Decimal("0.01"), Decimal("1"), qty_decimals=0)
BID, ASK = ((99, 5),), ((101, 5),)

# One step a second: which sides we quote during it.
steps = st.lists(st.sampled_from(["both", "bid", "ask", "none"]), min_size=1, max_size=40)


def _events(plan: list[str]) -> list[Quotes]:
    return [
        Quotes(
            i * NS_PER_S,
            BID if s in ("both", "bid") else (),
            ASK if s in ("both", "ask") else (),
        )
        for i, s in enumerate(plan)
    ]


def _longest(flags: list[bool]) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


@given(steps)
def test_uptime_and_gaps_equal_a_brute_force_count(plan: list[str]) -> None:
    card = score(MARKET, _events(plan), 0, len(plan) * NS_PER_S)
    assert 0 <= card.two_sided_uptime <= 1
    assert card.two_sided_uptime == sum(s == "both" for s in plan) / len(plan)
    assert card.longest_one_sided_s == _longest([s != "both" for s in plan])
    assert card.longest_empty_s["bid"] == _longest([s in ("ask", "none") for s in plan])
    assert card.longest_empty_s["ask"] == _longest([s in ("bid", "none") for s in plan])
    assert card.longest_one_sided_s <= card.span_s
    assert max(card.longest_empty_s.values()) <= card.longest_one_sided_s


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30, unique=True),
    st.integers(min_value=1, max_value=5 * 10**9),
    st.floats(min_value=0.05, max_value=2.0),
)
def test_any_timing_keeps_figures_in_range(times: list[int], span: int, interval: float) -> None:
    times.sort()
    events = [Quotes(t, BID if i % 2 else (), ASK) for i, t in enumerate(times)]
    s = ScorecardSettings(obligations=ObligationSettings(sample_interval_s=interval))
    card = score(MARKET, events, 0, span, s)
    assert 0 <= card.two_sided_uptime <= 1
    assert 0 <= card.longest_one_sided_s <= card.span_s == span / NS_PER_S
    ob = card.obligations
    assert 0 <= ob["uptime"] <= min(ob["conditions"].values()) <= 1
    step = round(interval * NS_PER_S)
    assert ob["samples"] == math.ceil(span / step)


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(st.integers(90, 110), st.integers(1, 6), st.booleans()), min_size=1, max_size=30
    )
)
def test_mid_shares_equal_a_brute_force_count(rows: list[tuple[int, int, bool]]) -> None:
    # Each second a book of (bid, bid + width), or no bid at all; fair 100.
    events: list[Book | Fair] = [Fair(0, Fraction(100))]
    for i, (bid, width, empty) in enumerate(rows):
        events.append(Book(i * NS_PER_S, None if empty else bid, bid + width, None, None))
    s = ScorecardSettings(mid_bands_bps=(10, 250, 500))
    card = score(MARKET, events, 0, len(rows) * NS_PER_S, s)
    for band in (10, 250, 500):
        inside = sum(
            not empty and abs((2 * bid + width) / 2 - 100) * 10_000 <= band * 100
            for bid, width, empty in rows
        )
        assert card.mid["within"][f"{band}bps"] == inside / len(rows)
    measured = sum(not empty for _, _, empty in rows)
    assert card.mid["measured_s"] == measured
