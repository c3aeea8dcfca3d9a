"""The chain watcher on a local EVM: a KGST stand-in compiled from Vyper, deployed in-process.

The desk journals a mint (its issuer leg requested for 1000 KGST); the issuer mints to the
desk's wallet, the desk deposits it on the exchange, then someone mints 500 KGST nobody
journaled. The watcher must confirm the mint and the deposit against the signal and flag
the second supply change.
"""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

pytest.importorskip("web3", reason="pip install 'pegbot[chain]'")
vyper = pytest.importorskip("vyper", reason="pip install 'pegbot[chain]'")

from web3 import EthereumTesterProvider, Web3  # noqa: E402

from pegbot.book import OrderBook  # noqa: E402
from pegbot.desk import SignalDesk  # noqa: E402
from pegbot.desk.chain import ChainConfig, ChainWatcher  # noqa: E402
from pegbot.journal import Journal  # noqa: E402
from pegbot.market import Market  # noqa: E402
from pegbot.metrics import Metrics  # noqa: E402
from pegbot.peg.fair import FairValue  # noqa: E402
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler, SignalState  # noqa: E402
from pegbot.peg.sinks import SignalSinks  # noqa: E402

pytestmark = pytest.mark.chain

KGST = Market.kgst_usdt()
TOKEN = Path(__file__).parent.parent / "data" / "chain" / "kgst_token.vy"
E18 = 10**18


def test_the_watcher_confirms_a_mint_and_flags_an_unexplained_supply_change(
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    out = vyper.compile_code(TOKEN.read_text(), output_formats=["abi", "bytecode"])
    w3 = Web3(EthereumTesterProvider())
    issuer, desk_wallet, deposit, stranger = w3.eth.accounts[:4]
    tx = (
        w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
        .constructor(18)
        .transact({"from": issuer})
    )
    token = w3.eth.contract(
        address=w3.eth.wait_for_transaction_receipt(tx).contractAddress, abi=out["abi"]
    )

    # The desk's journal: a mint_and_sell executed, its mint requested for 1000 KGST.
    journal = Journal(tmp_path / "j.sqlite")
    signaler = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=Decimal(0)),
                           ArbConfig(min_edge_bps=Decimal(0)))  # fmt: skip
    sinks = SignalSinks(KGST, journal=journal)
    book = OrderBook()
    book.apply_snapshot([(1147, 1000 * 10**8)], [(1150, 10**10)])
    [proposed] = signaler.evaluate(1, book, FairValue.fixed(Fraction(100, 8745), KGST))
    sid = proposed.signal.id
    sinks.publish([proposed, signaler.approve(sid, 2), signaler.mark_executed(sid, 3, "ops")])
    desk = SignalDesk(journal, clock=lambda: 4)
    desk.record_fact(sid, SignalState.REQUESTED, "ops", {"ref": "MINT-7", "amount": "1000"})

    metrics = Metrics()
    metrics.init_desk([], wallets=["desk"])
    watcher = ChainWatcher(
        w3,
        ChainConfig(token=token.address, decimals=18, wallets={"desk": desk_wallet},
                    exchange_deposit=deposit, confirmations=0),
        journal, metrics,
    )  # fmt: skip
    assert watcher.poll(10) == []  # the baseline: supply 0 at the newest block
    sample = metrics.registry.get_sample_value

    token.functions.mint(desk_wallet, 1000 * E18).transact({"from": issuer})
    [mint] = watcher.poll(20)
    assert (mint.what, mint.amount, mint.signal_id) == ("mint", Decimal(1000), sid)
    assert sample("pegbot_chain_confirmations_total", {"what": "mint"}) == 1
    assert sample("pegbot_chain_unexplained_supply_change_total") == 0
    assert sample("pegbot_chain_total_supply_base") == 1000
    assert sample("pegbot_chain_wallet_balance_base", {"wallet": "desk"}) == 1000

    token.functions.transfer(deposit, 1000 * E18).transact({"from": desk_wallet})
    [dep] = watcher.poll(30)
    assert (dep.what, dep.signal_id) == ("deposit", sid)
    assert [e["what"] for e in watcher.events(sid)] == ["mint", "deposit"]
    assert sample("pegbot_chain_wallet_balance_base", {"wallet": "desk"}) == 0

    # A mint nobody journaled: the supply moves, nothing explains it.
    token.functions.mint(stranger, 500 * E18).transact({"from": issuer})
    [other] = watcher.poll(40)
    assert other.what == "other" and other.signal_id is None
    assert sample("pegbot_chain_unexplained_supply_change_total") == 1
    assert sample("pegbot_chain_unexplained_supply_change_base") == 500
    assert sample("pegbot_chain_total_supply_base") == 1500

    # A restart resumes from the journaled cursor: nothing is seen twice.
    again = ChainWatcher(w3, watcher.config, journal, Metrics())
    assert again.poll(50) == []
    assert journal.signal_records()[0]["state"] == "requested"  # the chain confirms only
    journal.close()
    assert time.monotonic() - t0 < 30
