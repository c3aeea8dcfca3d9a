"""The chain watcher: KGST's supply and the desk's transfers, matched to the issuer legs.

Over JSON-RPC (web3.py, the optional ``chain`` extra: ``pip install 'pegbot[chain]'``) it
reads, per poll, the token's ``Transfer`` logs from the block after its cursor up to the
newest block with ``confirmations`` blocks on top (at most ``max_blocks`` at a time), and
``totalSupply`` and the watched wallets' balances at that block. Each transfer is one of:

========== ============================================ ====================================
what       transfer                                     matched to (same amount, once)
========== ============================================ ====================================
mint       0x0 → a desk wallet                          a mint leg requested…settled: *the
                                                        mint arrived*
deposit    a desk wallet → the exchange deposit address a mint leg whose mint arrived:
                                                        *the deposit reached the exchange*
redemption a desk wallet → the redemption address or 0x0 a redeem leg requested…settled:
                                                        *the redemption left*
burn       any → 0x0                                    a redeem leg (explains supply)
incoming   any other → a desk wallet                    –
other      mints to or burns from others                –
========== ============================================ ====================================

A match is stored in the journal (``chain_events.signal_id``) and counted; the chain
confirms, it does not move a signal's state (the figures of a step come from people or the
issuer). **Supply check:** the change of ``totalSupply`` over the processed blocks minus
the mints and burns matched to journaled legs must be zero; anything else increments
``pegbot_chain_unexplained_supply_change_total`` and is logged at ERROR with the amount.
Cursor, supply and events are written in one transaction, so a restart resumes exactly.

:meth:`ChainWatcher.poll` is synchronous (web3's HTTP provider); the live loop runs it in a
thread (``asyncio.to_thread``) every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pegbot.desk.store import DeskStore
from pegbot.journal import Journal
from pegbot.logging import event_log
from pegbot.metrics import Metrics
from pegbot.peg.signals import SignalKind, SignalState
from pegbot.timeunits import NS_PER_S

__all__ = ["ERC20_ABI", "ChainConfig", "ChainEvent", "ChainWatcher", "connect"]

log = event_log(__name__)

ZERO = "0x0000000000000000000000000000000000000000"
_OPEN_LEG = (SignalState.REQUESTED, SignalState.CONFIRMED, SignalState.SETTLED)

#: The part of the ERC-20/BEP-20 ABI the watcher uses.
ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "totalSupply",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "sender", "type": "address", "indexed": True},
            {"name": "receiver", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
]


def connect(rpc_url: str, timeout_s: float = 10.0) -> Any:
    """A web3 client for ``rpc_url`` (imports web3 lazily: it is an optional extra)."""
    try:
        from web3 import HTTPProvider, Web3
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise RuntimeError("the chain watcher needs web3: pip install 'pegbot[chain]'") from exc
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """What the watcher watches.

    Attributes:
        token: The KGST contract address.
        decimals: The token's decimals (configuration: KGST's are not published).
        wallets: The desk's wallets by name (the ``wallet`` metric label).
        exchange_deposit: The exchange deposit address of the desk's account.
        redemption: The issuer's redemption address (None: redemptions burn directly).
        confirmations: Blocks on top before a block is processed.
        max_blocks: Most blocks processed per poll.
        start_block: Where a journal without a cursor starts (None: the newest block).
    """

    token: str
    decimals: int
    wallets: Mapping[str, str] = field(default_factory=dict)
    exchange_deposit: str | None = None
    redemption: str | None = None
    confirmations: int = 15
    max_blocks: int = 2_000
    start_block: int | None = None


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One classified transfer and the signal it confirmed (if any)."""

    what: str
    tx_hash: str
    log_index: int
    block: int
    sender: str
    receiver: str
    amount: Decimal
    signal_id: str | None


