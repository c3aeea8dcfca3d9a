"""A backtest's summary carries the peg scorecard, built by pegbot.scorecard from its records.

The scorecard reads the venue's order and fill records and the replayed best prices; the
summary's own figures read the venue's quote records and the same prices by other code. On
a real replay of the house scenario the two must agree where they measure the same thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _backtest_helpers import walk_tape

from pegbot.backtest import results
from pegbot.backtest.report import backtest_html
from pegbot.backtest.scenario import build_backtest, load_scenario

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
