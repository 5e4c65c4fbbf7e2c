"""A real Prometheus on loopback that scrapes one of the server's metrics endpoints with
a bearer token, as an operator's Prometheus would, and answers instant queries on what
it scraped::

    with Scraper(tmp_path, live.url, "/v1/capacity/metrics", token) as prometheus:
        wait_for(lambda: prometheus.query('up{job="modelphase"} == 1'), what="a scrape")
        prometheus.query("max(modelphase_capacity_recommended_replicas)")
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from support.net import free_port
from support.prometheus import find_binaries

__all__ = ["Scraper"]


class Scraper:
    """``prometheus`` scraping ``target`` + ``metrics_path`` every second (job
    ``modelphase``), the token in a file under ``workdir``; stopped on leaving."""

    def __init__(self, workdir: Path, target: str, metrics_path: str, token: str) -> None:
        self.workdir = workdir
        (workdir / "token").write_text(token + "\n")
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1h}\n"
            "scrape_configs:\n"
            "  - job_name: modelphase\n"
            f"    metrics_path: {metrics_path}\n"
            "    scrape_timeout: 1s\n"
            f"    authorization: {{credentials_file: {workdir / 'token'}}}\n"
            f"    static_configs: [{{targets: ['{target.removeprefix('http://')}']}}]\n"
        )
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Scraper:
        with (self.workdir / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    find_binaries()[0],
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def query(self, promql: str) -> list[Any]:
        """The instant query's result (empty while Prometheus is not up yet)."""
        assert self.process is not None
        assert self.process.poll() is None, (self.workdir / "prometheus.log").read_text()
        try:
            r = httpx.get(
                f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=2
            )
        except httpx.TransportError:
            return []
        return list(r.json()["data"]["result"]) if r.status_code == 200 else []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
