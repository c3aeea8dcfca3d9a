"""Evaluation scenarios, the bot's generated configuration and the targets, without running."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.config import load_settings
from pegbot.evaluate.botconfig import (
    EXAMPLE,
    bot_env,
    dump_toml,
    rate_poll_s,
    read_example,
    simulator_config,
    write_bot_config,
)
from pegbot.evaluate.harness import fair_ticks, sim_config
from pegbot.evaluate.scenario import Scenario, ScenarioError, load_scenario
from pegbot.evaluate.targets import check_targets
from pegbot.market import Market
from pegbot.scorecard import Fair, Quotes, score
from pegbot.timeunits import NS_PER_S

REPO = Path(__file__).resolve().parents[3]
S = NS_PER_S


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_every_shipped_scenario_loads_and_declares_targets() -> None:
    names = sorted(p.stem for p in (REPO / "scenarios").glob("*.toml"))
    assert {"steady", "fx_step_down", "fx_step_up", "depeg", "drought", "crowd_pull"} <= set(names)
    assert "storm_429" in names
    for name in names:
        sc = load_scenario(REPO / "scenarios" / f"{name}.toml")
        assert sc.name == name and sc.description
        targets = sc.targets.model_dump(exclude_defaults=True)
        assert targets, f"{name} declares no target"
        if name.startswith("fx_step"):  # the FX targets count from when the bot read the rate
            assert {"max_pull_after_learn_s", "max_requote_after_learn_s"} <= set(targets)
        else:
            assert sc.targets.min_two_sided is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nduration_s = 10\nbogus = 1\n', "bogus: Extra inputs are not permitted"),
        ('name = "x"\nduration_s = -1\n', "duration_s: Input should be greater than 0"),
        (
            'name = "x"\nduration_s = 10\n[[events]]\nkind = "fx_step"\nat_s = 1\n'
            'som_per_usd = "0"\n',
            "events.0.som_per_usd: Input should be greater than 0",
        ),
        (
            'name = "x"\nduration_s = 10\n[[events]]\nkind = "fx_jump"\nat_s = 1\n',
            "events.0: Input tag 'fx_jump' found using 'kind' does not match",
        ),
        (
            'name = "x"\nduration_s = 10\n[[events]]\nkind = "drop_ws"\nat_s = 12\n',
            "events.0.at_s: 12.0 is not within the duration (10.0 s)",
        ),
        (
            'name = "x"\nduration_s = 10\n[targets]\nmin_mid_within = { 30 = 0.9 }\n',
            "targets.min_mid_within.30: not a band of scorecard.mid_bands_bps [10, 25, 50]",
        ),
        ('name = "x"\nduration_s = 10\n[obligations]\nmax_spread = 5\n', "obligations.max_spread"),
        (
            'name = "x"\nduration_s = 10\n[crowd.rates]\nlimit_per_s = -1\n',
            "crowd.rates.limit_per_s",
        ),
        ('name = "x"\nduration_s = [10\n', "s.toml: "),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    assert message in str(err.value)


def test_the_cli_refuses_a_bad_scenario_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\nduration_s = 10\nunknown_key = 3\n')
    out = CliRunner().invoke(app, ["evaluate", str(path)])
    assert out.exit_code == 2
    assert "unknown_key: Extra inputs are not permitted" in out.output
    out = CliRunner().invoke(app, ["evaluate", str(tmp_path / "missing.toml")])
    assert out.exit_code == 2 and "no such scenario file" in out.output


def test_the_span_waits_for_the_bots_next_rate_poll() -> None:
    sc = load_scenario(REPO / "scenarios" / "fx_step_down.toml")
    step = next(e for e in sc.events if e.kind == "fx_step")
    assert sc.length_s(300.0) == step.at_s + 300 + 60
    assert sc.length_s(5.0) == step.at_s + 5 + 60
    assert sc.length_s(None) == sc.duration_s


def test_the_simulator_gets_the_crowd_and_its_scenarios_after_the_warmup() -> None:
    sc = Scenario.model_validate(
        {
            "name": "x",
            "duration_s": 100,
            "warmup_s": 10,
            "som_per_usd": "87.45",
            "crowd": {"seed": 9, "rates": {"market_per_s": 2.0}},
            "events": [
                {"kind": "fx_step", "at_s": 20, "som_per_usd": "74.3"},
                {"kind": "fx_step", "at_s": 30, "som_per_usd": "80", "crowd": False},
                {"kind": "depeg", "at_s": 5, "bps": -50},
                {"kind": "drought", "at_s": 40, "duration_s": 10},
                {"kind": "drop_ws", "at_s": 50},
            ],
        }
    )
    cfg = sim_config(sc)
    flow = cfg.flow
    assert flow.seed == 9 and flow.rates.market_per_s == 2.0
    assert [(s.kind, s.at_ns) for s in flow.scenarios] == [
        ("fx_step", 30 * S),
        ("depeg", 15 * S),
        ("drought", 50 * S),
    ]
    assert cfg.nbkr.rates["USD"] == Decimal("87.45")
    assert fair_ticks("87.45", Market.kgst_usdt()) == Fraction(100_000, 1) / Fraction("87.45")


def test_the_bot_runs_the_shipped_example_with_only_urls_keys_journal_and_ports_changed(
    tmp_path: Path,
) -> None:
    example = read_example()
    cfg = simulator_config(example, "http://127.0.0.1:5555", "ws://127.0.0.1:5555", tmp_path, 7777)
    path = write_bot_config(cfg, tmp_path / "bot.toml")
    with path.open("rb") as fh:
        written = tomllib.load(fh)
    changed = {
        ("venues", "sim", "rest_url"),
        ("venues", "sim", "ws_url"),
        ("peg", "sources", 0, "url"),
        ("journal", "path"),
        ("metrics", "port"),
        ("loop", "control_dir"),
    }

    def leaves(d: object, path: tuple[object, ...] = ()) -> dict[tuple[object, ...], object]:
        if isinstance(d, dict):
            return {k: v for key, x in d.items() for k, v in leaves(x, (*path, key)).items()}
        if isinstance(d, list):
            return {k: v for i, x in enumerate(d) for k, v in leaves(x, (*path, i)).items()}
        return {path: d}

    before, after = leaves(example), leaves(written)
    assert before.keys() == after.keys()
    assert {k for k in before if before[k] != after[k]} == changed
    assert written["peg"]["sources"][0]["url"] == "http://127.0.0.1:5555/XML/daily.xml"
    assert (
        rate_poll_s(written) == rate_poll_s(example) == example["peg"]["sources"][0]["interval_s"]
    )
    # The bot reads it, with the keys from the environment only.
    env = bot_env(written, "k" * 64, "s" * 64)
    settings = load_settings(path, environ=env)
    assert settings.venues["sim"].rest_url == "http://127.0.0.1:5555"
    assert settings.venues["sim"].api_key is not None
    assert "api_key" not in path.read_text()
    assert EXAMPLE.name == "sim.toml"


def test_the_toml_writer_round_trips_nested_tables_and_inline_lists() -> None:
    data = {
        "mode": "testnet",
        "n": 3,
        "x": 0.5,
        "flag": True,
        "a": {"b": {"c": 'q"uote\\'}, "d": [1, 2]},
        "src": [{"name": "n", "url": "http://h/p", "max_age_s": 3600}],
        "weird key": "é",
    }
    assert tomllib.loads(dump_toml(data)) == data


def test_targets_pass_fail_and_say_why() -> None:
    market = Market.kgst_usdt()
    sc = Scenario.model_validate(
        {
            "name": "x",
            "duration_s": 10,
            "events": [{"kind": "fx_step", "at_s": 2, "som_per_usd": "74.3"}],
            "targets": {
                "min_two_sided": 0.5,
                "max_side_empty_s": 1,
                "max_pull_after_learn_s": 1,
                "max_requote_s": 5,
                "max_wrong_side_fills": 0,
                "max_placed_per_fill": 3,
                "min_mid_within": {"50": 0.5},
                "obligations_pass": True,
            },
        }
    )
    f0, f1 = fair_ticks("87.45", market), fair_ticks("74.3", market)
    card = score(
        market,
        [Fair(0, f0), Quotes(0, ((1140, 10**8),), ((1147, 10**8),)), Fair(2 * S, f1)],
        0,
        10 * S,
    )
    checks = {c.target: c for c in check_targets(sc, card)}
    assert checks["min_two_sided"].ok and checks["min_two_sided"].value == 1
    assert checks["max_side_empty_s"].ok
    # The ask at 1147 sits below the new fair (1345.9 ticks) to the end: never pulled.
    pull = checks["max_pull_after_learn_s[jump 1]"]
    assert not pull.ok and pull.value is None and "did not read" in pull.note
    requote = checks["max_requote_s[jump 1]"]
    assert not requote.ok and "not done within the jump's 8 s window" in requote.note
    assert checks["max_wrong_side_fills"].ok
    assert checks["max_placed_per_fill"].ok and checks["max_placed_per_fill"].note == "no fills"
    assert not checks["min_mid_within[50bps]"].ok  # no book at all: no mid
    assert not checks["obligations_pass"].ok
    # A step too small to be a jump fails the jump targets rather than passing them silently.
    quiet = score(market, [Fair(0, f0), Fair(2 * S, f0 * Fraction(1001, 1000))], 0, 10 * S)
    missing = {c.target: c for c in check_targets(sc, quiet)}
    assert not missing["max_requote_s"].ok and "no FX jump" in missing["max_requote_s"].note
