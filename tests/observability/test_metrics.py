"""pegbot.metrics and pegbot.sim.metrics: a clean exposition (promtool check metrics and the
project's naming rules), every label set initialised, and the values the helpers compute."""

from __future__ import annotations

import subprocess
import typing
import urllib.request

import aiohttp
import pytest
from _prom import PROMTOOL, needs_promtool
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pegbot.book import OrderBook
from pegbot.execution.errors import REASONS
from pegbot.execution.risk import TRIGGERS
from pegbot.market import Market, Side
from pegbot.metrics import Metrics, start_metrics_server
from pegbot.metrics_table import (
    ALL_METRICS,
    ARB_DIRECTIONS,
    ARB_STATES,
    AUTO_EXECUTION_RESULTS,
    BANDS_BPS,
    BOT_METRICS,
    CHAIN_TRANSFERS,
    DESK_METRICS,
    OPEN_SIGNAL_STATES,
    PEG_METRICS,
)
from pegbot.sim.metrics import SimMetrics, endpoint_of
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config

V, S = "binance", "KGST/USDT"
TYPE_WORDS = ("_gauge", "_counter", "_histogram", "_summary", "_metric")
BAD_UNITS = ("_ms", "_milliseconds", "_microseconds", "_minutes", "_hours", "_percent", "_pct")


def full_metrics() -> Metrics:
    m = Metrics(CollectorRegistry())
    m.add_process_collectors()
    m.set_build_info("paper", git_sha_="abc123")
    m.init_bot([V, "testnet"], [S])
    m.init_peg(V, S, ["nbkr", "static"])
    m.init_desk([V, "testnet"], wallets=["desk", "treasury"])
    return m


def value(m: Metrics, name: str, **labels: str) -> float:
    v = m.registry.get_sample_value(name, labels)
    assert v is not None, (name, labels)
    return v


@needs_promtool
def test_promtool_check_metrics_on_full_exposition() -> None:
    text = generate_latest(full_metrics().registry)
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True)
    assert out.returncode == 0 and out.stdout == b"" and out.stderr == b"", out.stdout + out.stderr


@needs_promtool
def test_promtool_flags_a_bad_name() -> None:
    # The check above can fail: promtool rejects what our rules forbid.
    bad = b"# HELP lag_ms x\n# TYPE lag_ms counter\nlag_ms 1\n"
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=bad, capture_output=True)
    assert out.returncode != 0


def test_project_naming_rules() -> None:
    fams = list(text_string_to_metric_families(generate_latest(full_metrics().registry).decode()))
    ours = [f for f in fams if f.name.startswith("pegbot")]
    assert len(ours) > 40
    for f in ours:
        assert f.documentation.strip(), f.name
        assert not any(w in f.name for w in TYPE_WORDS), f.name
        assert not any(f.name.endswith(u) for u in BAD_UNITS), f.name
        assert f.name == f.name.lower(), f.name
        for sample in f.samples:
            if f.type != "counter":
                assert not sample.name.endswith("_total"), sample.name
            for label in sample.labels:
                # Bounded labels only: no ids, prices or timestamps.
                assert label not in {"order_id", "client_order_id", "price", "ts", "error"}


def test_every_label_set_initialised() -> None:
    m = full_metrics()
    for venue in (V, "testnet"):
        for reason in REASONS:
            assert value(m, "pegbot_order_rejects_total", venue=venue, symbol=S, reason=reason) == 0
        for trigger in TRIGGERS:
            assert (
                value(m, "pegbot_risk_trigger_active", venue=venue, symbol=S, trigger=trigger) == 0
            )
        for side in ("bid", "ask"):
            for band in BANDS_BPS:
                for owner in ("self", "market"):
                    labels = dict(venue=venue, symbol=S, side=side, band_bps=str(band), owner=owner)
                    assert value(m, "pegbot_depth_quote", **labels) == 0
            for liq in ("maker", "taker"):
                labels = dict(venue=venue, symbol=S, side=side, liquidity=liq)
                assert value(m, "pegbot_fills_total", **labels) == 0
        assert value(m, "pegbot_risk_level", venue=venue, symbol=S, level="normal") == 1
        assert value(m, "pegbot_ws_connected", venue=venue, stream="user") == 0
        assert value(m, "pegbot_tick_to_quote_seconds_count", venue=venue, symbol=S) == 0
    assert value(m, "pegbot_state", pegbot_state="starting") == 1
    info = {"version": "0.1.0", "git_sha": "abc123", "mode": "paper"}
    assert value(m, "pegbot_build_info", **info) == 1
    assert value(m, "process_resident_memory_bytes") > 0


def test_every_table_row_is_one_typed_attribute() -> None:
    rows = {spec.attr: spec.kind for spec in ALL_METRICS}
    names = {spec.name for spec in ALL_METRICS}
    assert len(rows) == len(names) == len(PEG_METRICS) + len(BOT_METRICS) + len(DESK_METRICS)
    assert typing.get_type_hints(Metrics) == rows


