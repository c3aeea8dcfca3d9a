"""CcxtFeed's conversion of ccxt's unified (float) book and trades into exact ticks/units."""

from __future__ import annotations

import pytest

from pegbot.feeds.ccxt_feed import CcxtFeed, _BadData, _dec
from pegbot.feeds.model import BookLost, BookUpdate, FeedConfig, Trade
from pegbot.market import Market, Side


def _feed(events: list[object]) -> CcxtFeed:
    return CcxtFeed(
        FeedConfig(), Market.kgst_usdt(), client=None, clock=lambda: 42,
        on_book=events.append, on_trade=events.append,
    )  # fmt: skip


def test_floats_become_exact_ticks_through_repr() -> None:
    assert str(_dec(0.01139)) == "0.01139"
    assert str(_dec("0.01148")) == "0.01148"
    with pytest.raises(ValueError):
        _dec(None)
    events: list[object] = []
    feed = _feed(events)
    ob = {"bids": [[0.01139, 50000.0], [0.01138, 12.5]], "asks": [[0.01148, 1.0]],
          "nonce": 77, "timestamp": 1_700_000_000_000}  # fmt: skip
    feed._on_book(ob)
    assert feed.synced
    u = Market.kgst_usdt().qty_to_units
    assert feed.book.bids == {1139: u("50000"), 1138: u("12.5")}
    assert feed.book.asks == {1148: u("1")}
    assert feed.book.update_id == 77
    assert feed.book.exch_ts == 1_700_000_000_000 * 1_000_000
    (ev,) = events
    assert isinstance(ev, BookUpdate) and ev.snapshot and ev.local_ts == 42


def test_off_grid_price_and_crossed_book_are_errors_not_guesses() -> None:
    events: list[object] = []
    feed = _feed(events)
    with pytest.raises(_BadData):
        feed._on_book({"bids": [[0.011395, 1.0]], "asks": [], "nonce": 1})
    with pytest.raises(_BadData):
        feed._on_book({"bids": [[0.0115, 1.0]], "asks": [[0.0114, 1.0]], "nonce": 2})
    assert feed.counters.crossed == 1


def test_loss_is_reported_once_after_a_valid_book() -> None:
    events: list[object] = []
    feed = _feed(events)
    feed._invalidate("gap")
    assert events == []  # nothing to lose yet
    feed._on_book({"bids": [[0.0113, 1.0]], "asks": [[0.0115, 1.0]], "nonce": 3})
    feed._invalidate("gap")
    assert isinstance(events[-1], BookLost) and events[-1].reason == "gap"
    assert not feed.synced and feed.book.bids == {}


def test_trades_prefer_raw_strings_and_skip_bad_ones() -> None:
    events: list[object] = []
    feed = _feed(events)
    feed._on_trade({"id": "9", "timestamp": 5, "side": "sell", "price": 0.0114, "amount": 2.0,
                    "info": {"p": "0.01140000", "q": "2.00000000"}})  # fmt: skip
    feed._on_trade({"id": "x", "timestamp": 6, "side": "buy", "price": 0.01141, "amount": 0.5})
    feed._on_trade({"id": "10", "side": "buy", "price": 0.011411, "amount": 1.0})  # off grid
    trades = [e for e in events if isinstance(e, Trade)]
    u = Market.kgst_usdt().qty_to_units
    assert [(t.trade_id, t.price, t.qty, t.side) for t in trades] == [
        (9, 1140, u("2"), Side.SELL),
        (1, 1141, u("0.5"), Side.BUY),
    ]
    assert feed.counters.bad_messages == 1 and feed.counters.trades == 2
