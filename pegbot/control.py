"""The operator's side of the kill switch: sentinel files in the control directory.

``pegbot kill`` and ``pegbot resume`` must work while the bot runs in another process (or is
not running at all), without a network port: they write small files the bot checks a few
times a second.

* ``pegbot.kill`` — a kill request. The bot halts (cancels everything and confirms it with
  the exchange), writes ``pegbot.halt`` and removes the request.
* ``pegbot.halt`` — the latch. While it exists the bot does not quote, across restarts too:
  a bot restarted by its supervisor after a kill stays down.
* ``pegbot.resume`` — a resume request: the latch is removed at once, and a running bot
  leaves ``halt`` for ``freeze`` (risk then steps down after its cooldown) and removes it.
* ``pegbot.fair-ack`` / ``pegbot.fair-reject`` — the operator's word on a jump of the fair
  value waiting for confirmation (``pegbot fair ack|reject``): trust the new level, or set
  it aside as a bad print. A running bot acts on it and removes it.

Each file holds one JSON object (reason, time) for the operator reading the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["Control"]

KILL = "pegbot.kill"
HALT = "pegbot.halt"
RESUME = "pegbot.resume"
FAIR_ACK = "pegbot.fair-ack"
FAIR_REJECT = "pegbot.fair-reject"


class Control:
    """Sentinel files of one control directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Use ``directory`` (created when a file is written)."""
        self.dir = Path(directory)

    @property
    def kill_path(self) -> Path:
        """The kill request."""
        return self.dir / KILL

    @property
    def halt_path(self) -> Path:
        """The halt latch."""
        return self.dir / HALT

    @property
    def resume_path(self) -> Path:
        """The resume request."""
        return self.dir / RESUME

    def _write(self, path: Path, body: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(body) + "\n")
        os.replace(tmp, path)  # atomic: the bot never reads half a file

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        # A file someone wrote by hand (``touch pegbot.kill``) still counts.
        return body if isinstance(body, dict) else {"reason": "operator"}

    # -- operator ---------------------------------------------------------------------------

    def request_kill(self, reason: str = "operator", now_ns: int | None = None) -> None:
        """Ask the bot to halt (``pegbot kill``)."""
        self._write(self.kill_path, {"reason": reason, "at_ns": now_ns or time.time_ns()})

    def request_resume(self, now_ns: int | None = None) -> None:
        """Lift the latch and ask a running bot to resume (``pegbot resume``)."""
        with contextlib.suppress(FileNotFoundError):
            self.kill_path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.halt_path.unlink()
        self._write(self.resume_path, {"at_ns": now_ns or time.time_ns()})

    # -- the bot ----------------------------------------------------------------------------

    def kill_requested(self) -> str | None:
        """The reason of a pending kill request, if any."""
        body = self._read(self.kill_path)
        return None if body is None else str(body.get("reason", "operator"))

    def take_kill(self) -> None:
        """Forget the kill request once acted upon (the latch is written first)."""
        with contextlib.suppress(FileNotFoundError):
            self.kill_path.unlink()

    def resume_requested(self) -> bool:
        """A resume request is pending."""
        return self.resume_path.exists()

    def take_resume(self) -> None:
        """Forget the resume request once acted upon."""
        with contextlib.suppress(FileNotFoundError):
            self.resume_path.unlink()

    def request_fair_decision(self, decision: str, by: str, now_ns: int | None = None) -> Path:
        """Ask the bot to ``ack`` or ``reject`` a pending jump of the fair value."""
        if decision not in ("ack", "reject"):
            raise ValueError(f"decision must be ack or reject, got {decision!r}")
        path = self.dir / (FAIR_ACK if decision == "ack" else FAIR_REJECT)
        self._write(path, {"by": by, "at_ns": now_ns or time.time_ns()})
        return path

    def take_fair_decision(self) -> tuple[str, str] | None:
        """A pending ``(decision, by)`` on a fair-value jump, removed as it is read."""
        for decision, name in (("reject", FAIR_REJECT), ("ack", FAIR_ACK)):
            path = self.dir / name
            body = self._read(path)
            if body is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                return decision, str(body.get("by", "operator"))
        return None

    def latch(self, reason: str, now_ns: int) -> None:
        """Write the halt latch."""
        self._write(self.halt_path, {"reason": reason, "at_ns": now_ns})

    def latched(self) -> str | None:
        """The reason of the halt latch, if it is set."""
        body = self._read(self.halt_path)
        return None if body is None else str(body.get("reason", "operator"))
