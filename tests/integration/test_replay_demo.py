"""pegbot replay: the bundled recording replays to its end."""

import json

from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.replay_demo import bundled_tape
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import replay
from pegbot.tape.schema import DIFF

runner = CliRunner()


def test_bundled_tape_is_a_synced_real_recording() -> None:
    reader = TapeReader(bundled_tape())
    assert reader.meta.symbol == "NEXO/USDT"
    assert reader.meta.stats["gaps"] == 0
    book, replayer, _ = replay(reader)
    assert replayer.synced
    assert not book.is_crossed


def test_replay_at_full_speed_reaches_the_end_of_the_tape_never_crossed() -> None:
    result = runner.invoke(app, ["replay", "--speed", "0", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    cols = TapeReader(bundled_tape()).read_all()
    depth_ids = cols["update_id"][cols["kind"] == DIFF]
    assert summary["rows"] == len(cols["kind"])
    assert summary["update_id"] == int(depth_ids[-1])
    assert summary["crossed_frames"] == 0
    assert summary["unsynced_frames"] == 0
    assert summary["trades"] == int((cols["kind"] == 4).sum())
    # The final top of book is the one `pegbot tape book` reports at the tape's end.
    book_out = runner.invoke(
        app,
        [
            "tape",
            "book",
            str(bundled_tape()),
            "--at",
            str(int(cols["local_ts"][-1])),
            "--depth",
            "1",
            "--json",
        ],
    )
    assert book_out.exit_code == 0, book_out.output
    top = json.loads(book_out.stdout.strip().splitlines()[-1])
    assert top["bids"][0][0] == summary["best_bid"]
    assert top["asks"][0][0] == summary["best_ask"]


def test_replay_at_real_speed_stops_at_its_duration() -> None:
    result = runner.invoke(app, ["replay", "--speed", "60", "--duration", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    cols = TapeReader(bundled_tape()).read_all()
    # 1.5 s at 60x covers about 90 s of market time: some rows, far from all.
    assert 0 < summary["level_updates"] < len(cols["kind"]) / 2
    assert summary["local_ts"] - int(cols["local_ts"][0]) <= 100 * 10**9


def test_missing_tape_is_a_usage_error() -> None:
    result = runner.invoke(app, ["replay", "--tape", "/nonexistent.parquet", "--json"])
    assert result.exit_code == 2