def test_desk_rows_initialised_by_init_desk() -> None:
    m = full_metrics()
    for kind in ARB_DIRECTIONS:
        for state in ARB_STATES:
            labels = dict(kind=kind, to_state=state)
            assert value(m, "pegbot_signal_transitions_total", **labels) == 0
            assert value(m, "pegbot_signal_last_transition_timestamp_seconds", **labels) == 0
        for state in OPEN_SIGNAL_STATES:
            assert value(m, "pegbot_signals_open", kind=kind, state=state) == 0
        assert value(m, "pegbot_round_trip_realised_pnl_quote", kind=kind) == 0
    assert value(m, "pegbot_desk_actions_total", action="executed", result="refused") == 0
    assert value(m, "pegbot_desk_rebalance_proposals_total", kind="rebalance_redeem") == 0
    assert value(m, "pegbot_desk_balance_band_base", asset="USDT", bound="target") == 0
    for what in CHAIN_TRANSFERS:
        assert value(m, "pegbot_chain_transfers_total", what=what) == 0
    assert value(m, "pegbot_chain_wallet_balance_base", wallet="treasury") == 0
    assert value(m, "pegbot_chain_unexplained_supply_change_total") == 0
    assert value(m, "pegbot_chain_watcher_enabled") == 0
    # A capacity of 0 levels pages: its series exist only once a capacity was measured.
    get = m.registry.get_sample_value
    assert get("pegbot_ladder_capacity_levels", {"venue": V, "side": "bid"}) is None
    assert (
        get("pegbot_scorecard_capacity_min_levels", {"venue": V, "symbol": S, "side": "bid"})
        is None
    )
    m.capacity_levels.labels(venue=V, side="bid").set(3)
    assert value(m, "pegbot_ladder_capacity_levels", venue=V, side="bid") == 3


def test_a_caller_label_without_values_is_an_error() -> None:
    # init_desk names the wallets; a row needing a caller's label nobody gave must not pass
    # silently with no series.
    wallet_row = next(s for s in DESK_METRICS if "wallet" in s.labels)
    assert list(wallet_row.label_sets({"wallet": ["a", "b"]})) == [("a",), ("b",)]
    with pytest.raises(ValueError, match="wallet"):
        list(wallet_row.label_sets({}))


def test_auto_execution_results_initialised_and_counted() -> None:
    m = full_metrics()
    for venue in (V, "testnet"):
        for result in AUTO_EXECUTION_RESULTS:
            assert value(m, "pegbot_arb_auto_executions_total", venue=venue, result=result) == 0
    m.auto_execution(V, "executed")
    assert value(m, "pegbot_arb_auto_executions_total", venue=V, result="executed") == 1
    with pytest.raises(ValueError, match="auto-execution result"):
        m.auto_execution(V, "skipped_for_no_reason")


def test_observe_book_and_quotes_values() -> None:
    m = full_metrics()
    market = Market.kgst_usdt()
    book = OrderBook()
    book.local_ts = 1_700_000_000_500_000_000
    # Fair 1140 ticks (0.0114); bid 1139, ask 1143: mid 1141.
    book.set_bid(1139, market.qty_to_units(1000))
    book.set_bid(1100, market.qty_to_units(5000))  # 352 bps below fair: outside every band
    book.set_ask(1143, market.qty_to_units(2000))
    m.observe_book(V, S, book, market, 1140.0, now_ns=1_800_000_000_000_000_000)
    assert value(m, "pegbot_book_last_update_timestamp_seconds", venue=V, symbol=S) == 1.7e9 + 0.5
    assert value(m, "pegbot_mid_price_quote", venue=V, symbol=S) == pytest.approx(0.01141)
    assert value(m, "pegbot_peg_deviation_bps", venue=V, symbol=S) == pytest.approx(1e4 / 1140)
    assert value(m, "pegbot_market_spread_bps", venue=V, symbol=S) == pytest.approx(4 * 1e4 / 1141)

    def depth(side: str, band: int, owner: str) -> float:
        labels = dict(venue=V, symbol=S, side=side, band_bps=str(band), owner=owner)
        return value(m, "pegbot_depth_quote", **labels)

    # ±10 bps of 1140 is 1138.86..1141.14: only the 1139 bid. ±50 bps reaches 1143.
    assert depth("bid", 10, "market") == pytest.approx(1000 * 0.01139)
    assert depth("ask", 10, "market") == 0
    assert depth("ask", 50, "market") == pytest.approx(2000 * 0.01143)
    assert depth("bid", 100, "market") == pytest.approx(1000 * 0.01139)

    units = market.qty_to_units(500)
    m.observe_quotes(V, S, [(Side.BUY, 1139, units), (Side.SELL, 1142, units)], market, 1140.0)
    assert value(m, "pegbot_quote_up", venue=V, symbol=S, side="bid") == 1
    assert value(m, "pegbot_quote_orders", venue=V, symbol=S, side="ask") == 1
    assert value(m, "pegbot_quoted_spread_bps", venue=V, symbol=S) == pytest.approx(
        3 * 20_000 / (1139 + 1142)
    )
    assert depth("ask", 10, "self") == 0  # 17.5 bps away
    assert depth("ask", 25, "self") == pytest.approx(500 * 0.01142)
    m.observe_quotes(V, S, [(Side.BUY, 1139, units)], market, 1140.0)
    assert value(m, "pegbot_quote_up", venue=V, symbol=S, side="ask") == 0
    assert value(m, "pegbot_quoted_spread_bps", venue=V, symbol=S) == 0


