"""The converter's fast decimal parser agrees exactly with Market's checked conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegbot.market import Market, OffGridError
from pegbot.tape.binance_lines import _fast_units, _pow10_decimals, _UnitCache

M = Market(
    symbol="KGST/USDT",
    base="KGST",
    quote="USDT",
    tick_size=Decimal("0.00001"),
    lot_size=Decimal("1"),
)


def test_pow10() -> None:
    assert _pow10_decimals(Decimal("0.00001")) == 5
    assert _pow10_decimals(Decimal("1")) == 0
    assert _pow10_decimals(Decimal("0.5")) is None
    assert _pow10_decimals(Decimal("10")) is None


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    frac=st.text(alphabet="0123456789", max_size=12),
)
def test_fast_parse_is_exact_or_declines(whole: int, frac: str) -> None:
    s = f"{whole}.{frac}" if frac else str(whole)
    fast = _fast_units(s, 5)
    try:
        exact = M.price_to_ticks(s)
    except OffGridError:
        assert fast is None
        return
    assert fast == exact


@given(st.text(max_size=12))
def test_fast_parse_never_guesses(s: str) -> None:
    fast = _fast_units(s, 8)
    if fast is not None:
        assert Decimal(s) * 10**8 == fast


def test_cache_converts_once_and_raises_off_grid() -> None:
    cache = _UnitCache(M.price_to_ticks, M.tick_size)
    assert cache["0.01140000"] == 1140 and cache["1e-5"] == 1
    with pytest.raises(OffGridError):
        cache["0.011405"]
    assert "0.011405" not in cache
