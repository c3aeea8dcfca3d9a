"""The canonical recorded-book format ("tape") that the backtester and the simulator replay.

A tape is one Parquet file (zstd) of rows in local-receive-time order:

========================  =======  ==========================================================
column                    type     meaning
========================  =======  ==========================================================
``exch_ts``               int64    exchange event time, ns UTC (0 if the venue gives none)
``local_ts``              int64    local receive time, ns UTC; rows are sorted by it
``kind``                  uint8    :data:`CLEAR`, :data:`SNAPSHOT`, :data:`DIFF`, :data:`TRADE`
``side``                  int8     +1 bid / buyer-initiated trade, -1 ask / seller-initiated,
                                   0 for a clear of both sides
``price``                 int64    price in ticks of the file's ``tick_size``
``qty``                   int64    exact quantity in qty units (``10**-qty_decimals``); a
                                   depth row's qty is absolute, 0 removes the level
``first_update_id``       int64    Binance ``U`` of the diff message (snapshot rows: the
                                   snapshot's ``lastUpdateId``; trades: 0)
``update_id``             int64    Binance ``u`` of the diff message, ``lastUpdateId`` of the
                                   snapshot, or the trade id ``t``
========================  =======  ==========================================================

Replay rules: a ``CLEAR`` row empties the book and marks it unknown; the ``SNAPSHOT`` rows
that follow (same ``local_ts``) seed it; ``DIFF`` rows set absolute quantities. A converter
that finds a sequence gap writes a ``CLEAR`` and drops diffs until the next snapshot, so a
replayer never shows a book that the venue did not have.

Conventions of the Binance converter: a snapshot's ``CLEAR`` row carries its
``lastUpdateId``; a gap's ``CLEAR`` carries the ``U``/``u`` of the event that broke the chain;
diffs that were buffered while waiting for a snapshot are written right after the snapshot
rows, stamped with the snapshot's ``local_ts`` (the moment they became usable) and keeping
their own ``exch_ts``.

File metadata (Parquet key-value, all strings): see :class:`TapeMeta`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from pegbot.market import Market

FORMAT_VERSION = "1"

#: Empty the book; its content is unknown until the next snapshot rows.
CLEAR = 1
#: One level of a snapshot (absolute quantity).
SNAPSHOT = 2
#: One level of a depth diff (absolute quantity; 0 removes).
DIFF = 3
#: One public trade; ``side`` is the aggressor's.
TRADE = 4

KIND_NAMES = {CLEAR: "clear", SNAPSHOT: "snapshot", DIFF: "diff", TRADE: "trade"}

COLUMNS = (
    "exch_ts",
    "local_ts",
    "kind",
    "side",
    "price",
    "qty",
    "first_update_id",
    "update_id",
)

SCHEMA = pa.schema(
    [
        pa.field("exch_ts", pa.int64(), nullable=False),
        pa.field("local_ts", pa.int64(), nullable=False),
        pa.field("kind", pa.uint8(), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("price", pa.int64(), nullable=False),
        pa.field("qty", pa.int64(), nullable=False),
        pa.field("first_update_id", pa.int64(), nullable=False),
        pa.field("update_id", pa.int64(), nullable=False),
    ]
)

NUMPY_DTYPES = {
    "exch_ts": "int64",
    "local_ts": "int64",
    "kind": "uint8",
    "side": "int8",
    "price": "int64",
    "qty": "int64",
    "first_update_id": "int64",
    "update_id": "int64",
}


@dataclass
class TapeMeta:
    """What a tape says about itself, stored in the Parquet key-value metadata.

    ``stats`` holds the converter's counts (gaps, skipped lines by reason, resyncs, ...), so
    ``pegbot tape info`` can show what was dropped and why without the original input.
    """

    exchange: str
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    qty_decimals: int = 8
    source: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    format_version: str = FORMAT_VERSION

    def market(self) -> Market:
        """A :class:`Market` with this tape's grid (fees and limits at their defaults)."""
        base, _, quote = self.symbol.partition("/")
        return Market(
            symbol=self.symbol,
            base=base or self.symbol,
            quote=quote or "",
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            qty_decimals=self.qty_decimals,
        )

    def to_parquet_metadata(self) -> dict[bytes, bytes]:
        """Encode for ``pyarrow.Schema.with_metadata``."""
        raw = asdict(self)
        raw["tick_size"] = str(self.tick_size)
        raw["lot_size"] = str(self.lot_size)
        raw["qty_decimals"] = str(self.qty_decimals)
        raw["stats"] = json.dumps(self.stats, sort_keys=True)
        return {f"pegbot.{k}".encode(): str(v).encode() for k, v in raw.items()}

    @classmethod
    def from_parquet_metadata(cls, metadata: dict[bytes, bytes] | None) -> TapeMeta:
        """Decode; raises ``ValueError`` if the file is not a pegbot tape."""
        meta = {
            k.decode()[len("pegbot.") :]: v.decode()
            for k, v in (metadata or {}).items()
            if k.startswith(b"pegbot.")
        }
        if "symbol" not in meta or "tick_size" not in meta:
            raise ValueError("not a pegbot tape: the file has no pegbot metadata")
        return cls(
            exchange=meta.get("exchange", ""),
            symbol=meta["symbol"],
            tick_size=Decimal(meta["tick_size"]),
            lot_size=Decimal(meta.get("lot_size", "1")),
            qty_decimals=int(meta.get("qty_decimals", "8")),
            source=meta.get("source", ""),
            stats=json.loads(meta.get("stats", "{}")),
            format_version=meta.get("format_version", FORMAT_VERSION),
        )
