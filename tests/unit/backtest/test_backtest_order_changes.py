"""Amend and cancel-replace through the whole backtest: reconciler → tracker → venue → answers."""

from __future__ import annotations

from pathlib import Path

from _backtest_helpers import LOT, MS, T0, backtest, book_rows, fills, run, write

from pegbot.market import Side
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, OrderStatus, Quote
from pegbot.tape.schema import DIFF, TRADE


class Schedule:
    """One bid whose price and size follow a timetable of (from ms, price, lots).

    It reads the clock, and the backtest asks it when the book changes (``ticks`` puts a
    change far from the touch just before each step of the timetable).
    """

    name = "schedule"
    inputs = ALL_INPUTS

    def __init__(self, plan: list[tuple[int, int, int]]) -> None:
        self.plan = plan

    def quote(self, state: MarketState) -> DesiredQuotes:
        ms = (state.now_ns - T0) // MS
        _, price, lots = [p for p in self.plan if p[0] <= ms][-1]
        return DesiredQuotes((Quote(Side.BUY, price, lots, "b0"),))


def ticks(plan: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int, int]]:
    return [(ms - 5, DIFF, -1, 1160, 1 + i) for i, (ms, _, _) in enumerate(plan) if ms]


def _events(r) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    return [(o[0], (o[1] - T0) // MS, o[2]) for o in r.venue.records.orders]


def test_an_amend_keeps_the_queue_a_cancel_and_place_loses_it(tmp_path: Path) -> None:
    # The bid rests behind 100 lots from 110 ms; 100 more join behind it at 150 ms. At 300 ms
    # the strategy wants 4 lots instead of 10: amended, the order keeps its place and a trade
    # of 104 lots at 600 ms fills it; cancelled and placed again it queues behind 200.
    rows = [*book_rows(), (150, DIFF, 1, 1140, 200), (600, TRADE, -1, 1140, 104),
            (900, DIFF, -1, 1141, 90)]  # fmt: skip
    plan = [(0, 1140, 10), (300, 1140, 4)]
    path = write(tmp_path / "t.parquet", sorted(rows + ticks(plan)))
    amended = run(path, Schedule(plan), amend=True)
    assert ("amend_sent", 300, "pegbot-t-b0-1") in _events(amended)
    assert ("amended", 310, "pegbot-t-b0-1") in _events(amended)
    assert not any(e[0] == "cancel_sent" for e in _events(amended))
    assert fills(amended) == [(600 * MS, "pegbot-t-b0-1", 1, 1140, 4, 0)]
    again = run(path, Schedule(plan))
    assert [e[0] for e in _events(again)].count("cancel_sent") == 1
    assert fills(again) == []  # the new order is behind the 200 lots now
    acct = amended.venue.account
    assert (amended.local.base_units, amended.local.cash_tu) == (acct.base_units, acct.cash_tu)


def test_a_cancel_replace_moves_the_bid_in_one_step(tmp_path: Path) -> None:
    rows = [*book_rows(), (150, DIFF, 1, 1139, 50), (900, DIFF, -1, 1141, 90)]
    plan = [(0, 1140, 10), (300, 1139, 10)]
    path = write(tmp_path / "t.parquet", sorted(rows + ticks(plan)))
    r = run(path, Schedule(plan), replace_orders=True)
    ev = _events(r)
    assert ("sent", 300, "pegbot-t-b0-2") in ev and ("replace_sent", 300, "pegbot-t-b0-1") in ev
    assert ("canceled", 310, "pegbot-t-b0-1") in ev and ("accepted", 310, "pegbot-t-b0-2") in ev
    assert not any(e[0] == "cancel_sent" for e in ev)
    # Our bid never left the book: one quote record at the step, showing the new price.
    quotes = [(q[0] - T0) // MS for q in r.venue.records.quotes]
    at_step = [q for q in r.venue.records.quotes if (q[0] - T0) // MS == 310]
    assert at_step == [(T0 + 310 * MS, 1139, 10 * LOT, 0, 0)]
    assert all(q[1] for q in r.venue.records.quotes) and 310 in quotes


def test_a_replace_after_a_fill_places_nothing_and_the_next_decision_requotes(
    tmp_path: Path,
) -> None:
    # The bid fills at 305 ms, while the replace sent at 300 ms is on its way: the venue
    # answers "not found" and "not attempted"; the tracker drops both, the strategy's next
    # decision places the bid again at its new price.
    rows = [*book_rows(), (305, TRADE, -1, 1140, 200), (900, DIFF, -1, 1141, 90)]
    plan = [(0, 1140, 10), (300, 1139, 10)]
    path = write(tmp_path / "t.parquet", sorted(rows + ticks(plan)))
    r = run(path, Schedule(plan), replace_orders=True)
    ev = _events(r)
    assert ("replace_sent", 300, "pegbot-t-b0-1") in ev
    assert not any(e[0] == "accepted" and e[2] == "pegbot-t-b0-2" for e in ev)
    assert any(e[0] == "accepted" and e[1] > 310 and e[2] == "pegbot-t-b0-3" for e in ev)
    assert fills(r) == [(305 * MS, "pegbot-t-b0-1", 1, 1140, 10, 0)]
    acct = r.venue.account
    assert (r.local.base_units, r.local.cash_tu) == (acct.base_units, acct.cash_tu)


def test_the_tracker_ends_with_what_rests_at_the_venue(tmp_path: Path) -> None:
    # 10 lots, amended to 6, moved a tick down by a cancel-replace, amended to 3: at the end
    # the venue holds the one order the tracker holds, open, with the same size and price.
    rows = [*book_rows(), (150, DIFF, 1, 1140, 200), (900, DIFF, -1, 1141, 90)]
    plan = [(0, 1140, 10), (300, 1140, 6), (500, 1139, 6), (700, 1139, 3)]
    path = write(tmp_path / "t.parquet", sorted(rows + ticks(plan)))
    bt = backtest(path, Schedule(plan), amend=True, replace_orders=True)
    r = bt.run()
    ev = [e[0] for e in _events(r)]
    assert ev.count("amended") == 2 and ev.count("replace_sent") == 1
    assert {k: v[:3] for k, v in r.venue.resting().items()} == {"pegbot-t-b0-2": (1, 1139, 3 * LOT)}
    live = bt.orders.live_orders()
    assert [(o.client_id, o.price_ticks, o.lots, o.status) for o in live] == [
        ("pegbot-t-b0-2", 1139, 3, OrderStatus.OPEN)
    ]
