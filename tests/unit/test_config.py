"""The settings root: sources and their order, secrets, field paths, the live acknowledgement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from pegbot.config import ConfigError, Settings, check_live_ack, load_settings

BASE = """
mode = "paper"
[venues.binance]
rest_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
[strategy]
name = "peg_ladder"
[strategy.params]
levels = 5
[risk]
band_bps = 80
[peg]
sources = [{ name = "desk", kind = "static", rate = "87.45" }]
[peg.costs]
exchange_fee_bps = 7
"""


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(BASE)
    return path


def test_defaults_are_the_safest_mode_on_loopback() -> None:
    s = load_settings(None, environ={})
    assert s.mode == "dry-run"
    assert s.metrics.host == "127.0.0.1"
    assert list(s.venues) == ["binance"]
    assert s.venues["binance"].api_key is None


def test_toml_is_read_and_nested_tables_validated(toml: Path) -> None:
    s = load_settings(toml, environ={})
    assert s.mode == "paper"
    assert s.risk.band_bps == 80
    assert s.strategy.params == {"levels": 5}
    assert s.peg.costs.exchange_fee_bps == 7
    assert s.peg.sources[0].kind == "static"
    assert s.venues["binance"].rest_url == "http://127.0.0.1:1"


def test_env_beats_the_file_and_deep_merges(toml: Path) -> None:
    s = load_settings(
        toml,
        environ={
            "PEGBOT_MODE": "testnet",
            "PEGBOT_RISK__COOLDOWN_S": "3",
            "PEGBOT_VENUES__BINANCE__SYMBOL": "KGST/USDC",
            "PEGBOT_LIVE_ACK": "1",  # not a field: read by check_live_ack only
            "OTHER": "ignored",
        },
    )
    assert s.mode == "testnet"
    assert s.risk.cooldown_s == 3 and s.risk.band_bps == 80  # merged, not replaced
    assert s.venues["binance"].symbol == "KGST/USDC"
    assert s.venues["binance"].rest_url == "http://127.0.0.1:1"


def test_overrides_beat_the_environment(toml: Path) -> None:
    s = load_settings(toml, environ={"PEGBOT_MODE": "testnet"}, mode="dry-run")
    assert s.mode == "dry-run"


def test_keys_come_from_env_or_secrets_dir_and_stay_secret(toml: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pegbot_venues__binance__api_secret").write_text("s3cr3t-value\n")
    s = load_settings(
        toml, environ={"PEGBOT_VENUES__BINANCE__API_KEY": "k3y-value"}, secrets_dir=secrets
    )
    v = s.venues["binance"]
    assert isinstance(v.api_key, SecretStr) and isinstance(v.api_secret, SecretStr)
    assert v.api_key.get_secret_value() == "k3y-value"
    assert v.api_secret.get_secret_value() == "s3cr3t-value"
    shown = json.dumps(s.redacted()) + repr(s)
    assert "k3y-value" not in shown and "s3cr3t-value" not in shown
    # The environment beats the secrets dir, like every other field.
    s2 = load_settings(
        toml, environ={"PEGBOT_VENUES__BINANCE__API_SECRET": "from-env"}, secrets_dir=secrets
    )
    assert s2.venues["binance"].api_secret.get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_a_key_in_the_toml_file_is_refused(toml: Path) -> None:
    toml.write_text(BASE.replace('ws_url = "ws://127.0.0.1:1"', 'ws_url = "ws://x"\napi_key = "k"'))
    with pytest.raises(ConfigError, match=r"venues\.binance\.api_key: secrets are not read"):
        load_settings(toml, environ={})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[risk]\nband_bps = -1\n", r"risk\.band_bps: Input should be greater than 0"),
        ("[loop]\nintervall_s = 1\n", r"loop\.intervall_s: Extra inputs are not permitted"),
        ("surprise = 1\n", r"surprise: Extra inputs are not permitted"),
        ('[venues.binance]\nsymbol = "KGSTUSDT"\n', r"venues\.binance\.symbol"),
        ('[venues."Bad Name"]\n', r"venues: Value error, venue name"),
        ('[peg]\nsources = [{ name = "x", kind = "file" }]\n', r"peg\.sources\.0.*needs path"),
        ('mode = "yolo"\n', r"mode: Input should be"),
    ],
)
def test_bad_values_fail_with_their_field_path(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(extra)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})


def test_bad_env_value_names_its_path(toml: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_settings(toml, environ={"PEGBOT_METRICS__PORT": "http"})


def test_missing_file_and_toml_syntax_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = \n")
    with pytest.raises(ConfigError, match="line 1"):
        load_settings(bad, environ={})


def test_live_needs_the_flag_or_the_variable(toml: Path) -> None:
    live = load_settings(toml, environ={"PEGBOT_MODE": "live"})
    with pytest.raises(ConfigError, match="--i-understand-this-is-live"):
        check_live_ack(live, flag=False, environ={})
    with pytest.raises(ConfigError):
        check_live_ack(live, flag=False, environ={"PEGBOT_LIVE_ACK": "yes"})  # exactly "1"
    check_live_ack(live, flag=True, environ={})
    check_live_ack(live, flag=False, environ={"PEGBOT_LIVE_ACK": "1"})
    check_live_ack(load_settings(toml, environ={}), flag=False, environ={})  # paper: no ack


def test_loading_does_not_leak_into_os_environ(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEGBOT_MODE", "live")
    assert load_settings(toml, environ={}).mode == "paper"  # only the mapping given is read
    assert load_settings(toml).mode == "live"  # default: the process environment


def test_example_sim_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "sim.toml"
    s = load_settings(example, environ={})
    assert isinstance(s, Settings)
    assert s.mode == "testnet"
    assert s.venues["sim"].rest_url == "http://127.0.0.1:8080"
