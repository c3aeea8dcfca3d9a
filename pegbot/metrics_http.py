"""The ``/metrics`` HTTP endpoint and build metadata for :mod:`pegbot.metrics`.

Kept apart from the metric catalogue: this is the only part that opens a socket or runs a
subprocess. :mod:`pegbot.metrics` re-exports everything here.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["MetricsServer", "git_sha", "start_metrics_server"]


def git_sha(start: Path | None = None) -> str:
    """Short commit of the checkout holding the package, or ``unknown`` (e.g. a wheel)."""
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else "unknown"


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP server (prometheus_client's, in a daemon thread)."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://host:port/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(
    registry: CollectorRegistry, port: int = 0, addr: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` from a daemon thread.

    Uses prometheus_client's ``start_http_server`` (a threaded WSGI server): scrapes never
    wait on the asyncio loop, so a stalled loop still shows up as a stale heartbeat instead of
    a failed scrape. Binds loopback by default; expose it through a proxy or a Prometheus
    agent, never by binding a public address on a trading host.

    Args:
        registry: What to serve (``Metrics.registry``).
        port: TCP port; 0 picks a free one (see the returned ``port``).
        addr: Address to bind.
    """
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server, thread, addr, int(server.server_port))
