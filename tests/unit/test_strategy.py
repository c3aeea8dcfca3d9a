"""The strategy contract: inputs, outputs and the loader."""

from __future__ import annotations

import dataclasses
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.strategy import (
    FAIR_STATES,
    BookView,
    DesiredQuotes,
    FairState,
    FairView,
    Inventory,
    MarketState,
    Quote,
    Strategy,
    StrategyError,
    adapt_fair,
    load_strategy,
)

MARKET = Market.kgst_usdt()


def _book(bid: int = 1143, ask: int = 1144) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(bid, 10**11)], [(ask, 10**11)])
    return book


def test_fair_view_from_price_is_exact() -> None:
    fair = FairView.from_price(MARKET, Decimal(1) / Decimal("87.45"))
    assert fair.price_ticks == Fraction(Decimal(1) / Decimal("87.45")) * 100_000
    assert 1143 < fair.price_ticks < 1144
    assert FairView.make(1143.5).price_ticks == Fraction(2287, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"price_ticks": 0},
        {"price_ticks": -5},
        {"price_ticks": float("nan")},
        {"price_ticks": 1143, "state": "fine"},
        {"price_ticks": 1143, "age_ns": -1},
    ],
)
def test_fair_view_refuses_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FairView.make(**kwargs)  # type: ignore[arg-type]


def test_fair_view_needs_a_fraction() -> None:
    with pytest.raises(TypeError):
        FairView(1143.5, "ok", 0, 0)  # type: ignore[arg-type]


def test_fair_state_is_one_enum_equal_to_its_string() -> None:
    from pegbot import metrics_table
    from pegbot.peg import fair

    assert FairState is fair.FairState and FAIR_STATES is metrics_table.FAIR_STATES
    assert FAIR_STATES == ("ok", "stale", "disputed", "jump")
    view = FairView.make(1143, "stale")
    assert view.state == "stale"  # what strategies compare with
    assert view.state is FairState.STALE
    given_a_string = FairView(Fraction(1143), "jump", 0, 0)  # type: ignore[arg-type]
    assert given_a_string.state is FairState.JUMP
    with pytest.raises(ValueError, match="unknown fair state"):
        FairView(Fraction(1143), "maybe", 0, 0)  # type: ignore[arg-type]


def test_order_book_is_a_book_view() -> None:
    assert isinstance(_book(), BookView)


def test_quote_validation() -> None:
    with pytest.raises(ValueError):
        Quote(Side.BUY, 0, 1, "b0")
    with pytest.raises(ValueError):
        Quote(Side.BUY, 1, 0, "b0")
    with pytest.raises(ValueError):
        Quote(Side.BUY, 1, 1, "b-0")  # '-' would break the client order id
    with pytest.raises(ValueError):
        Quote(Side.BUY, 1, 1, "toolonglevel")


def test_desired_quotes_views_and_duplicates() -> None:
    d = DesiredQuotes(
        (
            Quote(Side.BUY, 1140, 5, "b1"),
            Quote(Side.BUY, 1142, 3, "b0"),
            Quote(Side.SELL, 1146, 4, "a0"),
        )
    )
    assert [q.level_id for q in d.bids] == ["b0", "b1"]
    assert d.best_bid == 1142 and d.best_ask == 1146
    assert d.lots(Side.BUY) == 8 and d.lots(Side.SELL) == 4
    assert d.get("a0") is not None and d.get("a9") is None
    assert len(d) == 3
    with pytest.raises(ValueError, match="duplicate"):
        DesiredQuotes((Quote(Side.BUY, 1, 1, "b0"), Quote(Side.SELL, 2, 1, "b0")))


def test_load_by_name_and_full_name() -> None:
    s1 = load_strategy("peg_ladder", MARKET, {"levels": 2})
    s2 = load_strategy("strategies.fixed_spread", MARKET)
    assert isinstance(s1, Strategy) and s1.name == "peg_ladder"
    assert s2.name == "fixed_spread"


