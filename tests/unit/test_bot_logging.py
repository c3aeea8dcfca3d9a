"""JSON logs with the standard fields; secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pegbot.logging import REDACTED, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_standard_fields_and_context(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("json", "INFO", stream=out, context={"mode": "paper", "run_id": "abc"})
    logging.getLogger("pegbot.live.bot").warning(
        "risk %s -> %s", "normal", "freeze", extra={"event": "risk_transition", "venue": "sim"}
    )
    logging.getLogger("pegbot.live.bot").debug("not shown")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["event"] == "risk_transition"
    assert rec["message"] == "risk normal -> freeze"
    assert rec["level"] == "warning" and rec["logger"] == "pegbot.live.bot"
    assert rec["mode"] == "paper" and rec["run_id"] == "abc" and rec["venue"] == "sim"
    assert rec["ts"].endswith("Z") and len(rec["ts"]) == len("2026-01-01T00:00:00.000Z")


def test_secrets_are_redacted_in_fields_messages_and_urls(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("json", "INFO", stream=out)
    log = logging.getLogger("ccxt.base")
    log.info(
        "GET https://api.binance.com/api/v3/order?symbol=KGSTUSDT&signature=abcdef1234567890 %s",
        '{"X-MBX-APIKEY": "key1234567890"}',
        extra={"api_key": "key1234567890", "config": {"venues": {"api_secret": "zzzzzz9999"}}},
    )
    text = out.getvalue()
    assert "abcdef1234567890" not in text
    assert "key1234567890" not in text
    assert "zzzzzz9999" not in text
    rec = json.loads(text)
    assert rec["api_key"] == REDACTED
    assert rec["config"]["venues"]["api_secret"] == REDACTED
    assert "signature=" + REDACTED in rec["message"]


def test_text_format_for_terminals(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("text", "INFO", stream=out)
    logging.getLogger("pegbot").info("hello", extra={"venue": "sim"})
    line = out.getvalue().strip()
    assert "INFO" in line and "pegbot: hello" in line and "venue=sim" in line
    assert not line.startswith("{")
