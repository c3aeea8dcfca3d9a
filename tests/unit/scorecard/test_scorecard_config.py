"""The bot's ``[obligations]`` table: the agreement the live scorecard checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pegbot.config import ConfigError, load_settings
from pegbot.scorecard import ObligationSettings


def test_obligations_table_in_the_bot_config(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        '[obligations]\nmax_spread_bps = 30\nmin_depth_quote = 1000\nband_reference = "fair"\n'
    )
    ob = load_settings(path, environ={}).obligations
    assert ob == ObligationSettings(max_spread_bps=30, min_depth_quote=1000, band_reference="fair")
    assert load_settings(None, environ={}).obligations == ObligationSettings()
    # The environment overrides it like any other table.
    env = {"PEGBOT_OBLIGATIONS__MIN_UPTIME": "0.95"}
    assert load_settings(path, environ=env).obligations.min_uptime == 0.95


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[obligations]\nmax_spread = 30\n", "obligations.max_spread: Extra inputs"),
        ("[obligations]\nmin_uptime = 1.5\n", "obligations.min_uptime: Input should be less"),
        ('[obligations]\nband_reference = "book"\n', "obligations.band_reference: Input should"),
    ],
)
def test_a_bad_obligation_names_its_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})
