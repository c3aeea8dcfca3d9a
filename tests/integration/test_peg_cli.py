"""``pegbot signals scan`` over a tape written with the real tape writer."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.writer import TapeWriter

NS = 1_000_000_000
U = 10**8  # qty units per KGST
T0 = 1_783_000_000 * NS
runner = CliRunner()


def write_tape(path: Path) -> Path:
    rows = [  # (t_s, kind, side, price ticks, qty KGST)
        (1, CLEAR, 0, 0, 0),
        (1, SNAPSHOT, 1, 1143, 1000),
        (1, SNAPSHOT, -1, 1145, 1000),
        (2, DIFF, 1, 1147, 300),  # bid 30.5 bps over fair: mint_and_sell
        (3, DIFF, -1, 1140, 200),  # ask 30.9 bps under fair: buy_and_redeem
        (4, TRADE, -1, 1147, 100),
        (4, DIFF, 1, 1147, 200),
        (400, DIFF, 1, 1147, 0),
    ]
    meta = TapeMeta(
        exchange="binance", symbol="KGST/USDT", tick_size=Decimal("0.00001"), lot_size=Decimal(1)
    )
    with TapeWriter(path, meta) as w:
        w.write(
            {
                "exch_ts": [T0 + t * NS for t, *_ in rows],
                "local_ts": [T0 + t * NS for t, *_ in rows],
                "kind": [r[1] for r in rows],
                "side": [r[2] for r in rows],
                "price": [r[3] for r in rows],
                "qty": [r[4] * U for r in rows],
                "first_update_id": [i for i in range(len(rows))],
                "update_id": [i for i in range(len(rows))],
            }
        )
    return path


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    return write_tape(tmp_path / "kgst.parquet")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "peg.toml"
    p.write_text(
        "[costs]\nexchange_fee_bps = 10\nmint_fee_bps = 5\nredeem_fee_bps = 5\n"
        "[signals]\nmin_edge_bps = 5\ncooldown_s = 0\nexpiry_s = 300\n"
    )
    return p


def test_signals_over_a_tape_with_a_fixed_fair(tape: Path, config: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "events.jsonl"
    res = runner.invoke(
        app,
        [
            "signals",
            "scan",
            str(tape),
            "--fair",
            "0.011435",
            "--config",
            str(config),
            "--json",
            "--jsonl",
            str(jsonl),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    summary = out["summary"]
    # The ask stays past the first redeem's expiry, so a second one is proposed at t=400 s.
    assert summary["count"] == 3
    assert summary["by_kind"] == {"mint_and_sell": 1, "buy_and_redeem": 2}
    assert summary["by_state"] == {"expired": 2, "proposed": 1}
    mint, redeem, again = out["signals"]
    assert again["kind"] == "buy_and_redeem" and again["created_ns"] == T0 + 400 * NS
    assert mint["kind"] == "mint_and_sell" and mint["size"] == "300" and mint["vwap"] == "0.01147"
    assert mint["created_ns"] == T0 + 2 * NS and mint["fair"] == "0.011435"
    # The bid left at t=400 s, after the 300 s expiry: expired, not withdrawn.
    assert mint["state"] == "expired" and mint["reason"] == "expired"
    assert (
        redeem["kind"] == "buy_and_redeem"
        and redeem["size"] == "200"
        and redeem["limit_price"] == "0.0114"
    )
    assert Decimal(summary["size"]) == 700
    expected = sum(Decimal(s["expected_profit"]) for s in out["signals"])
    assert abs(Decimal(summary["expected_profit"]) - expected) <= Decimal("1e-8")
    # mint: gross (0.01147/0.011435 − 1) = 30.6 bps; costs 10 × 1.003 + 5 = 15.03 bps.
    assert Decimal(mint["net_edge_bps"]) == pytest.approx(Decimal("15.5766"), abs=Decimal("0.001"))
    assert summary["messages"] == 5 and summary["fair_states"] == {"ok": 5}
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "signal.proposed",
        "signal.proposed",
        "signal.expired",
        "signal.expired",
        "signal.proposed",
    ]


def test_a_jump_in_the_rate_series_stops_signals(tape: Path, config: Path, tmp_path: Path) -> None:
    series = tmp_path / "rates.csv"
    series.write_text(f"ts,usd_kgs\n{T0},87.45\n{T0 + int(2.5 * NS)},95.00\n")
    res = runner.invoke(
        app,
        [
            "signals",
            "scan",
            str(tape),
            "--fair-file",
            str(series),
            "--config",
            str(config),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    # The mint signal at t=2 s is raised, then withdrawn when the som jumps 8.6 %; no redeem.
    assert out["summary"]["by_kind"] == {"mint_and_sell": 1, "buy_and_redeem": 0}
    assert out["signals"][0]["reason"] == "fair value jump"
    assert out["summary"]["fair_states"]["jump"] >= 1
    assert (
        out["summary"]["status"]["fair_state"] == "jump" and not out["summary"]["status"]["enabled"]
    )


def test_a_stale_rate_series_raises_nothing(tape: Path, tmp_path: Path) -> None:
    series = tmp_path / "rates.csv"
    series.write_text("ts,fair\n2026-07-03T06:00:00+00:00,0.011435\n")
    cfg = tmp_path / "stale.toml"
    cfg.write_text("[fair]\nmax_age_s = 1\n[signals]\ncooldown_s = 0\n")
    res = runner.invoke(
        app,
        ["signals", "scan", str(tape), "--fair-file", str(series), "--config", str(cfg), "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["summary"]["count"] == 0 and out["summary"]["fair_states"] == {"stale": 5}
    assert out["summary"]["status"] == {
        "enabled": False,
        "fair_state": "stale",
        "reason": "fair value stale",
    }


def test_usage_and_input_errors(tape: Path, tmp_path: Path) -> None:
    both = runner.invoke(
        app, ["signals", "scan", str(tape), "--fair", "0.0114", "--fair-file", "x.csv"]
    )
    assert both.exit_code == 2
    neither = runner.invoke(app, ["signals", "scan", str(tape)])
    assert neither.exit_code == 2
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[signals]\nmin_edge_bsp = 5\n")
    res = runner.invoke(
        app, ["signals", "scan", str(tape), "--fair", "0.0114", "--config", str(bad_cfg)]
    )
    assert res.exit_code == 2 and "min_edge_bsp" in res.stderr
    bad_series = tmp_path / "bad.csv"
    bad_series.write_text("ts,fair\n1,0.0114\n2,abc\n")
    res = runner.invoke(app, ["signals", "scan", str(tape), "--fair-file", str(bad_series)])
    assert res.exit_code == 1 and "bad.csv:3" in res.stderr
    res = runner.invoke(
        app, ["signals", "scan", str(tmp_path / "missing.parquet"), "--fair", "0.0114"]
    )
    assert res.exit_code == 1
    res = runner.invoke(app, ["signals", "scan", str(tape), "--fair", "-1"])
    assert res.exit_code == 2
