"""``modelphase serve --ssl-certfile --ssl-keyfile``: HTTPS with uvicorn's TLS."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from serve.harness import FORECASTER, Setup
from support.net import free_port


def test_the_server_speaks_https_with_the_given_certificate(
    tmp_path: Path, prepare_home: Callable[[Path], Setup], wait_for: Callable[..., Any]
) -> None:
    setup = prepare_home(tmp_path / "home")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    port = free_port()
    env = {**os.environ, "MODELPHASE_HOME": str(setup.home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelphase",
            "serve",
            "--port",
            str(port),
            "--ssl-certfile",
            str(cert_file),
            "--ssl-keyfile",
            str(key_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, verify=trusting, timeout=60.0) as client:

            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, what="the HTTPS server", timeout=60.0)
            answer = client.post(
                f"/v1/models/{FORECASTER}/forecast",
                json={"values": [1.0, 2.0, 3.0] * 10, "h": 3},
                headers={"authorization": f"Bearer {setup.viewer}"},
            )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["forecasts"][0]["mean"]) == 3
        # plain HTTP on the TLS port is refused, and so is a client that does not trust it
        # (generous timeouts: both refusals are immediate, a busy machine must not
        # turn one into a timeout that the test then misreads)
        try:
            plain = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60.0)
            assert plain.status_code >= 400
        except httpx.TransportError:
            pass
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/healthz", timeout=60.0)  # a client without the CA
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
