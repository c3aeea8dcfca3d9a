"""Inputs shared by the benchmarks: the synthetic tape and the real recordings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from synth import make_columns, write_tape

from pegbot.market import Market
from pegbot.tape.binance import convert_binance_raw

SHARED = Path("/work/shared/data/binance_ws_raw")
H = SHARED / "hftbacktest_examples"

#: (label, files of one series, symbol, tick) — the real recordings, when present.
REAL = [
    (
        "spot BTCUSDT 2024-08-08/09",
        ["spot/btcusdt_20240808.gz", "spot/btcusdt_20240809.gz"],
        "BTC/USDT",
        "0.01",
    ),
    ("USD-M BTCUSDT 2024-08-08", ["usdm/btcusdt_20240808.gz"], "BTC/USDT", "0.1"),
    (
        "USD-M ETHUSDT 2024-07-18/19",
        ["usdm/ethusdt_20240718.gz", "usdm/ethusdt_20240719.gz"],
        "ETH/USDT",
        "0.01",
    ),
    (
        "COIN-M BTCUSD_PERP 2024-08-08/09",
        ["cm/btcusd_perp_20240808.gz", "cm/btcusd_perp_20240809.gz"],
        "BTCUSD_PERP",
        "0.1",
    ),
    (
        "spot NEXOUSDT 2024-07-23..25 (34 h)",
        [
            "../nexousdt_spot_2024-07/nexousdt_20240723.dat.gz",
            "../nexousdt_spot_2024-07/nexousdt_20240724.dat.gz",
            "../nexousdt_spot_2024-07/nexousdt_20240725.dat.gz",
        ],
        "NEXO/USDT",
        "0.001",
    ),
]


def market(symbol: str, tick: str) -> Market:
    base, _, quote = symbol.partition("/")
    return Market(
        symbol=symbol, base=base, quote=quote, tick_size=Decimal(tick), lot_size=Decimal("0.00001")
    )


def synthetic_tape(tmp: Path, rows: int = 5_000_000) -> Path:
    path = tmp / f"synth_{rows}.parquet"
    if not path.exists():
        write_tape(path, make_columns(rows))
    return path


def real_tapes(tmp: Path) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    if not H.exists():
        return out
    for label, files, symbol, tick in REAL:
        path = tmp / (label.split()[1] + label.split()[0] + ".parquet")
        convert_binance_raw([H / f for f in files], path, market(symbol, tick))
        out.append((path, label))
    return out
