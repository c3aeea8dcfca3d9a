"""A backtest's summary carries the peg scorecard, built by pegbot.scorecard from its records.

The scorecard reads the venue's order and fill records and the replayed best prices; the
summary's own figures read the venue's quote records and the same prices by other code. On
a real replay of the house scenario the two must agree where they measure the same thing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
from _backtest_helpers import walk_tape

from pegbot.backtest import results
from pegbot.backtest.report import backtest_html
from pegbot.backtest.scenario import build_backtest, load_scenario
from pegbot.scorecard import Book, Event, score

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("changes", [[], ["reconciler.amend=true", "reconciler.replace=true"]])
def test_the_house_scenario_summary_has_a_scorecard_that_agrees(
    tmp_path: Path, changes: list[str]
) -> None:
    tape = walk_tape(tmp_path / "walk.parquet", steps=1200)
    sc, where = load_scenario(
        REPO / "backtests" / "peg_ladder_kgst.toml", ["strategy.params.size_lots=2000", *changes]
    )
    run = build_backtest(sc, where, tape=tape).run()
    t = results.tables(run)
    summary = results.summarize(run, t)
    card = summary["scorecard"]
    json.dumps(card)
    assert len(run.venue.records.fills) > 0  # the ladder traded: fills and inventory count
    assert 0 < card["two_sided_uptime"] <= 1
    # Two codes, one answer: uptime from the quote records vs from accepted/cancel/fill rows.
    assert card["two_sided_uptime"] == pytest.approx(summary["two_sided_uptime"], abs=1e-9)
    # The tape is everyone but us: the mid without us is the summary's mid near fair.
    for band in ("10bps", "50bps"):
        assert card["mid_ex_ours_within"][band] == pytest.approx(
            summary["mid_near_fair"][band], abs=1e-9
        )
    orders = t["orders"]["event"].tolist()
    assert card["fills"] == len(t["fills"])
    placed = orders.count("accepted")
    assert card["orders_per_fill"]["placed_per_fill"] == pytest.approx(placed / card["fills"])
    if changes:  # amends and cancel-replaces happened, and the figures still agree above
        assert "amended" in orders and orders.count("replace_sent") > 0
    html = backtest_html(t, summary, "t")
    assert 'id="scorecard"' in html and "two_sided_uptime" in html


def test_the_scorecard_stream_repeats_no_book_and_repeating_them_changes_nothing(
    tmp_path: Path,
) -> None:
    # Most order records leave the public best where it was, so their Book is left out of
    # the stream; the fold must read the same figures as with a Book after every record.
    tape = walk_tape(tmp_path / "walk.parquet", steps=1200)
    sc, where = load_scenario(
        REPO / "backtests" / "peg_ladder_kgst.toml", ["strategy.params.size_lots=2000"]
    )
    run = build_backtest(sc, where, tape=tape).run()
    events = results.scorecard_events(run, results.tables(run))
    books = [e for e in events if isinstance(e, Book)]
    assert len(books) > 10
    prices = [(b.bid, b.ask, b.bid_ex, b.ask_ex) for b in books]
    assert all(a != b for a, b in itertools.pairwise(prices))
    repeated: list[Event] = []
    last: Book | None = None
    for ev in events:
        repeated.append(ev)
        if isinstance(ev, Book):
            last = ev
        elif last is not None:
            repeated.append(dataclasses.replace(last, ts_ns=ev.ts_ns))
    assert len(repeated) > len(events) + 100
    as_is = score(run.market, events, run.start_ns, run.end_ns).figures()
    assert score(run.market, repeated, run.start_ns, run.end_ns).figures() == as_is