class ChainWatcher:
    """Follows supply and transfers (see the module docstring).

    Args:
        w3: A web3 client (:func:`connect`, or ``Web3(EthereumTesterProvider())`` in tests).
        config: What to watch.
        journal: The journal (legs to match, cursor, events).
        metrics: The bot's metrics (the ``pegbot_chain_*`` rows).
    """

    def __init__(self, w3: Any, config: ChainConfig, journal: Journal, metrics: Metrics) -> None:
        self.w3 = w3
        self.config = config
        self.journal = journal
        self.store = DeskStore(journal)
        self.metrics = metrics
        cs = w3.to_checksum_address
        self.token = w3.eth.contract(address=cs(config.token), abi=ERC20_ABI)
        self.wallets = {name: cs(a) for name, a in config.wallets.items()}
        self._desk = set(self.wallets.values())
        self._deposit = cs(config.exchange_deposit) if config.exchange_deposit else None
        self._redemption = cs(config.redemption) if config.redemption else None
        self._scale = Decimal(10) ** config.decimals

    def poll(self, now_ns: int) -> list[ChainEvent]:
        """Process the next confirmed blocks; returns the transfers seen."""
        try:
            return self._poll(now_ns)
        except Exception:
            self.metrics.chain_errors.inc()
            raise

    def _poll(self, now_ns: int) -> list[ChainEvent]:
        newest = int(self.w3.eth.block_number) - self.config.confirmations
        cursor = self.store.cursor("chain_block")
        if cursor is None:  # first run: the supply at the start is the baseline
            block = newest if self.config.start_block is None else self.config.start_block - 1
            supply = self._supply(block)
            with self.journal.transaction():
                self.store.set_cursor("chain_block", str(block))
                self.store.set_cursor("chain_supply", str(supply))
            self._export(block, supply, now_ns)
            return []
        start = int(cursor) + 1
        end = min(newest, start + self.config.max_blocks - 1)
        if end < start:
            self._export(int(cursor), Decimal(self.store.cursor("chain_supply") or 0), now_ns)
            return []
        logs = self.token.events.Transfer().get_logs(from_block=start, to_block=end)
        supply = self._supply(end)
        before = Decimal(self.store.cursor("chain_supply") or "0")
        events: list[ChainEvent] = []
        explained = Decimal(0)
        with self.journal.transaction():
            for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
                event = self._classify(entry)
                if event is None:
                    continue
                event = self._match(event, now_ns)
                events.append(event)
                if event.what == "mint" and event.signal_id is not None:
                    explained += event.amount
                if event.what in ("burn", "redemption") and event.receiver == ZERO:
                    burn = self._match_burn(event, now_ns)
                    if burn is not None:
                        explained -= event.amount
            self.store.set_cursor("chain_block", str(end))
            self.store.set_cursor("chain_supply", str(supply))
        unexplained = supply - before - explained
        if unexplained:
            self.metrics.chain_unexplained.inc()
            log.error(
                "chain_unexplained_supply",
                "KGST supply changed by %s with %s explained "
                "by journaled mints and redemptions (blocks %d-%d)",
                supply - before,
                explained,
                start,
                end,
                unexplained=str(unexplained),
                first_block=start,
                last_block=end,
            )
        self.metrics.chain_unexplained_base.set(float(unexplained))
        self._export(end, supply, now_ns)
        return events

    # -- classification and matching ----------------------------------------------------------

    def _classify(self, entry: Any) -> ChainEvent | None:
        args = entry["args"]
        sender, receiver = args["sender"], args["receiver"]
        amount = Decimal(int(args["value"])) / self._scale
        desk_from, desk_to = sender in self._desk, receiver in self._desk
        if sender == ZERO:
            what = "mint" if desk_to else "other"
        elif desk_from and receiver == self._deposit:
            what = "deposit"
        elif desk_from and receiver in (self._redemption, ZERO):
            what = "redemption"
        elif receiver == ZERO:
            what = "burn"
        elif desk_to:
            what = "incoming"
        else:
            return None
        tx = entry["transactionHash"]
        return ChainEvent(
            what,
            tx.hex() if hasattr(tx, "hex") else str(tx),
            int(entry["logIndex"]),
            int(entry["blockNumber"]),
            sender,
            receiver,
            amount,
            None,
        )

    def _match(self, event: ChainEvent, now_ns: int) -> ChainEvent:
        signal_id = None
        if event.what == "mint":
            signal_id = self._leg(True, event.amount, "mint", None)
        elif event.what == "deposit":
            signal_id = self._leg(True, event.amount, "deposit", "mint")
        elif event.what == "redemption":
            signal_id = self._leg(False, event.amount, "redemption", None)
        matched = ChainEvent(
            event.what,
            event.tx_hash,
            event.log_index,
            event.block,
            event.sender,
            event.receiver,
            event.amount,
            signal_id,
        )
        self._store(matched, now_ns)
        self.metrics.chain_transfers.labels(what=event.what).inc()
        if signal_id is not None:
            self.metrics.chain_confirmations.labels(what=event.what).inc()
            log.info(
                "chain_confirmed",
                "signal %s: %s of %s KGST in block %d",
                signal_id,
                event.what,
                event.amount,
                event.block,
                signal_id=signal_id,
                tx_hash=event.tx_hash,
            )
        return matched

    def _match_burn(self, event: ChainEvent, now_ns: int) -> str | None:
        # A redemption burnt straight from a desk wallet was matched as "redemption"; one the
        # issuer burns from its redemption address is matched here, to explain the supply.
        if event.what == "redemption" and event.signal_id is not None:
            return event.signal_id
        signal_id = self._leg(False, event.amount, "burn", None)
        if signal_id is not None:
            self.journal.conn.execute(
                "UPDATE chain_events SET signal_id = ? WHERE tx_hash = ? AND log_index = ?",
                (signal_id, event.tx_hash, event.log_index),
            )
        return signal_id

    def _leg(self, mint: bool, amount: Decimal, what: str, after: str | None) -> str | None:
        """The oldest open leg of that direction and amount not yet matched as ``what``."""
        states = [s.value for s in (*_OPEN_LEG, SignalState.DEPOSITED)]
        for record in reversed(self.store.records(states)):
            if SignalKind(record["kind"]).mints != mint:
                continue
            if self._amount(record["id"]) != amount:
                continue
            seen = {
                r[0]
                for r in self.journal.conn.execute(
                    "SELECT what FROM chain_events WHERE signal_id = ?", (record["id"],)
                )
            }
            if what in seen:
                continue
            if after is not None and after not in seen:
                continue
            return str(record["id"])
        return None

    def _amount(self, signal_id: str) -> Decimal | None:
        for step in reversed(self.store.steps(signal_id)):
            if "amount" in step.figures and step.state in (*_OPEN_LEG, SignalState.DEPOSITED):
                return Decimal(step.figures["amount"])
        return None

    def _store(self, e: ChainEvent, now_ns: int) -> None:
        self.journal.conn.execute(
            "INSERT OR IGNORE INTO chain_events (tx_hash, log_index, block, what, from_addr,"
            " to_addr, amount, signal_id, seen_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.tx_hash,
                e.log_index,
                e.block,
                e.what,
                e.sender,
                e.receiver,
                str(e.amount),
                e.signal_id,
                now_ns,
            ),
        )

    # -- reads and metrics ------------------------------------------------------------------

    def _supply(self, block: int) -> Decimal:
        raw = self.token.functions.totalSupply().call(block_identifier=max(block, 0))
        return Decimal(int(raw)) / self._scale

    def _export(self, block: int, supply: Decimal, now_ns: int) -> None:
        m = self.metrics
        m.chain_supply.set(float(supply))
        m.chain_block.set(block)
        for name, address in self.wallets.items():
            raw = self.token.functions.balanceOf(address).call(block_identifier=max(block, 0))
            m.chain_wallet_balance.labels(wallet=name).set(float(Decimal(int(raw)) / self._scale))
        m.chain_polled.set(now_ns / NS_PER_S)

    def events(self, signal_id: str) -> list[dict[str, Any]]:
        """The transfers matched to a signal, in block order."""
        rows = self.journal.conn.execute(
            "SELECT what, tx_hash, block, amount FROM chain_events WHERE signal_id = ?"
            " ORDER BY block, log_index",
            (signal_id,),
        ).fetchall()
        return [{"what": r[0], "tx_hash": r[1], "block": int(r[2]), "amount": r[3]} for r in rows]