def test_counters_risk_and_validation() -> None:
    m = full_metrics()
    m.fill(V, S, Side.SELL, "maker", 11.4)
    m.fill(V, S, "ask", "taker", 1.0)
    assert value(m, "pegbot_fills_total", venue=V, symbol=S, side="ask", liquidity="maker") == 1
    assert value(m, "pegbot_fill_notional_quote_total", venue=V, symbol=S, side="ask") == 12.4
    m.set_risk(V, S, "freeze", ["book_stale", "ws_down"])
    m.set_risk(V, S, "freeze", ["book_stale"])
    m.set_risk(V, S, "normal")
    assert value(m, "pegbot_risk_transitions_total", venue=V, symbol=S, level="freeze") == 1
    assert value(m, "pegbot_risk_transitions_total", venue=V, symbol=S, level="normal") == 1
    assert value(m, "pegbot_risk_level", venue=V, symbol=S, level="freeze") == 0
    assert value(m, "pegbot_risk_trigger_active", venue=V, symbol=S, trigger="ws_down") == 0
    m.observe_ack(V, "submit", 0.003)
    assert (
        value(m, "pegbot_order_ack_latency_seconds_bucket", venue=V, action="submit", le="0.005")
        == 1
    )
    m.observe_tick_to_quote(V, S, 0.0004)
    assert value(m, "pegbot_tick_to_quote_seconds_bucket", venue=V, symbol=S, le="0.0005") == 1
    with pytest.raises(ValueError, match="reject reason"):
        m.order_rejected(V, S, "Account has insufficient balance")  # a raw message
    with pytest.raises(ValueError, match="side"):
        m.order_submitted(V, S, "buy")
    with pytest.raises(ValueError, match="triggers"):
        m.set_risk(V, S, "defend", ["made_up"])
    with pytest.raises(ValueError, match="state"):
        m.set_state("running")


def test_metrics_server_serves_on_loopback() -> None:
    m = full_metrics()
    m.heartbeat(1_700_000_000_000_000_000)
    server = start_metrics_server(m.registry)
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            body = resp.read().decode()
        assert "pegbot_loop_last_run_timestamp_seconds 1.7e+09" in body
    finally:
        server.close()


def test_endpoint_label_is_bounded() -> None:
    rest = frozenset({"order", "depth"})
    assert endpoint_of("/api/v3/order", rest) == "/api/v3/order"
    assert endpoint_of("/api/v3/order/12345", rest) == "/api/v3/other"
    assert endpoint_of("/ws/kgstusdt@depth", rest) == "/ws"
    assert endpoint_of("/admin/faults", rest) == "/admin"
    assert endpoint_of("/anything/else", rest) == "other"


async def test_sim_metrics_count_real_traffic() -> None:
    server = SimServer(default_sim_config(), host="127.0.0.1", port=0)
    sim_metrics = SimMetrics()
    sim_metrics.attach(server)
    await server.start()
    handle = SimHandle(server)
    try:
        with pytest.raises(RuntimeError, match="before"):
            SimMetrics().attach(server)
        client = handle.client()
        await client.load_markets()
        order = await client.create_order(S, "limit", "buy", "1000", "0.01130")
        await client.cancel_order(order["id"], S)
        await handle.admin("drop_ws")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.http_url}/metrics") as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
        fams = {f.name: f for f in text_string_to_metric_families(text)}

        def sample(name: str, **labels: str) -> float:
            for s in fams[name].samples:
                wanted = s.name.endswith("_total") or s.name == name
                if wanted and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
            raise AssertionError((name, labels))

        assert sample("pegbot_sim_order_events", symbol="KGSTUSDT", event="new") == 1
        assert sample("pegbot_sim_order_events", symbol="KGSTUSDT", event="canceled") == 1
        assert sample("pegbot_sim_order_events", symbol="KGSTUSDT", event="trade") == 0
        assert (
            sample("pegbot_sim_requests", endpoint="/api/v3/order", method="POST", status="200")
            == 1
        )
        assert (
            sample("pegbot_sim_requests", endpoint="/api/v3/order", method="DELETE", status="200")
            == 1
        )
        assert (
            sample(
                "pegbot_sim_requests", endpoint="/api/v3/exchangeInfo", method="GET", status="200"
            )
            >= 1
        )
        assert sample("pegbot_sim_faults_injected", fault="ws_dropped") == 1
        assert sample("pegbot_sim_faults_injected", fault="rest_5xx") == 0
        assert sample("pegbot_sim_symbol_trading", symbol="KGSTUSDT") == 1
        if PROMTOOL:
            out = subprocess.run(
                [PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True
            )
            assert out.returncode == 0, out.stdout + out.stderr
    finally:
        await handle.close_clients()
        await server.stop()
