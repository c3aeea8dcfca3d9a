"""``pegbot kill`` / ``resume`` write the control files; ``pegbot run`` refuses bad configs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.control import Control

runner = CliRunner()


def test_kill_then_resume_through_the_control_dir(tmp_path: Path) -> None:
    ctl = Control(tmp_path)
    out = runner.invoke(app, ["kill", "--control-dir", str(tmp_path), "--reason", "fat finger"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["reason"] == "fat finger"
    assert ctl.kill_requested() == "fat finger"
    # The bot acts on it: latch first, then forget the request.
    ctl.latch("operator: fat finger", 1)
    ctl.take_kill()
    assert ctl.latched() == "operator: fat finger" and ctl.kill_requested() is None
    out = runner.invoke(app, ["resume", "--control-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert ctl.latched() is None and ctl.resume_requested()


def test_kill_reads_the_control_dir_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[loop]\ncontrol_dir = "{tmp_path / "ctl"}"\n')
    out = runner.invoke(app, ["kill", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert Control(tmp_path / "ctl").kill_requested() == "operator"


def test_a_hand_written_sentinel_counts(tmp_path: Path) -> None:
    (tmp_path / "pegbot.kill").write_text("")  # `touch pegbot.kill`
    assert Control(tmp_path).kill_requested() == "operator"


def test_run_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text("[risk]\nband_bps = 0\n")
    out = runner.invoke(app, ["run", "--config", str(cfg)])
    assert out.exit_code == 2
    assert "risk.band_bps" in out.output


def test_run_exits_2_for_live_without_ack(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text('mode = "live"\n')
    out = runner.invoke(app, ["run", "--config", str(cfg)], env={"PEGBOT_LIVE_ACK": "0"})
    assert out.exit_code == 2
    assert "--i-understand-this-is-live" in out.output


def test_help_lists_the_bot_commands() -> None:
    out = runner.invoke(app, ["--help"])
    for cmd in ("run", "demo", "kill", "resume", "replay"):
        assert cmd in out.stdout
    demo = runner.invoke(app, ["demo", "--help"])
    assert "--metrics-port" in demo.stdout and "--duration" in demo.stdout


def test_run_names_the_cause_when_the_venue_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on 127.0.0.1:1: the start fails at once; the message must say why
    # (it once read "error: " and nothing else), and the shutdown keeps to its deadline.
    import time

    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        f'''mode = "testnet"
[venues.sim]
rest_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
[peg]
sources = [{{ name = "static", kind = "static", rate = "87.45" }}]
[loop]
shutdown_timeout_s = 1.0
control_dir = "{tmp_path / "ctl"}"
[journal]
path = "{tmp_path / "journal.sqlite"}"
[metrics]
enabled = false
[logging]
format = "json"
'''
    )
    env = {"PEGBOT_VENUES__SIM__API_KEY": "k" * 64, "PEGBOT_VENUES__SIM__API_SECRET": "s" * 64}
    t0 = time.monotonic()
    out = runner.invoke(app, ["run", "--config", str(cfg)], env=env)
    assert out.exit_code == 1, out.output
    assert time.monotonic() - t0 < 10
    line = [x for x in out.stderr.splitlines() if x.startswith("error: ")][-1]
    assert len(line) > len("error: ") + 10 and "Error" in line, line
    events = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    start = [e for e in events if e.get("event") == "start_failed"]
    assert start and start[0]["message"].startswith("start of venue sim failed: ")
    assert start[0]["message"].rstrip() != "start of venue sim failed:"
