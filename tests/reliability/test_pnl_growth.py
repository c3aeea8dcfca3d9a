"""Exact PnL must stay bounded in size over a day of fills.

Found by the load benchmark: after a few minutes of fills at 10x the busiest rate the bot died
in housekeeping (``snapshot_pnl`` -> ``Journal.record_pnl`` -> ``str(Fraction)``: "Exceeds
the limit (4300 digits) for integer string conversion"). The ledger's average cost
``(|p| * avg + |d| * price) / (|p| + |d|)`` multiplies denominators with every fill, so the
exact numbers grew without bound (and every operation on them got slower). Fixed: the average
is kept on a 1e-18 grid with the residual booked to realised PnL.
"""

from __future__ import annotations

import random
from decimal import Decimal

from pegbot.execution.venue import Fill
from pegbot.ledger import Ledger
from pegbot.market import Market, Side


def test_pnl_stays_printable_after_2000_fills() -> None:
    market = Market.kgst_usdt()
    ledger = Ledger(market)
    ledger.set_balances("sim", Decimal(1_000_000), Decimal(20_000), Decimal("0.011435"))
    rng = random.Random(7)
    for i in range(2000):
        side = Side.BUY if rng.random() < 0.55 else Side.SELL
        ledger.apply(
            Fill(
                venue="sim", symbol="KGST/USDT", trade_id=str(i), client_id=f"pegbot-x-b0-{i}",
                order_id=str(i), side=side, price_ticks=1140 + rng.randint(-3, 3),
                qty_units=market.lots_to_units(rng.choice([97, 100, 113, 251, 1000])),
                fee=Decimal(0), fee_asset="USDT", maker=True, ts_ns=i,
            )
        )  # fmt: skip
    values = ledger.pnl(Decimal("0.011435"), "sim").journal_values()
    longest = max(len(str(v)) for v in values.values())
    assert longest < 200, f"{longest} characters after 2000 fills (str() refuses 4300 digits)"
