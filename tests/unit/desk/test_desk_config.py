"""The ``[desk]`` settings through the real loader (file, environment, refusals)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pegbot.config import ConfigError, load_settings
from pegbot.desk import make_issuer
from pegbot.desk.issuer import ManualIssuer


def test_desk_tables_load_and_build(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        "[desk.rebalance]\nenabled = true\n"
        "kgst = { min = 50000, target = 100000, max = 150000 }\n"
        "usdt = { min = 500, target = 1000, max = 1500 }\n"
        "[desk.chain]\nenabled = true\ndecimals = 18\nconfirmations = 3\n"
        'wallets = { desk = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF" }\n'
    )
    s = load_settings(p, environ={})
    assert s.desk.rebalance.kgst is not None
    assert s.desk.rebalance.kgst.build().target == Decimal(100_000)
    chain = s.desk.chain.build()
    assert chain.decimals == 18 and chain.confirmations == 3 and chain.wallets["desk"]
    assert isinstance(make_issuer(s.desk.issuer, session=None), ManualIssuer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[desk.chain]\nenabled = true\n", "desk.chain: Value error, the chain watcher needs"),
        ('[desk.chain]\nwallets = { d = "0x12" }\n', "is not an address"),
        ("[desk.rebalance]\nenabled = true\n", "rebalancing needs both bands"),
        ("[desk.rebalance]\nkgst = { min = 3, target = 2, max = 4 }\n", "min <= target <= max"),
        ('[desk.issuer]\nadapter = "http"\n', "needs url"),
        ('[desk.issuer]\nadapter = "http"\nurl = "http://x"\ntoken = "t"\n', "desk.issuer.token"),
        ("[desk]\nissuers = 1\n", "desk.issuers"),
    ],
)
def test_bad_desk_settings_are_refused_with_their_path(
    tmp_path: Path, text: str, message: str
) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(p, environ={})
