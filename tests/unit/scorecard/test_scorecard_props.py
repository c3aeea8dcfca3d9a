"""Properties of the scorecard on random streams, checked against a brute-force count."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pegbot.market import Market
from pegbot.scorecard import Book, Fair, ObligationSettings, Quotes, ScorecardSettings, score
from pegbot.scorecard.fold import band_bounds
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


def _brute_conditions(
    events: list[Book | Fair | Quotes], span: int, ob: ObligationSettings
) -> list[tuple[bool, bool, bool, bool]]:
    # Each snapshot on its own: replay every event up to it, then check by the definition.
    tick = Fraction(str(MARKET.tick_size))
    step = round(ob.sample_interval_s * NS_PER_S)
    out = []
    for k in range(math.ceil(span / step)):
        t = k * step
        bid = ask = fair = None
        bids: tuple[tuple[int, int], ...] = ()
        asks: tuple[tuple[int, int], ...] = ()
        for ev in events:
            if ev.ts_ns > t:
                break
            if isinstance(ev, Book):
                bid, ask = ev.bid, ev.ask
            elif isinstance(ev, Fair):
                fair = ev.price_ticks
            else:
                bids, asks = ev.bids, ev.asks
        two = bool(bids) and bool(asks)
        spread = two and Fraction(
            (min(p for p, _ in asks) - max(p for p, _ in bids)) * 20_000,
            min(p for p, _ in asks) + max(p for p, _ in bids),
        ) <= Fraction(ob.max_spread_bps)
        if ob.band_reference == "fair":
            ref = fair
        else:
            ref = Fraction(bid + ask, 2) if bid is not None and ask is not None else None

        def deep(levels: tuple[tuple[int, int], ...], ref: Fraction | None = ref) -> bool:
            if ref is None or not levels:
                return False
            band = Fraction(ob.depth_band_bps) / 10_000
            inside = sum(p * q for p, q in levels if abs(p - ref) <= ref * band)
            return inside * tick * Fraction(str(MARKET.qty_unit)) >= Fraction(ob.min_depth_quote)

        out.append((two, spread, deep(bids), deep(asks)))
    return out


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 80),  # quarter seconds: events between and on the snapshots
            st.sampled_from(["book", "fair", "quotes"]),
            st.integers(96, 104),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=25,
    ),
    st.integers(1, 25 * NS_PER_S),
    st.sampled_from([0.3, 1.0, 2.5]),
    st.sampled_from(["mid", "fair"]),
)
# The reference moves away from our bid after 5 s: a band kept too long would still count it.
@example(
    [(0, "fair", 99, 0), (0, "quotes", 100, 2), (20, "fair", 104, 0)], 10 * NS_PER_S, 1.0, "fair"
)
@example(
    [(0, "book", 99, 1), (0, "quotes", 100, 2), (20, "book", 104, 1)], 10 * NS_PER_S, 1.0, "mid"
)
def test_obligation_conditions_equal_a_snapshot_by_snapshot_count(
    rows: list[tuple[int, str, int, int]], span: int, interval: float, reference: str
) -> None:
    # Snapshots are folded a constant piece at a time and the band is kept while its
    # reference stands still; neither may change what any one snapshot says.
    events: list[Book | Fair | Quotes] = []
    for q, kind, price, width in sorted(rows, key=lambda r: r[0]):
        t = q * NS_PER_S // 4
        if kind == "book":
            events.append(Book(t, price if width else None, price + width + 1, None, None))
        elif kind == "fair":
            events.append(Fair(t, Fraction(price * 4 + width, 4)))
        else:
            # 3 lots near 100 are worth ~3 quote (deep enough), 2 lots ~2 (not): both occur.
            asks = ((price, 3 if width % 2 else 2),)
            events.append(Quotes(t, ((price - width, 3),) if width != 1 else (), asks))
    ob = ObligationSettings(
        sample_interval_s=interval,
        band_reference=reference,  # type: ignore[arg-type]
        depth_band_bps=200,
        min_depth_quote=2.5,
        max_spread_bps=300,
    )
    card = score(MARKET, events, 0, span, ScorecardSettings(obligations=ob))
    brute = _brute_conditions(events, span, ob)
    got = card.obligations
    assert got["samples"] == len(brute)
    for i, name in enumerate(("two_sided", "spread", "depth_bid", "depth_ask")):
        assert got["conditions"][name] == sum(c[i] for c in brute) / len(brute), name
    assert got["uptime"] == sum(all(c) for c in brute) / len(brute)


@given(
    st.fractions(min_value=Fraction(1, 1000), max_value=Fraction(10**7), max_denominator=10**6),
    st.floats(min_value=0.01, max_value=5_000, allow_nan=False),
    st.sampled_from([1, 2]),
)
def test_band_bounds_are_the_integers_inside_the_exact_band(
    ref: Fraction, bps: float, scale: int
) -> None:
    # The bounds are computed in integers; membership is checked here in exact fractions.
    lo, hi = band_bounds(ref, bps, scale)
    n = Fraction(bps) / 10_000
    low, high = scale * ref * (1 - n), scale * ref * (1 + n)
    for x in (lo - 1, lo, hi, hi + 1):
        assert (low <= x <= high) == (lo <= x <= hi)
