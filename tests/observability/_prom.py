"""A real Prometheus on loopback, and a small client for its HTTP API (observability tests).

``PromServer.start(tmp, targets, rule_files)`` writes a config (1 s scrape and evaluation
intervals), starts ``prometheus`` on a free 127.0.0.1 port with storage in ``tmp`` and waits for
``/-/ready``. The client methods return the ``data`` of an API answer and raise on an error
status, so tests assert on what came back.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
RULES = GRAFANA / "rules" / "pegbot_rules.yml"
RULES_TEST = GRAFANA / "rules" / "pegbot_rules_test.yml"
DASHBOARD = GRAFANA / "dashboards" / "pegbot.json"

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool") or ""  # "" when absent: the tests that run it skip

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus binary not installed (apt-get install prometheus)"
)
needs_promtool = pytest.mark.skipif(
    not PROMTOOL, reason="promtool not installed (apt-get install prometheus)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def substitute(expr: str) -> str:
    """Grafana's variables as the dashboard would send them with every value selected."""
    for var, value in (
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "1h"),
        ("$job", ".*"),
        ("$sim_job", ".*"),
        ("$venue", ".*"),
        ("$symbol", ".*"),
    ):
        expr = expr.replace(var, value)
    return expr


class PromError(RuntimeError):
    """The Prometheus API answered with an error."""


@dataclass
class PromServer:
    """A running Prometheus and its API."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        tmp: Path,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (RULES,),
        timeout: float = 20.0,
    ) -> PromServer:
        assert PROMETHEUS is not None
        scrape = [
            {"job_name": job, "static_configs": [{"targets": list(hosts)}]}
            for job, hosts in targets.items()
        ]
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": scrape,
        }
        cfg_path = tmp / "prometheus.yml"
        cfg_path.write_text(json.dumps(config))  # JSON is YAML
        port = free_port()
        log_path = tmp / "prometheus.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={cfg_path}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(proc, port, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return server
            except OSError:
                pass
            time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"prometheus not ready: {log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        if body.get("status") != "success":
            raise PromError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (raises unless the answer is a vector)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PromError(f"{expr}: result type {data['resultType']}")
        return list(data["result"])

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self.api("series", **{"match[]": match, "start": str(time.time() - 600)}))

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self.api("rules")["groups"] for r in g["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])