def test_load_rejects_unknown_keys_and_bad_values_with_paths() -> None:
    with pytest.raises(StrategyError, match="levelz"):
        load_strategy("peg_ladder", MARKET, {"levelz": 2})
    with pytest.raises(StrategyError, match=r"levels: Input should be greater than or equal to 1"):
        load_strategy("peg_ladder", MARKET, {"levels": 0})
    with pytest.raises(StrategyError, match="size_lots"):
        load_strategy("peg_ladder", MARKET, {"levels": 2, "size_lots": [1, 2, 3]})
    with pytest.raises(StrategyError, match="unknown strategy"):
        load_strategy("no_such_strategy", MARKET)
    with pytest.raises(StrategyError, match="not a strategy name"):
        load_strategy("os;rm", MARKET)


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "one_bid.py"
    path.write_text(
        textwrap.dedent(
            """
            from pegbot.market import Side
            from pegbot.strategy import DesiredQuotes, Input, Quote, StrategyParams

            class Params(StrategyParams):
                ticks_below: int = 2

            class OneBid:
                name = "one_bid"
                inputs = frozenset({Input.BEST_PRICES})
                def __init__(self, params, market):
                    self.params = params
                def quote(self, state):
                    bb = state.book.best_bid
                    return DesiredQuotes((Quote(Side.BUY, bb - self.params.ticks_below, 1, "b0"),))

            def build(params, market):
                return OneBid(params, market)
            """
        )
    )
    strategy = load_strategy(str(path), MARKET, {"ticks_below": 3})
    state = MarketState(0, _book(), FairView.make(1143), Inventory(0, 0))
    assert strategy.quote(state).quotes == (Quote(Side.BUY, 1140, 1, "b0"),)
    with pytest.raises(StrategyError, match="ticks_below"):
        load_strategy(str(path), MARKET, {"ticks_below": "x"})
    with pytest.raises(StrategyError, match="not found"):
        load_strategy(str(tmp_path / "missing.py"), MARKET)


def test_load_refuses_module_breaking_the_contract(tmp_path: Path) -> None:
    lax = tmp_path / "lax.py"
    lax.write_text(
        "from pydantic import ConfigDict\n"
        "from pegbot.strategy import StrategyParams\n"
        "class Params(StrategyParams):\n"
        "    model_config = ConfigDict(extra='allow')\n"
        "def build(p, m):\n"
        "    return None\n"
    )
    with pytest.raises(StrategyError, match="extra='forbid'"):
        load_strategy(str(lax), MARKET)
    nobuild = tmp_path / "nobuild.py"
    nobuild.write_text(
        "from pegbot.strategy import StrategyParams\nclass Params(StrategyParams):\n    pass\n"
    )
    with pytest.raises(StrategyError, match="build"):
        load_strategy(str(nobuild), MARKET)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ("name = 'x'\n    def quote(self, s): return None\n", "missing inputs"),
        ("name = 'x'\n    inputs = 'book'\n    def quote(self, s): return None\n", "frozenset"),
        (
            "name = 'x'\n    inputs = frozenset()\n    def quote(self, s): return None\n",
            "non-empty",
        ),
    ],
)
def test_load_refuses_a_strategy_without_valid_inputs(
    tmp_path: Path, members: str, message: str
) -> None:
    path = tmp_path / "noinputs.py"
    path.write_text(
        "from pegbot.strategy import StrategyParams\n"
        "class Params(StrategyParams):\n    pass\n"
        f"class S:\n    {members}"
        "def build(p, m):\n    return S()\n"
    )
    with pytest.raises(StrategyError, match=message):
        load_strategy(str(path), MARKET)


def test_adapt_the_pegs_fair_value() -> None:
    from pegbot.peg.fair import FairValue

    fv = FairValue.fixed(Fraction(Decimal(1) / Decimal("87.45")), MARKET, now_ns=5)
    view = adapt_fair(fv, MARKET)
    assert view is not None and view.state == "ok" and view.observed_at_ns == 5
    assert view.price_ticks == fv.price * 100_000  # type: ignore[operator]
    assert adapt_fair(None, MARKET) is None
    assert adapt_fair(dataclasses.replace(fv, price=None), MARKET) is None
    stale = adapt_fair(dataclasses.replace(fv, state="stale"), MARKET)  # type: ignore[arg-type]
    assert stale is not None and stale.state == "stale"
    with pytest.raises(ValueError, match="unknown fair state"):
        adapt_fair(dataclasses.replace(fv, state="maybe"), MARKET)  # type: ignore[arg-type]
