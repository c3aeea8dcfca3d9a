"""Chunked tape reader: a tape file to numpy column batches, one row group at a time.

``iter_batches`` bounds memory to one row group; :func:`read_all` loads the whole tape as
contiguous numpy columns, which is what a backtest of a day wants (about 42 bytes a row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from pegbot.tape.schema import COLUMNS, NUMPY_DTYPES, TapeMeta

#: One numpy column of any dtype.
Array = NDArray[Any]
#: A batch of tape rows: column name → numpy array (all the same length).
Columns = dict[str, Array]


def _to_numpy(col: pa.ChunkedArray | pa.Array, name: str) -> Array:
    # Non-null fixed-width columns convert without a copy when they are one chunk.
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            col = col.chunk(0)
        elif col.num_chunks == 0:
            return np.empty(0, dtype=NUMPY_DTYPES[name])
        else:
            return np.concatenate([c.to_numpy(zero_copy_only=False) for c in col.chunks])
    out: Array = col.to_numpy(zero_copy_only=False)
    return out


class TapeReader:
    """Read a tape file.

    Args:
        path: A tape written by :class:`~pegbot.tape.writer.TapeWriter`.

    Raises:
        ValueError: The file is not a pegbot tape.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = pq.ParquetFile(str(self.path), memory_map=True)
        self.meta = TapeMeta.from_parquet_metadata(self._file.metadata.metadata)
        names = set(self._file.schema_arrow.names)
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{self.path}: not a tape, missing columns {missing}")

    @property
    def num_rows(self) -> int:
        """Rows in the tape."""
        return int(self._file.metadata.num_rows)

    @property
    def num_row_groups(self) -> int:
        """Row groups in the file (the unit of :meth:`iter_batches`)."""
        return int(self._file.num_row_groups)

    def iter_batches(
        self, columns: Sequence[str] | None = None, batch_rows: int | None = None
    ) -> Iterator[Columns]:
        """Yield the tape as numpy columns, one row group at a time or ``batch_rows`` rows.

        With ``batch_rows``, memory is bounded by the batch whatever the row groups' size
        (a tape written by another tool may be one row group).
        """
        names = list(columns or COLUMNS)
        if batch_rows is not None:
            for batch in self._file.iter_batches(batch_rows, columns=names, use_threads=True):
                yield {name: _to_numpy(batch.column(name), name) for name in names}
            return
        for i in range(self._file.num_row_groups):
            table = self._file.read_row_group(i, columns=names, use_threads=True)
            yield {name: _to_numpy(table.column(name), name) for name in names}

    def read_all(self, columns: Sequence[str] | None = None) -> Columns:
        """The whole tape as contiguous numpy columns."""
        names = list(columns or COLUMNS)
        table = self._file.read(columns=names, use_threads=True)
        return {name: _to_numpy(table.column(name), name) for name in names}

    def time_range(self) -> tuple[int, int]:
        """``(first, last)`` local_ts in ns from the row-group statistics, (0, 0) if empty."""
        md = self._file.metadata
        if md.num_rows == 0:
            return 0, 0
        idx = self._file.schema_arrow.get_field_index("local_ts")
        first = md.row_group(0).column(idx).statistics
        last = md.row_group(md.num_row_groups - 1).column(idx).statistics
        if first is None or last is None or not first.has_min_max:
            local = self.read_all(["local_ts"])["local_ts"]
            return int(local[0]), int(local[-1])
        return int(first.min), int(last.max)


def read_all(path: str | Path, columns: Sequence[str] | None = None) -> tuple[TapeMeta, Columns]:
    """Read a whole tape: its metadata and its numpy columns."""
    reader = TapeReader(path)
    return reader.meta, reader.read_all(columns)
